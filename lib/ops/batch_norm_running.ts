/**
 * The running averages a training-mode batch norm keeps for inference,
 * PyTorch's rule: `running = (1 - momentum) * running + momentum * batch`,
 * the batch variance made unbiased (`* n / (n - 1)`, `n` values per channel)
 * first. A backend that registers {@linkcode BN_RUNNING_KERNEL} updates both
 * averages in one kernel, where the plain tfjs ops below take seven; one
 * that registers {@linkcode BN_RUNNING_ALL_KERNEL} updates every batch norm
 * of a model's forward pass in one call ({@linkcode batchNormRunningUpdateAll}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { onBackend } from "./kernel_dispatch.ts";

/**
 * Kernel: inputs `{runningMean, runningVar, mean, variance}` (`[C]`
 * float32), attrs {@linkcode BatchNormRunningAttrs} -> `[runningMean,
 * runningVar]` updated, in the reference's order of float32 operations.
 */
export const BN_RUNNING_KERNEL = "BatchNormRunningUpdate";

/**
 * Kernel: inputs `{rm0, rv0, m0, v0, rm1, ...}` (each batch norm's
 * running mean and variance, batch mean and variance), attrs `{momentum,
 * counts}` (`counts[i]` the values per channel of batch norm `i`) ->
 * `[rm0, rv0, rm1, rv1, ...]` updated as {@linkcode BN_RUNNING_KERNEL}'s.
 */
export const BN_RUNNING_ALL_KERNEL = "BatchNormRunningUpdateAll";

/** The update's constants. */
export interface BatchNormRunningAttrs {
  /** Weight of the batch statistics (PyTorch's `momentum`, 0.1). */
  momentum: number;
  /** Values per channel the batch statistics came from (`N*H*W`). */
  count: number;
}

/**
 * The updated `[runningMean, runningVar]` (new tensors).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { batchNormRunningUpdate } from "./batch_norm_running.ts";
 * await tf.setBackend("cpu");
 * const [m, v] = batchNormRunningUpdate(tf.tensor1d([0]), tf.tensor1d([1]), tf.tensor1d([2]), tf.tensor1d([4]), {
 *   momentum: 0.5,
 *   count: 2,
 * });
 * // mean 0.5 * 0 + 0.5 * 2; variance 0.5 * 1 + 0.5 * (4 * 2 / 1)
 * assert.deepEqual([m.dataSync()[0], v.dataSync()[0]], [1, 4.5]);
 * ```
 */
export function batchNormRunningUpdate(
  runningMean: tf.Tensor1D,
  runningVar: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  attrs: BatchNormRunningAttrs,
): [tf.Tensor1D, tf.Tensor1D] {
  if (onBackend(BN_RUNNING_KERNEL)) {
    return tf.engine().runKernel(
      BN_RUNNING_KERNEL,
      { runningMean, runningVar, mean, variance },
      attrs as unknown as tf.NamedAttrMap,
    ) as [tf.Tensor1D, tf.Tensor1D];
  }
  return tf.tidy(() => {
    const m = attrs.momentum, n = attrs.count;
    const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
    return [
      tf.add(tf.mul(runningMean, 1 - m), tf.mul(mean, m)),
      tf.add(tf.mul(runningVar, 1 - m), tf.mul(unbiased, m)),
    ];
  });
}

/** One batch norm's statistics, for {@linkcode batchNormRunningUpdateAll}. */
export interface RunningUpdate {
  runningMean: tf.Tensor1D;
  runningVar: tf.Tensor1D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  /** Values per channel the batch statistics came from (`N*H*W`). */
  count: number;
}

/**
 * {@linkcode batchNormRunningUpdate} of several batch norms: one
 * {@linkcode BN_RUNNING_ALL_KERNEL} call where the backend has it, else one
 * update each. Returns each one's `[runningMean, runningVar]`, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { batchNormRunningUpdateAll } from "./batch_norm_running.ts";
 * await tf.setBackend("cpu");
 * const [[m0], [, v1]] = batchNormRunningUpdateAll([
 *   { runningMean: tf.tensor1d([0]), runningVar: tf.tensor1d([1]), mean: tf.tensor1d([2]), variance: tf.tensor1d([4]), count: 2 },
 *   { runningMean: tf.tensor1d([0]), runningVar: tf.tensor1d([0]), mean: tf.tensor1d([0]), variance: tf.tensor1d([3]), count: 4 },
 * ], 0.5);
 * assert.equal(m0.dataSync()[0], 1);
 * assert.equal(v1.dataSync()[0], 2); // 0.5 * 3 * 4 / 3
 * ```
 */
export function batchNormRunningUpdateAll(
  updates: readonly RunningUpdate[],
  momentum: number,
): [tf.Tensor1D, tf.Tensor1D][] {
  if (updates.length > 0 && onBackend(BN_RUNNING_ALL_KERNEL)) {
    const inputs: tf.NamedTensorMap = {};
    updates.forEach((u, i) => {
      Object.assign(inputs, {
        [`rm${i}`]: u.runningMean,
        [`rv${i}`]: u.runningVar,
        [`m${i}`]: u.mean,
        [`v${i}`]: u.variance,
      });
    });
    const counts = updates.map((u) => u.count);
    const out = tf.engine().runKernel(
      BN_RUNNING_ALL_KERNEL,
      inputs,
      { momentum, counts } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor1D[];
    return updates.map((_, i) => [out[2 * i], out[2 * i + 1]]);
  }
  return updates.map((u) =>
    batchNormRunningUpdate(u.runningMean, u.runningVar, u.mean, u.variance, { momentum, count: u.count })
  );
}

/**
 * The running averages a training-mode batch norm keeps for inference,
 * PyTorch's rule: `running = (1 - momentum) * running + momentum * batch`,
 * the batch variance made unbiased (`* n / (n - 1)`, `n` values per channel)
 * first. A backend that registers {@linkcode BN_RUNNING_KERNEL} updates both
 * averages in one kernel, where the plain tfjs ops below take seven.
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

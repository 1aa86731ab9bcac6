/**
 * Training-mode batch norm as one differentiable op with its own gradient.
 * A backend that registers {@linkcode BN_TRAIN_KERNEL} and
 * {@linkcode BN_TRAIN_GRAD_KERNEL} runs it as two fused kernels (forward,
 * backward) instead of the ~10 forward and ~20 backward elementwise ops tfjs
 * records for `tf.moments` + `tf.batchNorm`; elsewhere it runs the same
 * maths as plain tfjs ops (still with the closed-form gradient), which are
 * also the reference the kernels are tested against.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend } from "./kernel_dispatch.ts";

/**
 * Kernel: inputs `{x, gamma, beta}` (`x` NHWC float32, the others `[C]`),
 * attrs `{epsilon, relu}` -> `[y, mean, variance]` or
 * `[y, mean, variance, mask]`: `y` clamped at zero when `relu`, the biased
 * batch variance, and optionally an opaque ReLU mask of the backend's own
 * making, which the op hands back to {@linkcode BN_TRAIN_GRAD_KERNEL}.
 */
export const BN_TRAIN_KERNEL = "BatchNormTrain";
/**
 * Kernel: inputs `{dy, x, gamma, mean, variance}`, plus `mask` when the
 * forward pass had `relu` (the forward kernel's mask, or its output `y`
 * when it gave none), attr `epsilon` -> `[dx, dgamma, dbeta]`.
 */
export const BN_TRAIN_GRAD_KERNEL = "BatchNormTrainGrad";

/** Output of {@linkcode batchNormTrain}. */
export interface BatchNormTrainResult {
  /** Normalised, scaled and shifted input, same shape as `x`. */
  y: tf.Tensor4D;
  /** Per-channel batch mean `[C]` (not differentiated). */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance `[C]` (not differentiated). */
  variance: tf.Tensor1D;
}

const AXES = [0, 1, 2];

/**
 * PyTorch's training-mode `BatchNorm2d` on NHWC `x` `[N, H, W, C]`: batch
 * statistics over `[N, H, W]`, biased variance in the normalisation,
 * `y = (x - mean) / sqrt(var + eps) * gamma + beta`, then `max(y, 0)` when
 * `relu` is set (no separate ReLU pass forward or backward where the kernels
 * fuse it). Gradients flow to `x`, `gamma` and `beta` (through the
 * statistics too); `mean` and `variance` are returned for the running
 * averages (the caller makes the variance unbiased with `n / (n - 1)`,
 * `n = N*H*W`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { batchNormTrain } from "./batch_norm_train.ts";
 * await tf.setBackend("cpu");
 * const { y, mean, variance } = batchNormTrain(
 *   tf.tensor4d([1, 3], [2, 1, 1, 1]), tf.ones([1]), tf.zeros([1]), 0);
 * assert.deepEqual([mean.dataSync()[0], variance.dataSync()[0]], [2, 1]);
 * assert.deepEqual([...y.dataSync()], [-1, 1]);
 * tf.dispose([y, mean, variance]);
 * ```
 */
export function batchNormTrain(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps = 1e-5,
  relu = false,
): BatchNormTrainResult {
  const fused = onBackend(BN_TRAIN_KERNEL);
  // The statistics leave the custom-gradient scope as kept tensors and are
  // re-owned below, so that the caller's tidy tracks them.
  let stats: tf.Tensor1D[] = [];
  // customGrad passes the inputs then the save function, untyped.
  const op = tf.customGrad(
    ((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xIn, gIn, bIn] = args as tf.Tensor[];
      const save = args[3] as tf.GradSaveFunc;
      // mask: the kernel's opaque ReLU mask, or the output itself.
      const [y, mean, variance, mask] = fused
        ? tf.engine().runKernel(
          BN_TRAIN_KERNEL,
          { x: xIn, gamma: gIn, beta: bIn },
          { epsilon: eps, relu },
        ) as tf.Tensor[]
        : forwardOps(xIn, gIn, bIn, eps, relu);
      save(relu ? [xIn, gIn, mean, variance, mask ?? y] : [xIn, gIn, mean, variance]);
      stats = [tf.keep(mean.clone()), tf.keep(variance.clone())] as tf.Tensor1D[];
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, gs, ms, vs, masked] = saved;
          if (fused) {
            const inputs: tf.NamedTensorMap = { dy, x: xs, gamma: gs, mean: ms, variance: vs };
            if (masked) inputs.mask = masked;
            return tf.engine().runKernel(BN_TRAIN_GRAD_KERNEL, inputs, { epsilon: eps }) as tf.Tensor[];
          }
          return backwardOps(dy, xs, [gs, ms, vs], eps, masked);
        },
      };
    }) as Parameters<typeof tf.customGrad>[0],
  );
  const y = op(x, gamma, beta) as tf.Tensor4D;
  const [mean, variance] = stats.map((t) => {
    const owned = t.clone();
    t.dispose();
    return owned;
  });
  return { y, mean, variance };
}

function forwardOps(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  relu: boolean,
): tf.Tensor[] {
  return tf.tidy(() => {
    const mean = tf.mean(x, AXES);
    const variance = tf.mean(tf.square(tf.sub(x, mean)), AXES);
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
    const y = tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(mean, scale)));
    return [relu ? tf.relu(y) : y, mean, variance];
  });
}

function backwardOps(
  dy: tf.Tensor,
  x: tf.Tensor,
  [gamma, mean, variance]: tf.Tensor[],
  eps: number,
  reluOut?: tf.Tensor,
): tf.Tensor[] {
  return tf.tidy(() => {
    if (reluOut) dy = tf.mul(dy, tf.step(reluOut));
    const m = x.size / x.shape[3]!;
    const invStd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(tf.sub(x, mean), invStd);
    const dbeta = tf.sum(dy, AXES);
    const dgamma = tf.sum(tf.mul(dy, xhat), AXES);
    const dx = tf.mul(
      tf.mul(gamma, invStd),
      tf.sub(
        tf.sub(dy, tf.div(dbeta, m)),
        tf.mul(xhat, tf.div(dgamma, m)),
      ),
    );
    return [dx, dgamma, dbeta];
  });
}

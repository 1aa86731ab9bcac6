/**
 * Training-mode batch norm as one differentiable op with its own gradient:
 * on the `native` backend it runs two fused kernels (forward, backward)
 * instead of the ~10 forward and ~20 backward elementwise ops tfjs records
 * for `tf.moments` + `tf.batchNorm`; on any other backend it runs the same
 * maths as plain tfjs ops (still with the fused closed-form gradient).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from "./batch_norm_kernels.ts";

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
 * `relu` is set (one fused op: no separate ReLU pass forward or backward on
 * `native`). Gradients flow to `x`,
 * `gamma` and `beta` (through the statistics too); `mean` and `variance` are
 * returned for the running averages (the caller makes the variance unbiased
 * with `n / (n - 1)`, `n = N*H*W`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { batchNormTrain } from "./batch_norm_train.ts";
 * await tf.setBackend("cpu");
 * const { y, mean, variance } = batchNormTrain(
 *   tf.tensor4d([1, 3], [2, 1, 1, 1]), tf.ones([1]), tf.zeros([1]), 1e-5);
 * console.log(mean.dataSync()[0], variance.dataSync()[0]); // 2 1
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
  const native = tf.getKernel(BN_TRAIN_KERNEL, tf.getBackend()) !== undefined;
  // The statistics leave the custom-gradient scope as kept tensors and are
  // re-owned below, so that the caller's tidy tracks them.
  let stats: tf.Tensor1D[] = [];
  // customGrad passes the inputs then the save function, untyped.
  const op = tf.customGrad(
    ((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [xIn, gIn, bIn] = args as tf.Tensor[];
      const save = args[3] as tf.GradSaveFunc;
      // mask: the native kernels' opaque ReLU mask, or the output itself.
      const [y, mean, variance, mask] = native
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
          if (native) {
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

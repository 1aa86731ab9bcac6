/**
 * Mean squared error as one differentiable op, PyTorch's
 * `F.mse_loss(pred, target)` (reduction `mean`). A backend that registers
 * {@linkcode MSE_KERNEL} and {@linkcode MSE_GRAD_KERNEL} runs it as one
 * kernel each way, where tfjs records `squaredDifference` and `mean` forward
 * and some eight ops backward; elsewhere it is those plain ops
 * ({@linkcode mseLossReference}), also the kernels' test reference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend, registerGradientOnce } from "./kernel_dispatch.ts";

/** Kernel: inputs `{pred, target}` (float32, one shape) -> scalar `mean((pred - target)^2)`. */
export const MSE_KERNEL = "MseLoss";
/** Kernel: inputs `{dy, pred, target}` (`dy` scalar) -> `[dpred, dtarget]`. */
export const MSE_GRAD_KERNEL = "MseLossGrad";

/**
 * `mean((pred - target)^2)` over every element, differentiable in both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { mseLoss } from "./mse_loss.ts";
 * await tf.setBackend("cpu");
 * assert.equal(mseLoss(tf.tensor2d([[1], [3]]), tf.tensor2d([[0], [1]])).dataSync()[0], 2.5); // (1 + 4) / 2
 * ```
 */
export function mseLoss(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  if (
    !onBackend(MSE_KERNEL) || pred.dtype !== "float32" || target.dtype !== "float32" ||
    !tf.util.arraysEqual(pred.shape, target.shape)
  ) {
    return mseLossReference(pred, target);
  }
  registerGradientOnce(GRADIENT);
  return tf.engine().runKernel(MSE_KERNEL, { pred, target }) as tf.Scalar;
}

/**
 * {@linkcode mseLoss} in plain tfjs ops (`squaredDifference`, `mean`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { mseLossReference } from "./mse_loss.ts";
 * await tf.setBackend("cpu");
 * assert.equal(mseLossReference(tf.tensor1d([2]), tf.tensor1d([0])).dataSync()[0], 4);
 * ```
 */
export function mseLossReference(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(pred, target)) as tf.Scalar);
}

/** The gradient of {@linkcode MSE_KERNEL}, registered on first use. */
const GRADIENT: tf.GradConfig = {
  kernelName: MSE_KERNEL,
  inputsToSave: ["pred", "target"],
  gradFunc: (dy, [pred, target]) => {
    const d = dy as tf.Scalar;
    const [dp, dt] = onBackend(MSE_GRAD_KERNEL)
      ? tf.engine().runKernel(MSE_GRAD_KERNEL, { dy: d, pred, target }) as tf.Tensor[]
      : tf.tidy(() => {
        const g = tf.mul(tf.sub(pred, target), tf.mul(d, 2 / Math.max(pred.size, 1)));
        return [g, tf.neg(g)];
      });
    return { pred: () => dp, target: () => dt };
  },
};

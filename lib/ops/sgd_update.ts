/**
 * One step of SGD with momentum for one parameter, PyTorch's
 * `torch.optim.SGD` (dampening 0, no Nesterov, coupled weight decay):
 *
 *     d = g + weightDecay * p;  buf = momentum * buf + d;  p = p - lr * buf
 *
 * A backend that registers {@linkcode SGD_MOMENTUM_KERNEL} runs it as one
 * kernel, where the plain tfjs ops below take six a parameter (ResNet20 has
 * 65 parameters). The learning rate is a tensor input, not an attribute, so
 * it can change between steps without anything recorded being stale.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { onBackend } from "./relu_grad.ts";

/**
 * Kernel: inputs `{param, grad, buffer, lr}` (float32, `lr` a scalar), attrs
 * `{momentum, weightDecay}` -> `[param, buffer]` updated, each rounded to
 * float32 after every operation as PyTorch's CPU kernels round.
 */
export const SGD_MOMENTUM_KERNEL = "SgdMomentum";

/** Hyper-parameters of {@linkcode sgdMomentumStep} other than the learning rate. */
export interface SgdMomentumAttrs {
  momentum: number;
  weightDecay: number;
}

/**
 * The updated `[param, buffer]` (new tensors; the inputs are unchanged).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { sgdMomentumStep } from "./sgd_update.ts";
 * await tf.setBackend("cpu");
 * const [p, buf] = sgdMomentumStep(tf.tensor([1]), tf.tensor([2]), tf.tensor([1]), tf.scalar(0.5), {
 *   momentum: 0.5,
 *   weightDecay: 0,
 * });
 * assert.deepEqual([p.dataSync()[0], buf.dataSync()[0]], [-0.25, 2.5]);
 * ```
 */
export function sgdMomentumStep(
  param: tf.Tensor,
  grad: tf.Tensor,
  buffer: tf.Tensor,
  lr: tf.Scalar,
  attrs: SgdMomentumAttrs,
): [tf.Tensor, tf.Tensor] {
  if (onBackend(SGD_MOMENTUM_KERNEL)) {
    return tf.engine().runKernel(
      SGD_MOMENTUM_KERNEL,
      { param, grad, buffer, lr },
      attrs as unknown as tf.NamedAttrMap,
    ) as [tf.Tensor, tf.Tensor];
  }
  return tf.tidy(() => {
    const d = tf.add(grad, tf.mul(tf.scalar(attrs.weightDecay), param));
    const buf = tf.add(tf.mul(tf.scalar(attrs.momentum), buffer), d);
    return [tf.sub(param, tf.mul(lr, buf)), buf];
  });
}

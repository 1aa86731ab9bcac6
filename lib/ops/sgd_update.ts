/**
 * One step of SGD with momentum for one parameter, PyTorch's
 * `torch.optim.SGD` (dampening 0, no Nesterov, coupled weight decay):
 *
 *     d = g + weightDecay * p;  buf = momentum * buf + d;  p = p - lr * buf
 *
 * A backend that registers {@linkcode SGD_MOMENTUM_KERNEL} runs it as one
 * kernel, where the plain tfjs ops below take six a parameter (ResNet20 has
 * 65 parameters); one that registers {@linkcode SGD_MOMENTUM_ALL_KERNEL}
 * updates every parameter in one kernel ({@linkcode sgdMomentumStepAll}). The learning rate is a tensor input, not an attribute, so
 * it can change between steps without anything recorded being stale.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { onBackend } from "./kernel_dispatch.ts";

/**
 * Kernel: inputs `{param, grad, buffer, lr}` (float32, `lr` a scalar), attrs
 * `{momentum, weightDecay}` -> `[param, buffer]` updated, each rounded to
 * float32 after every operation as PyTorch's CPU kernels round.
 */
export const SGD_MOMENTUM_KERNEL = "SgdMomentum";

/**
 * Kernel: inputs `{p0, g0, b0, p1, g1, b1, ..., lr}`, attrs as
 * {@linkcode SGD_MOMENTUM_KERNEL}'s -> `[p0..pk-1, b0..bk-1]` updated.
 */
export const SGD_MOMENTUM_ALL_KERNEL = "SgdMomentumAll";

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

/**
 * {@linkcode sgdMomentumStep} for every parameter at once: one
 * {@linkcode SGD_MOMENTUM_ALL_KERNEL} call where the backend has it, else
 * one {@linkcode sgdMomentumStep} per parameter. Returns the new params and
 * buffers, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { sgdMomentumStepAll } from "./sgd_update.ts";
 * await tf.setBackend("cpu");
 * const { params, buffers } = sgdMomentumStepAll([tf.tensor([1]), tf.tensor([2])], [tf.tensor([2]), tf.tensor([4])],
 *   [tf.tensor([0]), tf.tensor([0])], tf.scalar(0.5), { momentum: 0.9, weightDecay: 0 });
 * assert.deepEqual([params[0].dataSync()[0], params[1].dataSync()[0]], [0, 0]);
 * assert.deepEqual([buffers[0].dataSync()[0], buffers[1].dataSync()[0]], [2, 4]);
 * ```
 */
export function sgdMomentumStepAll(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  buffers: tf.Tensor[],
  lr: tf.Scalar,
  attrs: SgdMomentumAttrs,
): { params: tf.Tensor[]; buffers: tf.Tensor[] } {
  const k = params.length;
  if (grads.length !== k || buffers.length !== k) {
    throw new RangeError(
      `SGD needs one gradient and one buffer per parameter: got ${k} parameters, ${grads.length} gradients, ${buffers.length} buffers`,
    );
  }
  if (k > 0 && onBackend(SGD_MOMENTUM_ALL_KERNEL)) {
    const inputs: tf.NamedTensorMap = { lr };
    for (let i = 0; i < k; i++) {
      inputs[`p${i}`] = params[i];
      inputs[`g${i}`] = grads[i];
      inputs[`b${i}`] = buffers[i];
    }
    const out = tf.engine().runKernel(
      SGD_MOMENTUM_ALL_KERNEL,
      inputs,
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    return { params: out.slice(0, k), buffers: out.slice(k) };
  }
  const steps = params.map((p, i) => sgdMomentumStep(p, grads[i], buffers[i], lr, attrs));
  return { params: steps.map((s) => s[0]), buffers: steps.map((s) => s[1]) };
}

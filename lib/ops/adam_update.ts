/**
 * One Adam step for a list of parameters, PyTorch's `torch.optim.Adam`
 * (`amsgrad=False`, no weight decay) in its order of float32 operations:
 *
 *     m = beta1 * m + (1 - beta1) * g
 *     v = beta2 * v + (1 - beta2) * g * g
 *     p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * with the bias corrections in float64 on the host, as PyTorch computes them
 * in Python. A backend that registers {@linkcode ADAM_KERNEL} updates every
 * parameter in one kernel (PyTorch's `foreach`/fused Adam idea), where the
 * plain tfjs ops below take about ten a parameter and tfjs's own
 * `tf.train.adam` some fifteen.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { onBackend } from "./kernel_dispatch.ts";

/**
 * Kernel: inputs `{p0, g0, m0, v0, p1, g1, ...}` (float32; each `g`, `m`, `v`
 * of its `p`'s shape), attrs {@linkcode AdamAttrs} -> the new
 * `[p0..pk-1, m0..mk-1, v0..vk-1]`.
 */
export const ADAM_KERNEL = "AdamUpdate";

/** Adam's hyper-parameters and the step number. */
export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** The step being taken, counting from 1 (the bias corrections' exponent). */
  step: number;
}

/** Parameters and moments after a step (new tensors). */
export interface AdamState {
  params: tf.Tensor[];
  m: tf.Tensor[];
  v: tf.Tensor[];
}

/**
 * The host-side scalars of step `attrs.step`, in float64 as PyTorch's
 * Python code computes them: `stepSize = lr / (1 - beta1^t)` and
 * `correction2Sqrt = sqrt(1 - beta2^t)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamScalars } from "./adam_update.ts";
 * const { stepSize, correction2Sqrt } = adamScalars({ lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1 });
 * assert.ok(Math.abs(stepSize - 0.1) < 1e-12); // 0.01 / (1 - 0.9)
 * assert.ok(Math.abs(correction2Sqrt - Math.sqrt(0.001)) < 1e-12);
 * ```
 */
export function adamScalars(attrs: AdamAttrs): { stepSize: number; correction2Sqrt: number } {
  if (!(Number.isInteger(attrs.step) && attrs.step >= 1)) {
    throw new RangeError(`Adam step must be an integer from 1, got ${attrs.step}`);
  }
  return {
    stepSize: attrs.lr / (1 - attrs.beta1 ** attrs.step),
    correction2Sqrt: Math.sqrt(1 - attrs.beta2 ** attrs.step),
  };
}

/**
 * One Adam step of every parameter: `params[i]` with gradient `grads[i]` and
 * moments `m[i]`, `v[i]`. Returns new tensors; the inputs are unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { adamUpdate } from "./adam_update.ts";
 * await tf.setBackend("cpu");
 * const r = adamUpdate([tf.tensor1d([1])], [tf.tensor1d([0.5])], [tf.zeros([1])], [tf.zeros([1])], {
 *   lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1,
 * });
 * // The first step moves each parameter by about lr against its gradient's sign.
 * assert.ok(Math.abs(r.params[0].dataSync()[0] - 0.9) < 1e-6);
 * ```
 */
export function adamUpdate(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  m: tf.Tensor[],
  v: tf.Tensor[],
  attrs: AdamAttrs,
): AdamState {
  const k = params.length;
  if (grads.length !== k || m.length !== k || v.length !== k) {
    throw new RangeError(
      `Adam needs one gradient and two moments per parameter: got ${k} parameters, ` +
        `${grads.length} gradients, ${m.length} and ${v.length} moments`,
    );
  }
  adamScalars(attrs); // validates the step
  if (k > 0 && onBackend(ADAM_KERNEL) && [params, grads, m, v].flat().every((t) => t.dtype === "float32")) {
    const inputs: tf.NamedTensorMap = {};
    for (let i = 0; i < k; i++) {
      inputs[`p${i}`] = params[i];
      inputs[`g${i}`] = grads[i];
      inputs[`m${i}`] = m[i];
      inputs[`v${i}`] = v[i];
    }
    const out = tf.engine().runKernel(
      ADAM_KERNEL,
      inputs,
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    return { params: out.slice(0, k), m: out.slice(k, 2 * k), v: out.slice(2 * k) };
  }
  return adamUpdateReference(params, grads, m, v, attrs);
}

/**
 * {@linkcode adamUpdate} in plain tfjs ops, PyTorch's order of operations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { adamUpdateReference } from "./adam_update.ts";
 * await tf.setBackend("cpu");
 * const r = adamUpdateReference([tf.tensor1d([1])], [tf.tensor1d([-2])], [tf.zeros([1])], [tf.zeros([1])], {
 *   lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1,
 * });
 * assert.ok(Math.abs(r.params[0].dataSync()[0] - 1.1) < 1e-6);
 * ```
 */
export function adamUpdateReference(
  params: tf.Tensor[],
  grads: tf.Tensor[],
  m: tf.Tensor[],
  v: tf.Tensor[],
  attrs: AdamAttrs,
): AdamState {
  const { stepSize, correction2Sqrt } = adamScalars(attrs);
  const k = params.length;
  // Returned from the tidy: the caller's scope tracks them, as kernel outputs.
  const out = tf.tidy(() => {
    const ps: tf.Tensor[] = [], ms: tf.Tensor[] = [], vs: tf.Tensor[] = [];
    for (let i = 0; i < k; i++) {
      const g = grads[i];
      const mi = tf.add(tf.mul(m[i], attrs.beta1), tf.mul(g, 1 - attrs.beta1));
      const vi = tf.add(tf.mul(v[i], attrs.beta2), tf.mul(tf.mul(g, 1 - attrs.beta2), g));
      const denom = tf.add(tf.div(tf.sqrt(vi), correction2Sqrt), attrs.epsilon);
      ps.push(tf.add(params[i], tf.div(tf.mul(mi, -stepSize), denom)));
      ms.push(mi);
      vs.push(vi);
    }
    return [...ps, ...ms, ...vs];
  });
  return { params: out.slice(0, k), m: out.slice(k, 2 * k), v: out.slice(2 * k) };
}

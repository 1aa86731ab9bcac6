/**
 * ReLU's gradient as one kernel: `dy` where `x > 0`, else 0, where tfjs's
 * own gradient takes two (`step(x)`, then a multiply) and keeps a mask
 * tensor. A backend that registers {@linkcode RELU_GRAD_KERNEL} gets it for
 * every `tf.relu` (19 in ResNet20) once {@linkcode fuseReluGradient} has run;
 * others keep tfjs's gradient.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend } from "./kernel_dispatch.ts";

/** Kernel: inputs `{dy, x}` -> `dy` where `x > 0`, else 0 (NaN `x`: NaN). */
export const RELU_GRAD_KERNEL = "ReluGradFused";

/**
 * `dy * step(x)`: one {@linkcode RELU_GRAD_KERNEL} call where the backend
 * has it, else tfjs's ops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { reluGrad } from "./relu_grad.ts";
 * await tf.setBackend("cpu");
 * assert.deepEqual([...reluGrad(tf.tensor([5, 6]), tf.tensor([-1, 2])).dataSync()], [0, 6]);
 * ```
 */
export function reluGrad<T extends tf.Tensor>(dy: T, x: T): T {
  if (onBackend(RELU_GRAD_KERNEL) && x.dtype === "float32" && tf.util.arraysEqual(x.shape, dy.shape)) {
    return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x }) as T;
  }
  return tf.mul(dy, tf.step(x)) as T;
}

let fused = false;

/**
 * Replaces tfjs's global `Relu` gradient by {@linkcode reluGrad} (which
 * falls back to tfjs's own on backends without the kernel). Idempotent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { fuseReluGradient } from "./relu_grad.ts";
 * fuseReluGradient();
 * await tf.setBackend("cpu");
 * assert.deepEqual([...tf.grad((x) => tf.relu(x))(tf.tensor([-1, 2])).dataSync()], [0, 1]);
 * ```
 */
export function fuseReluGradient(): void {
  if (fused) return;
  const original = tf.getGradient(tf.Relu);
  if (!original) throw new Error("tfjs's Relu gradient is not registered: import ops/gradients.ts first");
  tf.unregisterGradient(tf.Relu);
  tf.registerGradient({
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0];
      const d = dy as tf.Tensor;
      if (!onBackend(RELU_GRAD_KERNEL) || x.dtype !== "float32" || d.dtype !== "float32") {
        return original.gradFunc(dy, saved, attrs);
      }
      return { x: () => reluGrad(d, x) };
    },
  });
  fused = true;
}

/**
 * A fully connected layer as one differentiable op, `x w + b` and optionally
 * the ReLU after it (`nn.Linear` + `nn.ReLU`). A backend that registers
 * {@linkcode LINEAR_KERNEL} and {@linkcode LINEAR_GRAD_KERNEL} runs it as one
 * kernel each way, where tfjs records three ops forward (`matMul`, `add`,
 * `relu`) and some eight backward (Lab 1's 64-wide MLP spends its time in
 * tfjs's per-op bookkeeping, not in arithmetic); elsewhere it is those plain
 * ops ({@linkcode linearReference}), which are also the reference the
 * kernels are tested against.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend, registerGradientOnce } from "./kernel_dispatch.ts";

/** Kernel: inputs `{x [m, k], w [k, n], b [n]}` (float32), attr `relu` -> `y [m, n]`. */
export const LINEAR_KERNEL = "LinearFused";
/**
 * Kernel: inputs `{dy [m, n], x, w, y}` (`y` the forward's output, whose sign
 * is the ReLU's mask), attr `relu` -> `[dx [m, k], dw [k, n], db [n]]`.
 */
export const LINEAR_GRAD_KERNEL = "LinearFusedGrad";

/** Options for {@linkcode linear}. */
export interface LinearOptions {
  /** Apply `max(y, 0)` to the output. @default {false} */
  relu?: boolean;
}

/**
 * `x w + b` (`x [m, k]`, `w [k, n]`, `b [n]`), then `max(., 0)` with
 * `relu`; differentiable in all three inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { linear } from "./linear.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor2d([[1, 2]]), w = tf.tensor2d([[1, -1], [1, -1]]), b = tf.tensor1d([0.5, 0.5]);
 * assert.deepEqual([...linear(x, w, b).dataSync()], [3.5, -2.5]);
 * assert.deepEqual([...linear(x, w, b, { relu: true }).dataSync()], [3.5, 0]);
 * ```
 */
export function linear(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  options: LinearOptions = {},
): tf.Tensor2D {
  const relu = options.relu ?? false;
  if (!onBackend(LINEAR_KERNEL) || ![x, w, b].every((t) => t.dtype === "float32")) {
    return linearReference(x, w, b, relu);
  }
  registerGradientOnce(GRADIENT);
  return tf.engine().runKernel(LINEAR_KERNEL, { x, w, b }, { relu }) as tf.Tensor2D;
}

/**
 * {@linkcode linear} in plain tfjs ops (`matMul`, `add`, `relu`), with
 * tfjs's own gradients: what runs on backends without the kernels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { linearReference } from "./linear.ts";
 * await tf.setBackend("cpu");
 * const y = linearReference(tf.tensor2d([[2]]), tf.tensor2d([[-3]]), tf.tensor1d([1]), true);
 * assert.deepEqual([...y.dataSync()], [0]); // relu(2 * -3 + 1)
 * ```
 */
export function linearReference(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, relu = false): tf.Tensor2D {
  return tf.tidy(() => {
    const y = tf.add(tf.matMul(x, w), b) as tf.Tensor2D;
    return relu ? tf.relu(y) : y;
  });
}

/**
 * The gradient of {@linkcode LINEAR_KERNEL}: one {@linkcode LINEAR_GRAD_KERNEL}
 * call for all three inputs. Registered on first use, not at import.
 */
const GRADIENT: tf.GradConfig = {
  kernelName: LINEAR_KERNEL,
  inputsToSave: ["x", "w"],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, w, y] = saved;
    const relu = Boolean((attrs as { relu?: boolean }).relu);
    const g = dy as tf.Tensor2D;
    // All three at once (dx of a first layer is wasted: [m, 1], cheap);
    // the thunks hand them out, and tfjs disposes any it does not call.
    const [dx, dw, db] = onBackend(LINEAR_GRAD_KERNEL)
      ? tf.engine().runKernel(LINEAR_GRAD_KERNEL, { dy: g, x, w, y }, { relu }) as tf.Tensor[]
      : tf.tidy(() => {
        const gm = relu ? tf.mul(g, tf.step(y)) : g;
        return [tf.matMul(gm, w, false, true), tf.matMul(x, gm, true, false), tf.sum(gm, 0)];
      });
    return { x: () => dx, w: () => dw, b: () => db };
  },
};

/**
 * The tail of a ResNet basic block as two differentiable ops: the option-A
 * shortcut (stride-2 subsampling, channels zero-padded) and `relu(a + b)`.
 * A backend that registers their kernels runs each as one kernel a
 * direction (`native`: oneDNN's binary add with a ReLU post-op, one copy
 * loop for the shortcut); elsewhere they are the plain tfjs ops below
 * (reshape, slice, pad, add and relu passes), which are also the reference
 * the kernels are tested against.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend } from "./kernel_dispatch.ts";
import { reluGrad } from "./relu_grad.ts";

/** Kernel: inputs `{a, b}` (float32, one shape) -> `max(a + b, 0)`. */
export const ADD_RELU_KERNEL = "AddRelu";
/** Kernel: input `{x}`, attr `channels` -> the option-A shortcut of `x`. */
export const SHORTCUT_KERNEL = "ShortcutA";
/** Kernel: input `{dy}`, attr `inShape` -> the shortcut's input gradient. */
export const SHORTCUT_GRAD_KERNEL = "ShortcutAGrad";

/**
 * `max(a + b, 0)`, differentiable in both inputs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { addRelu } from "./residual.ts";
 * await tf.setBackend("cpu");
 * assert.deepEqual([...addRelu(tf.tensor([1, -3]), tf.tensor([1, 1])).dataSync()], [2, 0]);
 * ```
 */
export function addRelu<T extends tf.Tensor>(a: T, b: T): T {
  if (!onBackend(ADD_RELU_KERNEL) || a.dtype !== "float32" || !tf.util.arraysEqual(a.shape, b.shape)) {
    return tf.relu(tf.add(a, b));
  }
  const op = tf.customGrad(
    ((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, y] = args as tf.Tensor[];
      const save = args[2] as tf.GradSaveFunc;
      const out = tf.engine().runKernel(ADD_RELU_KERNEL, { a: x, b: y }) as tf.Tensor;
      save([out]);
      return {
        value: out,
        gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => {
          // out > 0 exactly where a + b > 0: Relu's gradient on the output.
          const g = reluGrad(dy, saved);
          return [g, g.clone()];
        },
      };
    }) as Parameters<typeof tf.customGrad>[0],
  );
  return op(a, b) as T;
}

/**
 * PyTorch's option-A shortcut on NHWC `x`: every second row and column
 * (`x[:, ::2, ::2, :]`), then `channels - C` zero channels split as PyTorch
 * does (`floor(pad / 2)` before, the rest after).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { shortcutA } from "./residual.ts";
 * await tf.setBackend("cpu");
 * const y = shortcutA(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), 3);
 * assert.deepEqual(y.shape, [1, 1, 1, 3]);
 * assert.deepEqual([...y.dataSync()], [0, 1, 0]);
 * ```
 */
export function shortcutA(x: tf.Tensor4D, channels: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const pad = channels - c, before = Math.floor(pad / 2);
  if (!onBackend(SHORTCUT_KERNEL) || x.dtype !== "float32") {
    return tf.tidy(() => {
      // Rank-4 ops only (WebGPU's pad and slice fail above rank 4), and
      // slice's gradient is a pad: no strided-slice gradient in tfjs.
      const even = h % 2 || w % 2 ? tf.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]]) : x;
      const [hh, ww] = [(h + h % 2) / 2, (w + w % 2) / 2];
      const pairs = tf.reshape(even, [n * hh, 2, ww, 2 * c]);
      const sub = tf.reshape(tf.slice(pairs, [0, 0, 0, 0], [n * hh, 1, ww, c]), [n, hh, ww, c]);
      return tf.pad(sub as tf.Tensor4D, [[0, 0], [0, 0], [0, 0], [before, pad - before]]);
    });
  }
  const op = tf.customGrad(
    ((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const out = tf.engine().runKernel(SHORTCUT_KERNEL, { x: args[0] as tf.Tensor }, {
        channels,
      }) as tf.Tensor;
      return {
        value: out,
        gradFunc: (dy: tf.Tensor) =>
          tf.engine().runKernel(SHORTCUT_GRAD_KERNEL, { dy }, { inShape: x.shape }),
      };
    }) as Parameters<typeof tf.customGrad>[0],
  );
  return op(x) as tf.Tensor4D;
}

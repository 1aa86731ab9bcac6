/**
 * The tail of a ResNet basic block as two differentiable ops: the option-A
 * shortcut (stride-2 subsampling, channels zero-padded) and `relu(a + b)`.
 * On the `native` backend each runs as one kernel a direction (oneDNN's
 * binary add with a ReLU post-op; one copy loop for the shortcut), where
 * plain tfjs ops take reshape, slice, pad, add and relu passes; on other
 * backends they are those plain ops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { DNNL_ELEMENTWISE_MIN, type DnnlElementwise } from "./dnnl_elementwise.ts";
import { RELU_GRAD_KERNEL } from "./elementwise_kernels.ts";
import { valuesOf } from "./kernel_io.ts";

/** Kernel: inputs `{a, b}` (float32, one shape) -> `max(a + b, 0)`. */
export const ADD_RELU_KERNEL = "NativeAddRelu";
/** Kernel: input `{x}`, attr `channels` -> the option-A shortcut of `x`. */
export const SHORTCUT_KERNEL = "NativeShortcutA";
/** Kernel: input `{dy}`, attr `inShape` -> the shortcut's input gradient. */
export const SHORTCUT_GRAD_KERNEL = "NativeShortcutAGrad";

const onBackend = (kernel: string) => tf.getKernel(kernel, tf.getBackend()) !== undefined;

/**
 * `max(a + b, 0)`, differentiable in both inputs.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { addRelu } from "./residual.ts";
 * await tf.setBackend("cpu");
 * console.log(addRelu(tf.tensor([1, -3]), tf.tensor([1, 1])).dataSync()); // [2, 0]
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
          const g = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: saved }) as tf.Tensor;
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
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { shortcutA } from "./residual.ts";
 * await tf.setBackend("cpu");
 * console.log(shortcutA(tf.ones([1, 4, 4, 2]), 4).shape); // [1, 2, 2, 4]
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

/** Output geometry of the shortcut: `[n, ceil(h/2), ceil(w/2)]`. */
function geometry([n, h, w, c]: readonly number[], channels: number) {
  return {
    n,
    h,
    w,
    c,
    oh: Math.ceil(h / 2),
    ow: Math.ceil(w / 2),
    oc: channels,
    before: Math.floor((channels - c) / 2),
  };
}

/**
 * Copies `x[n, 2i, 2j, :]` to `out[n, i, j, before:before+c]` (`toOut`)
 * or back into a zeroed gradient (`!toOut`).
 */
function shortcutCopy(
  x: Float32Array,
  out: Float32Array,
  g: ReturnType<typeof geometry>,
  toOut: boolean,
): void {
  const { n, h, w, c, oh, ow, oc, before } = g;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const s = ((b * h + 2 * i) * w + 2 * j) * c;
        const d = ((b * oh + i) * ow + j) * oc + before;
        if (toOut) { for (let k = 0; k < c; k++) out[d + k] = x[s + k]; }
        else for (let k = 0; k < c; k++) x[s + k] = out[d + k];
      }
    }
  }
}

/**
 * The kernels of {@linkcode addRelu} and {@linkcode shortcutA} for
 * `backendName` (oneDNN's add when `ew` is given and the input large).
 *
 * @example
 * ```ts ignore
 * for (const k of residualKernels("native", ew)) tf.registerKernel(k);
 * ```
 */
export function residualKernels(backendName: string, ew: DnnlElementwise | null): tf.KernelConfig[] {
  return [
    {
      kernelName: ADD_RELU_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const cpu = backend as MathBackendCPU;
        const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const av = valuesOf(cpu, a), bv = valuesOf(cpu, b);
        let out: Float32Array;
        if (ew && av.length >= DNNL_ELEMENTWISE_MIN) {
          out = ew.add(av, bv, true);
        } else {
          out = new Float32Array(av.length);
          for (let i = 0; i < out.length; i++) {
            const v = av[i] + bv[i];
            out[i] = v > 0 ? v : 0;
          }
        }
        return cpu.makeTensorInfo(a.shape, "float32", out);
      },
    },
    {
      kernelName: SHORTCUT_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU;
        const { x } = inputs as { x: tf.TensorInfo };
        const g = geometry(x.shape, (attrs as { channels: number }).channels);
        const out = new Float32Array(g.n * g.oh * g.ow * g.oc);
        shortcutCopy(valuesOf(cpu, x), out, g, true);
        return cpu.makeTensorInfo([g.n, g.oh, g.ow, g.oc], "float32", out);
      },
    },
    {
      kernelName: SHORTCUT_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU;
        const { dy } = inputs as { dy: tf.TensorInfo };
        const inShape = (attrs as unknown as { inShape: number[] }).inShape;
        const g = geometry(inShape, dy.shape[3]);
        const dx = new Float32Array(inShape.reduce((p, d) => p * d, 1));
        shortcutCopy(dx, valuesOf(cpu, dy), g, false);
        return cpu.makeTensorInfo(inShape, "float32", dx);
      },
    },
  ];
}

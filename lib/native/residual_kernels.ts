/**
 * The `native` kernels of the residual-block ops of `ops/residual.ts`:
 * `relu(a + b)` (oneDNN's binary add with a ReLU post-op for large
 * tensors, else one loop) and the option-A shortcut and its gradient (one
 * loop each way, writing every element of a recycled buffer rather than
 * copying into a fresh zeroed one).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { ADD_RELU_KERNEL, SHORTCUT_GRAD_KERNEL, SHORTCUT_KERNEL } from "../ops/residual.ts";
import { DNNL_ELEMENTWISE_MIN, type DnnlElementwise } from "./dnnl_elementwise.ts";
import { type Alloc, freshAlloc, valuesOf } from "./kernel_io.ts";

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
 * The option-A shortcut of NHWC `x` into `out` (`[n, oh, ow, oc]`): each
 * pixel's channels are `before` zeros, `x[n, 2i, 2j, :]`, then zeros. Writes
 * every element, so `out` may hold old contents (a pooled buffer).
 */
function shortcutForward(x: Float32Array, out: Float32Array, g: ReturnType<typeof geometry>): void {
  const { n, h, w, c, oh, ow, oc, before } = g;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const s = ((b * h + 2 * i) * w + 2 * j) * c;
        const d = ((b * oh + i) * ow + j) * oc;
        for (let k = 0; k < before; k++) out[d + k] = 0;
        for (let k = 0; k < c; k++) out[d + before + k] = x[s + k];
        for (let k = before + c; k < oc; k++) out[d + k] = 0;
      }
    }
  }
}

/**
 * The shortcut's gradient into `dx` (`[n, h, w, c]`): `dy[n, i, j,
 * before:before+c]` at `(2i, 2j)`, zero elsewhere. Writes every element.
 */
function shortcutBackward(dx: Float32Array, dy: Float32Array, g: ReturnType<typeof geometry>): void {
  const { n, h, w, c, oh, ow, oc, before } = g;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const row = (b * h + y) * w * c;
      if (y % 2) {
        dx.fill(0, row, row + w * c);
        continue;
      }
      for (let x = 0; x < w; x++) {
        const s = row + x * c;
        if (x % 2) {
          for (let k = 0; k < c; k++) dx[s + k] = 0;
          continue;
        }
        const d = ((b * oh + y / 2) * ow + x / 2) * oc + before;
        for (let k = 0; k < c; k++) dx[s + k] = dy[d + k];
      }
    }
  }
}

/**
 * The kernels of {@linkcode addRelu} and {@linkcode shortcutA} for
 * `backendName` (oneDNN's add when `ew` is given and the input large);
 * the shortcut's outputs come from `alloc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { addRelu, shortcutA } from "../ops/residual.ts";
 * import { residualKernels } from "./residual_kernels.ts";
 * // A cpu-derived backend with these kernels (no oneDNN `ew`: loops only),
 * // as registerNativeBackend() builds "native".
 * tf.registerBackend("residual-demo", () => new MathBackendCPU());
 * for (const k of residualKernels("residual-demo", null)) tf.registerKernel(k);
 * await tf.setBackend("residual-demo");
 * assert.deepEqual(await addRelu(tf.tensor1d([1, -3]), tf.tensor1d([1, 1])).data(), Float32Array.of(2, 0));
 * const y = shortcutA(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), 3); // x[:, ::2, ::2], zero channels around
 * assert.deepEqual(await y.data(), Float32Array.of(0, 1, 0));
 * ```
 */
export function residualKernels(
  backendName: string,
  ew: DnnlElementwise | null,
  alloc: Alloc = freshAlloc,
): tf.KernelConfig[] {
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
        const out = alloc(g.n * g.oh * g.ow * g.oc);
        shortcutForward(valuesOf(cpu, x), out, g);
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
        const dx = alloc(inShape.reduce((p, d) => p * d, 1));
        shortcutBackward(dx, valuesOf(cpu, dy), g);
        return cpu.makeTensorInfo(inShape, "float32", dx);
      },
    },
  ];
}

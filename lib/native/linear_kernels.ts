/**
 * The `native` kernels of `ops/linear.ts`: a fully connected layer (and the
 * ReLU after it) forward as one BLAS `sgemm` plus one bias/ReLU loop, and
 * backward as two `sgemm`s plus one loop for the mask and the bias gradient.
 * Lab 1's products (`[100, 64] x [64, 64]`) take microseconds; tfjs's
 * bookkeeping of the six ops this replaces took far longer.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { LINEAR_GRAD_KERNEL, LINEAR_KERNEL } from "../ops/linear.ts";
import type { Blas } from "./blas.ts";
import { valuesOf } from "./kernel_io.ts";

/**
 * `y = x w + b` (`x [m, k]`, `w [k, n]`, `b [n]`, row-major), clamped at zero
 * with `relu`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Blas } from "./blas.ts";
 * import { linearForward } from "./linear_kernels.ts";
 * const blas = Blas.open("libopenblas.so.0");
 * const x = Float32Array.of(1, 2), w = Float32Array.of(1, -1, 1, -1), b = Float32Array.of(0.5, 0.5);
 * assert.deepEqual(linearForward(blas, [x, w, b], [1, 2, 2], true), Float32Array.of(3.5, 0));
 * ```
 */
export function linearForward(
  blas: Blas,
  [x, w, b]: [Float32Array, Float32Array, Float32Array],
  [m, k, n]: [number, number, number],
  relu: boolean,
): Float32Array {
  const y = new Float32Array(m * n);
  for (let i = 0, o = 0; i < m; i++) {
    for (let j = 0; j < n; j++, o++) y[o] = b[j];
  }
  // y = x w + y: the bias is added inside the product, rounded as PyTorch's addmm.
  if (k > 0) blas.sgemm([m, n, k], [x, w, y], { beta: 1 });
  // Math.max: branch-free on random signs, and NaN stays NaN.
  if (relu) { for (let i = 0; i < y.length; i++) y[i] = Math.max(y[i], 0); }
  return y;
}

/**
 * Gradients of {@linkcode linearForward}: with `g = dy` (zeroed where `y <= 0`
 * when `relu`), `dx = g w^T`, `dw = x^T g`, `db = sum of g's rows` (summed in
 * float64).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Blas } from "./blas.ts";
 * import { linearBackward } from "./linear_kernels.ts";
 * const blas = Blas.open("libopenblas.so.0");
 * // One row, k = 1, n = 2: y = [3.5, 0] came out of the ReLU.
 * const [dx, dw, db] = linearBackward(
 *   blas,
 *   [Float32Array.of(1, 1), Float32Array.of(2), Float32Array.of(3, -4), Float32Array.of(3.5, 0)],
 *   [1, 1, 2],
 *   true,
 * );
 * assert.deepEqual([...dx, ...dw, ...db], [3, 2, 0, 1, 0]); // only the first output passed
 * ```
 */
export function linearBackward(
  blas: Blas,
  [dy, x, w, y]: [Float32Array, Float32Array, Float32Array, Float32Array],
  [m, k, n]: [number, number, number],
  relu: boolean,
): [Float32Array, Float32Array, Float32Array] {
  // One pass: the ReLU's mask (branch-free: +(y > 0) is 0 or 1) and the
  // bias gradient's column sums.
  const g = relu ? new Float32Array(dy.length) : dy;
  const acc = new Float64Array(n);
  for (let i = 0, o = 0; i < m; i++) {
    if (relu) {
      for (let j = 0; j < n; j++, o++) acc[j] += g[o] = dy[o] * +(y[o] > 0);
    } else {
      for (let j = 0; j < n; j++, o++) acc[j] += dy[o];
    }
  }
  const dx = new Float32Array(m * k), dw = new Float32Array(k * n), db = Float32Array.from(acc);
  if (m > 0 && n > 0 && k > 0) {
    blas.sgemm([m, k, n], [g, w, dx], { transB: true });
    blas.sgemm([k, n, m], [x, g, dw], { transA: true });
  }
  return [dx, dw, db];
}

/** `[m, k, n]` of a `x [m, k]`, `w [k, n]` product. */
function dims(x: tf.TensorInfo, w: tf.TensorInfo): [number, number, number] {
  return [x.shape[0], x.shape[1], w.shape[1]];
}

/**
 * The {@linkcode LINEAR_KERNEL} and {@linkcode LINEAR_GRAD_KERNEL} configs
 * for `backendName` (a `cpu`-derived backend), on `blas`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { linear } from "../ops/linear.ts";
 * import { Blas } from "./blas.ts";
 * import { linearKernels } from "./linear_kernels.ts";
 * // A cpu-derived backend with these kernels, as registerNativeBackend() builds "native".
 * tf.registerBackend("linear-demo", () => new MathBackendCPU());
 * for (const k of linearKernels("linear-demo", Blas.open("libopenblas.so.0"))) tf.registerKernel(k);
 * await tf.setBackend("linear-demo");
 * const y = linear(tf.tensor2d([[1, 2]]), tf.tensor2d([[1, -1], [1, -1]]), tf.tensor1d([0.5, 0.5]), { relu: true });
 * assert.deepEqual(await y.data(), Float32Array.of(3.5, 0));
 * ```
 */
export function linearKernels(backendName: string, blas: Blas): tf.KernelConfig[] {
  return [
    {
      kernelName: LINEAR_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = (t: tf.TensorInfo) => valuesOf(cpu, t);
        const { x, w, b } = inputs as Record<string, tf.TensorInfo>;
        const [m, , n] = dims(x, w);
        const y = linearForward(blas, [v(x), v(w), v(b)], dims(x, w), Boolean(attrs?.relu));
        return cpu.makeTensorInfo([m, n], "float32", y);
      },
    },
    {
      kernelName: LINEAR_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = (t: tf.TensorInfo) => valuesOf(cpu, t);
        const { dy, x, w, y } = inputs as Record<string, tf.TensorInfo>;
        const [dx, dw, db] = linearBackward(
          blas,
          [v(dy), v(x), v(w), v(y)],
          dims(x, w),
          Boolean(attrs?.relu),
        );
        return [
          cpu.makeTensorInfo(x.shape, "float32", dx),
          cpu.makeTensorInfo(w.shape, "float32", dw),
          cpu.makeTensorInfo([w.shape[1]], "float32", db),
        ];
      },
    },
  ];
}

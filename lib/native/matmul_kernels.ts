/**
 * `BatchMatMul` (what `tf.matMul` runs) for the native backend on BLAS
 * `cblas_sgemm`: the `cpu` backend's blocked JavaScript product takes ~1.4 ms
 * for Lab 1's `[100, 64] x [64, 64]`, sgemm a few microseconds. Batched
 * products run one sgemm per batch entry; broadcasting batch shapes and
 * non-float32 inputs fall back to the `cpu` kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Blas } from "./blas.ts";
import { f32, withCpuFallback } from "./kernel_io.ts";

/**
 * The `BatchMatMul` kernel config for `backendName` (a `cpu`-derived
 * backend), falling back to the `cpu` kernel for inputs it does not handle.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { Blas } from "./blas.ts";
 * import { matMulKernel } from "./matmul_kernels.ts";
 * // A cpu-derived backend with this kernel, as registerNativeBackend() builds "native".
 * tf.registerBackend("matmul-demo", () => new MathBackendCPU());
 * tf.registerKernel(matMulKernel("matmul-demo", Blas.open("libopenblas.so.0")));
 * await tf.setBackend("matmul-demo");
 * const y = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([0, 1, 1, 0], [2, 2])); // swaps columns
 * assert.deepEqual(await y.data(), Float32Array.of(2, 1, 4, 3));
 * ```
 */
export function matMulKernel(backendName: string, blas: Blas): tf.KernelConfig {
  return withCpuFallback(tf.BatchMatMul, backendName, (args, cpu) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const av = f32(cpu, a), bv = f32(cpu, b);
    const ra = a.shape.length, rb = b.shape.length;
    if (!av || !bv || ra !== rb || ra < 2 || a.shape.slice(0, -2).join() !== b.shape.slice(0, -2).join()) {
      return null;
    }
    const batch = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
    const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
    const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
    const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
    const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
    if (k !== kb) return null; // let tfjs raise its own shape error
    const out = new Float32Array(batch * m * n);
    if (m * n * k > 0) {
      for (let i = 0; i < batch; i++) {
        blas.sgemm(
          [m, n, k],
          [
            av.subarray(i * m * k, (i + 1) * m * k),
            bv.subarray(i * k * n, (i + 1) * k * n),
            out.subarray(i * m * n, (i + 1) * m * n),
          ],
          { transA: transposeA, transB: transposeB },
        );
      }
    }
    return cpu.makeTensorInfo([...a.shape.slice(0, -2), m, n], "float32", out);
  });
}

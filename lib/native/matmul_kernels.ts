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
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./blas.ts";

/**
 * The kernel config for `backendName`, falling back to `fallback` (the `cpu`
 * kernel) for inputs it does not handle.
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
 * const fallback = tf.getKernel(tf.BatchMatMul, "cpu")!;
 * tf.registerKernel(matMulKernel("matmul-demo", Blas.open("libopenblas.so.0"), fallback));
 * await tf.setBackend("matmul-demo");
 * const y = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([0, 1, 1, 0], [2, 2])); // swaps columns
 * assert.deepEqual(await y.data(), Float32Array.of(2, 1, 4, 3));
 * ```
 */
export function matMulKernel(backendName: string, blas: Blas, fallback: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: tf.BatchMatMul,
    backendName,
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const cpu = backend as MathBackendCPU;
      const ra = a.shape.length, rb = b.shape.length;
      const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
      const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
      if (
        a.dtype !== "float32" || b.dtype !== "float32" || ra !== rb || ra < 2 || batchA !== batchB ||
        a.shape.slice(0, -2).join() !== b.shape.slice(0, -2).join()
      ) {
        return fallback.kernelFunc(args);
      }
      const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
      const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
      const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
      const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
      if (k !== kb) return fallback.kernelFunc(args); // let tfjs raise its own shape error
      const av = cpu.data.get(a.dataId).values as Float32Array;
      const bv = cpu.data.get(b.dataId).values as Float32Array;
      const out = new Float32Array(batchA * m * n);
      if (m * n * k > 0) {
        for (let i = 0; i < batchA; i++) {
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
    },
  };
}

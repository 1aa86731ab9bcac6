/**
 * Where the native kernels meet tfjs's `cpu` backend, whose tensor storage
 * they share: the `cpu` kernel a native kernel falls back to, an input's
 * float32 values, and where output buffers come from.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";

/**
 * Gives an output buffer of `n` values. It may hold old contents (see
 * `buffer_pool.ts`): kernels that take from one write every element.
 */
export type Alloc = (n: number) => Float32Array;

/** A new, zeroed buffer: the default {@linkcode Alloc}. */
export const freshAlloc: Alloc = (n) => new Float32Array(n);

/**
 * The `cpu` backend's kernel function for `name`, to fall back to. Throws
 * if the `cpu` kernels are not registered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { cpuKernel } from "./kernel_io.ts";
 * assert.equal(typeof cpuKernel("Add"), "function");
 * assert.throws(() => cpuKernel("NoSuchKernel"), /not registered for "cpu"/);
 * ```
 */
export function cpuKernel(name: string): tf.KernelFunc {
  const k = tf.getKernel(name, "cpu");
  if (!k) {
    throw new Error(
      `Kernel "${name}" is not registered for "cpu": import @tensorflow/tfjs-backend-cpu first`,
    );
  }
  return k.kernelFunc;
}

/**
 * The kernel `name` for `backendName`: runs `body`, and the `cpu` kernel
 * (looked up now, see {@linkcode cpuKernel}) where `body` returns null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { withCpuFallback } from "./kernel_io.ts";
 * const relu = withCpuFallback("Relu", "native", () => null); // always cpu's
 * assert.equal(relu.kernelName, "Relu");
 * const backend = new MathBackendCPU();
 * const x = backend.makeTensorInfo([2], "float32", Float32Array.of(-1, 2));
 * const y = relu.kernelFunc({ inputs: { x }, backend, attrs: {} }) as { dataId: object };
 * assert.deepEqual(backend.readSync(y.dataId), Float32Array.of(0, 2));
 * ```
 */
export function withCpuFallback(
  name: string,
  backendName: string,
  body: (args: Parameters<tf.KernelFunc>[0], backend: MathBackendCPU) => tf.TensorInfo | null,
): tf.KernelConfig {
  const fallback = cpuKernel(name);
  return {
    kernelName: name,
    backendName,
    kernelFunc: (args) => body(args, args.backend as MathBackendCPU) ?? fallback(args),
  };
}

/**
 * The values of `t` when it is float32 held in a `Float32Array`, else null
 * (the kernel then falls back to `cpu`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { f32 } from "./kernel_io.ts";
 * // In a kernel: `const xv = f32(backend, x); if (!xv) return fallback(args);`
 * const backend = new MathBackendCPU();
 * const x = backend.makeTensorInfo([2], "float32", Float32Array.of(1, 2));
 * const i = backend.makeTensorInfo([2], "int32", Int32Array.of(1, 2));
 * assert.deepEqual(f32(backend, x), Float32Array.of(1, 2));
 * assert.equal(f32(backend, i), null);
 * ```
 */
export function f32(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array | null {
  const v = backend.data.get(t.dataId).values;
  return t.dtype === "float32" && v instanceof Float32Array ? v : null;
}

/**
 * The values of `t`, which the calling op guarantees are float32 (the
 * custom ops of this folder only ever pass float32 tensors).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { valuesOf } from "./kernel_io.ts";
 * // In a kernel: `const gamma = valuesOf(backend, inputs.gamma);`
 * const backend = new MathBackendCPU();
 * const gamma = backend.makeTensorInfo([2], "float32", Float32Array.of(1, 0.5));
 * assert.deepEqual(valuesOf(backend, gamma), Float32Array.of(1, 0.5)); // the backend's own array
 * ```
 */
export function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

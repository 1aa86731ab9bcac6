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
 * import "@tensorflow/tfjs-backend-cpu";
 * import { cpuKernel } from "./kernel_io.ts";
 * console.log(typeof cpuKernel("Add")); // "function"
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
 * import "@tensorflow/tfjs-backend-cpu";
 * import { withCpuFallback } from "./kernel_io.ts";
 * const relu = withCpuFallback("Relu", "native", () => null); // always cpu's
 * console.log(relu.kernelName); // "Relu"
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
 * ```ts ignore
 * const xv = f32(backend, x);
 * if (!xv) return fallback(args);
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
 * ```ts ignore
 * const gamma = valuesOf(backend, inputs.gamma);
 * ```
 */
export function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  return backend.data.get(t.dataId).values as Float32Array;
}

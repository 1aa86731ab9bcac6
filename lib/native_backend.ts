/**
 * The `native` TensorFlow.js backend: tfjs's `cpu` backend (same tensor
 * storage, every `cpu` kernel) with the hot kernels of CNN training replaced
 * by native code reached through Deno FFI (loads oneDNN or a CBLAS from the
 * system's library paths; needs `--allow-ffi`):
 *
 * - `Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`: oneDNN's JIT
 *   direct convolution on NHWC data (else im2col + BLAS sgemm);
 * - `NativeBatchNormTrain` / `NativeBatchNormTrainGrad`: fused batch-norm
 *   loops used by {@linkcode batchNormTrain};
 * - `Add`, `Sub`, `Multiply`, `RealDiv`, `Relu`, `Step`, `Sum`, `Mean`,
 *   `Slice`, `PadV2`: float32 TypedArray loops (the `cpu` versions index
 *   element by element and dominated a ResNet20 step);
 * - Relu's gradient `dy * step(x)` as one pass (registering the backend
 *   wraps tfjs's global Relu gradient; other backends keep the original).
 *
 * Nothing loads at import time: {@linkcode nativeAvailable} probes,
 * {@linkcode registerNativeBackend} registers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { batchNormKernels } from "./native/batch_norm_kernels.ts";
import { NativeConv } from "./native/conv.ts";
import { convKernels } from "./native/conv_kernels.ts";
import { elementwiseKernels, fusedReluGradient } from "./native/elementwise_kernels.ts";
import { matMulKernel } from "./native/matmul_kernels.ts";
import { loadNativeLibraries, type NativeLibraries, NativeUnavailableError } from "./native/ffi.ts";

export { batchNormTrain } from "./native/batch_norm_train.ts";
export type { BatchNormTrainResult } from "./native/batch_norm_train.ts";

/** The backend name registered with tfjs. */
export const NATIVE_BACKEND = "native";

let loaded: NativeLibraries | Error | undefined;

function load(): NativeLibraries | Error {
  if (loaded === undefined) {
    try {
      loaded = loadNativeLibraries();
    } catch (e) {
      loaded = e instanceof Error ? e : new Error(String(e));
    }
  }
  return loaded;
}

/**
 * Whether the native libraries load here; `detail` is the one-line library
 * description, or why not (missing library, missing `--allow-ffi`).
 *
 * @example
 * ```ts ignore
 * const { ok, detail } = nativeAvailable();
 * console.log(ok ? `native: ${detail}` : `falling back to cpu: ${detail}`);
 * ```
 */
export function nativeAvailable(): { ok: boolean; detail: string } {
  const libs = load();
  return libs instanceof Error ? { ok: false, detail: libs.message } : { ok: true, detail: libs.description };
}

/**
 * The one-line description of the libraries chosen, e.g.
 * `"oneDNN 2.6.3 (libdnnl.so.2) + BLAS libopenblas.so.0"`. Throws
 * {@linkcode NativeUnavailableError} when none loads.
 *
 * @example
 * ```ts ignore
 * console.log(nativeLibraryDescription());
 * ```
 */
export function nativeLibraryDescription(): string {
  const libs = load();
  if (libs instanceof Error) throw libs;
  return libs.description;
}

/**
 * tfjs's CPU backend, renamed so that kernels can be registered for it
 * without touching `cpu`.
 */
export class NativeBackend extends MathBackendCPU {}

/**
 * Registers the `native` backend (idempotent) and returns the library
 * description. Throws {@linkcode NativeUnavailableError} when no library
 * loads; call `tf.setBackend("native")` afterwards to use it.
 *
 * @example
 * ```ts ignore
 * import * as tf from "@tensorflow/tfjs-core";
 * const device = await registerNativeBackend();
 * await tf.setBackend("native");
 * console.log(device); // "oneDNN 2.6.3 (libdnnl.so.2) + BLAS libopenblas.so.0"
 * ```
 */
export function registerNativeBackend(): Promise<string> {
  const libs = load();
  if (libs instanceof Error) {
    return Promise.reject(
      libs instanceof NativeUnavailableError ? libs : new NativeUnavailableError(libs.message),
    );
  }
  if (tf.findBackendFactory(NATIVE_BACKEND) === null) {
    // Priority 0: below `cpu`, so tfjs never picks it unless asked to.
    tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0);
    const overrides = [
      ...convKernels(NATIVE_BACKEND, new NativeConv(libs)),
      ...batchNormKernels(NATIVE_BACKEND, libs.dnnl),
      ...elementwiseKernels(NATIVE_BACKEND),
      ...(libs.blas ? [matMulKernel(NATIVE_BACKEND, libs.blas, tf.getKernel(tf.BatchMatMul, "cpu")!)] : []),
    ];
    const replaced = new Set(overrides.map((k) => k.kernelName));
    for (const k of tf.getKernelsForBackend("cpu")) {
      if (!replaced.has(k.kernelName)) {
        tf.registerKernel({ ...k, backendName: NATIVE_BACKEND });
      }
    }
    for (const k of overrides) tf.registerKernel(k);
    // Relu's gradient is registered per kernel, not per backend: wrap it
    // (when tfjs's gradients are loaded) so that `native` fuses it.
    const relu = tf.getGradient(tf.Relu);
    if (relu) {
      tf.unregisterGradient(tf.Relu);
      tf.registerGradient(fusedReluGradient(NATIVE_BACKEND, relu));
    }
  }
  return Promise.resolve(libs.description);
}

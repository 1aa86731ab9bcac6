/**
 * The `native` TensorFlow.js backend, the CPU plugin: tfjs's `cpu` backend
 * (same tensor storage, every `cpu` kernel) with the hot kernels of CNN
 * training replaced by native code reached through Deno FFI (loads oneDNN or
 * a CBLAS from the system's library paths; needs `--allow-ffi`):
 *
 * - `Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`: oneDNN's JIT
 *   direct convolution on NHWC data (else im2col + BLAS sgemm);
 * - the kernels of `lib/ops/`: training batch norm (ReLU optionally fused
 *   in), `relu(a + b)`, the option-A shortcut and its gradient, the
 *   SGD-momentum update and ReLU's gradient; and tfjs's inference
 *   `FusedBatchNorm`: oneDNN's batch norm and elementwise primitives, else
 *   fused loops;
 * - `Add`, `Sub`, `Multiply`, `RealDiv`, `Relu`, `Step`, `Sum`, `Mean`,
 *   `Slice`, `PadV2`: float32 TypedArray loops (the `cpu` versions index
 *   element by element and dominated a ResNet20 step), with large `Add` and
 *   `Relu` on oneDNN;
 * - `BatchMatMul` and the fused linear layer of `lib/ops/linear.ts` on BLAS;
 * - the MSE and softmax cross-entropy losses and their gradients, global
 *   average pooling and its gradient, and SGD's and Adam's updates of every
 *   parameter in one kernel each (PyTorch's rounding).
 *
 * Only the backend chooser (`lib/runtime/backend.ts`) imports this plugin.
 * Nothing loads at import time: {@linkcode nativeAvailable} probes,
 * {@linkcode registerNativeBackend} registers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { fuseReluGradient } from "../ops/relu_grad.ts";
import { batchNormKernels } from "./batch_norm_kernels.ts";
import { BufferPool } from "./buffer_pool.ts";
import { NativeConv } from "./conv.ts";
import { convKernels } from "./conv_kernels.ts";
import { DnnlElementwise } from "./dnnl_elementwise.ts";
import { elementwiseKernels } from "./elementwise_kernels.ts";
import { matMulKernel } from "./matmul_kernels.ts";
import { residualKernels } from "./residual_kernels.ts";
import { sgdAllKernel, sgdKernel } from "./sgd_kernels.ts";
import { poolKernels } from "./pool_kernels.ts";
import { adamKernel } from "./adam_kernels.ts";
import { linearKernels } from "./linear_kernels.ts";
import { lossKernels } from "./loss_kernels.ts";
import { loadNativeLibraries, type NativeLibraries, NativeUnavailableError } from "./ffi.ts";

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
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeAvailable } from "./mod.ts";
 * const { ok, detail } = nativeAvailable();
 * // The backend chooser uses "native" when ok, else falls back to "cpu" and reports `detail`.
 * assert.equal(typeof ok, "boolean");
 * assert.match(detail, ok ? /oneDNN|BLAS/ : /FFI|library/);
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
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeLibraryDescription } from "./mod.ts";
 * // e.g. "oneDNN 2.6.3 (libdnnl.so.2) + BLAS libopenblas.so.0", recorded in run.json
 * assert.match(nativeLibraryDescription(), /^(oneDNN \d+\.\d+\.\d+ \(.+\)|BLAS \S+)/);
 * ```
 */
export function nativeLibraryDescription(): string {
  const libs = load();
  if (libs instanceof Error) throw libs;
  return libs.description;
}

/** Most bytes of free output buffers the backend keeps for reuse. */
const POOL_BYTES = 512 * 2 ** 20;

/** The output buffers the native kernels recycle (one per process). */
const pool = new BufferPool(POOL_BYTES);

/**
 * tfjs's CPU backend, renamed so that kernels can be registered for it
 * without touching `cpu`, which gives the native kernels' output buffers
 * back to {@linkcode BufferPool} when tfjs frees them. Arrays it hands out
 * (`read`, `readSync`) are never recycled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { NativeBackend, registerNativeBackend } from "./mod.ts";
 * await registerNativeBackend(); // creates it for "native"
 * await tf.setBackend("native");
 * assert.ok(tf.backend() instanceof NativeBackend);
 * ```
 */
export class NativeBackend extends MathBackendCPU {
  override disposeData(dataId: object, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const disposed = super.disposeData(dataId, force);
    if (disposed) pool.release(values);
    return disposed;
  }

  override readSync(dataId: object): tf.backend_util.BackendValues {
    pool.pin(this.data.get(dataId)?.values);
    return super.readSync(dataId);
  }

  override read(dataId: object): Promise<tf.backend_util.BackendValues> {
    pool.pin(this.data.get(dataId)?.values);
    return super.read(dataId);
  }
}

/**
 * `cpu` kernels whose output shares its input's data id (reference-counted
 * by the backend: the buffer is released once, by the last owner), so their
 * inputs need no pinning. `Identity` matters: tfjs clones every tensor it
 * saves for the backward pass with it (some 230 a ResNet20 step), and
 * pinning those kept every saved activation out of the pool, ~240 MB of
 * fresh zero-filled buffers a step.
 */
const SHARING_KERNELS = new Set<string>([tf.Reshape, tf.Identity]);

/**
 * `kernel` (a `cpu` kernel) with its inputs' buffers pinned: some `cpu`
 * kernels return views of their inputs (a simple `Slice`), which must not
 * see the buffer recycled. {@linkcode SHARING_KERNELS} share the tensor's
 * data id instead, which tfjs reference-counts.
 */
function pinningInputs(kernel: tf.KernelConfig): tf.KernelConfig {
  if (SHARING_KERNELS.has(kernel.kernelName)) return kernel;
  const run = kernel.kernelFunc;
  return {
    ...kernel,
    kernelFunc: (args) => {
      const backend = args.backend as MathBackendCPU;
      for (const name in args.inputs) {
        const t = args.inputs[name];
        if (t) pool.pin(backend.data.get(t.dataId)?.values);
      }
      return run(args);
    },
  };
}

/**
 * Registers the `native` backend (idempotent) and returns the library
 * description. Throws {@linkcode NativeUnavailableError} when no library
 * loads; call `tf.setBackend("native")` afterwards to use it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { registerNativeBackend } from "./mod.ts";
 * const device = await registerNativeBackend(); // needs --allow-ffi
 * await tf.setBackend("native");
 * assert.match(device, /oneDNN|BLAS/); // e.g. "oneDNN 2.6.3 (libdnnl.so.2) + BLAS libopenblas.so.0"
 * // Any tfjs op runs; convolutions on oneDNN.
 * const y = tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, "same");
 * assert.deepEqual(await y.data(), Float32Array.of(4, 6, 4, 6, 9, 6, 4, 6, 4));
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
    const alloc = (n: number) => pool.take(n);
    const ew = libs.dnnl ? new DnnlElementwise(libs.dnnl, alloc) : null;
    const overrides = [
      ...convKernels(NATIVE_BACKEND, new NativeConv(libs, alloc)),
      ...batchNormKernels(NATIVE_BACKEND, libs.dnnl, alloc),
      ...elementwiseKernels(NATIVE_BACKEND, ew),
      ...residualKernels(NATIVE_BACKEND, ew, alloc),
      sgdKernel(NATIVE_BACKEND),
      sgdAllKernel(NATIVE_BACKEND),
      adamKernel(NATIVE_BACKEND),
      ...poolKernels(NATIVE_BACKEND, alloc),
      ...lossKernels(NATIVE_BACKEND),
      ...(libs.blas
        ? [
          matMulKernel(NATIVE_BACKEND, libs.blas),
          ...linearKernels(NATIVE_BACKEND, libs.blas),
        ]
        : []),
    ];
    const replaced = new Set(overrides.map((k) => k.kernelName));
    for (const k of tf.getKernelsForBackend("cpu")) {
      if (!replaced.has(k.kernelName)) {
        tf.registerKernel(pinningInputs({ ...k, backendName: NATIVE_BACKEND }));
      }
    }
    for (const k of overrides) tf.registerKernel(k);
    // Relu's gradient is registered per kernel, not per backend: route it
    // through the fused kernel on backends that have one.
    fuseReluGradient();
  }
  return Promise.resolve(libs.description);
}

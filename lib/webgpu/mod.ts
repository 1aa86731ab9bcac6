/**
 * The WebGPU plugin: tfjs-backend-webgpu with a cheaper host path and WGSL
 * kernels for the ops of `lib/ops/`.
 *
 * - The device (`device.ts`): tfjs's, binding more storage buffers a kernel
 *   where the adapter can, so that one dispatch updates several parameters
 *   (SGD) or batch norms' running averages.
 * - The host path (`host_path.ts`): one uniform arena written per submit,
 *   scalar constants cached on the GPU, uploads by `queue.writeBuffer` into
 *   pooled buffers, bind groups reused. In Deno every `writeBuffer` and every
 *   buffer creation allocates and queries the driver's memory budget; a
 *   ResNet20 step made ~1,200 of the one and ~180 of the other.
 * - Fused kernels (`elementwise_kernels.ts`, `batch_norm_kernels.ts`,
 *   `loss_kernels.ts`) for training batch norm (ReLU fused, running
 *   averages), `relu(a + b)`, ReLU's gradient, the option-A shortcut, the
 *   SGD-momentum update and softmax cross-entropy: ~250 dispatches a
 *   ResNet20 step instead of ~1,200.
 * - Training batches built on the GPU (`augment_kernels.ts`) from the
 *   images kept there as bytes: crop, flip and normalisation in one kernel.
 * - The convolution's weight gradient (`conv_kernels.ts`) split over tiles
 *   of output rows, in place of tfjs's one thread per filter value.
 * - Compiled steps (`compiled_step.ts`): a step recorded once and replayed
 *   for every batch, registered as this backend's step compiler.
 *
 * Only the backend chooser (`lib/runtime/backend.ts`) imports this plugin.
 * Nothing runs at import time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { fuseReluGradient } from "../ops/mod.ts";
import { registerStepCompiler } from "../ops/compiled_step.ts";
import { WebGpuCompiledStep } from "./compiled_step.ts";
import { WEBGPU_BACKEND, type WebGpuBackend } from "./backend_internals.ts";
import { AUGMENT_WGSL, augmentKernels } from "./augment_kernels.ts";
import { batchNormKernels, batchNormWgsl } from "./batch_norm_kernels.ts";
import { CONV_WGSL, convFilterGradKernel } from "./conv_kernels.ts";
import { elementwiseKernels, elementwiseWgsl } from "./elementwise_kernels.ts";
import { type HostPath, installHostPath } from "./host_path.ts";
import { LOSS_WGSL, lossKernels } from "./loss_kernels.ts";
import { KernelRunner } from "./program.ts";
import { requestOwnDevice } from "./device.ts";

export { WEBGPU_BACKEND };

/**
 * Programs recorded per queue submit (tfjs's default is 15). Deno's submit
 * is synchronous and costly, so fewer, larger submits help.
 */
export const WEBGPU_SUBMIT_BATCH = 1000;

/** What {@linkcode startWebGpuPlugin} started. */
export interface WebGpuPlugin {
  backend: WebGpuBackend;
  host: HostPath;
  runner: KernelRunner;
}

const runners = new WeakMap<object, KernelRunner>();
let kernelsRegistered = false;

function runnerOf(backend: object): KernelRunner {
  const runner = runners.get(backend);
  if (!runner) throw new Error("The WebGPU plugin was not started on this backend");
  return runner;
}

/** Registers `configs`, each calling the runner of the backend it runs on. */
function registerKernels(configs: tf.KernelConfig[]): void {
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, WEBGPU_BACKEND)) continue;
    tf.registerKernel(config);
  }
}

/**
 * Starts tfjs's `webgpu` backend with this plugin's host path and kernels
 * and makes it the active backend. Throws when WebGPU cannot start or a
 * kernel does not compile.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * const { backend } = await startWebGpuPlugin({ submitBatch: 1000 });
 * console.log(backend.device.limits.maxStorageBuffersPerShaderStage);
 * ```
 */
export async function startWebGpuPlugin(options: { submitBatch?: number } = {}): Promise<WebGpuPlugin> {
  await import("@tensorflow/tfjs-backend-webgpu");
  requestOwnDevice();
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", options.submitBatch ?? WEBGPU_SUBMIT_BATCH);
  if (!(await tf.setBackend(WEBGPU_BACKEND))) throw new Error(`tfjs's webgpu backend failed to start`);
  await tf.ready();
  const backend = tf.backend() as WebGpuBackend;
  const host = installHostPath(backend);
  let runner = runners.get(backend);
  if (!runner) {
    runner = new KernelRunner(backend, host);
    await runner.compile([
      ...elementwiseWgsl(backend.device.limits),
      ...batchNormWgsl(backend.device.limits),
      ...LOSS_WGSL,
      ...CONV_WGSL,
      ...AUGMENT_WGSL,
    ]);
    runners.set(backend, runner);
  }
  if (!kernelsRegistered) {
    // The configs look their runner up by the backend tfjs passes them, so
    // they stay right if the backend is ever re-created.
    registerKernels(
      [
        ...elementwiseKernels(runnerOf),
        ...batchNormKernels(runnerOf),
        ...lossKernels(runnerOf),
        ...augmentKernels(runnerOf),
      ],
    );
    // tfjs's weight gradient of a convolution runs one thread per filter value; ours splits the sum.
    const tfjsFilterGrad = tf.getKernel(tf.Conv2DBackpropFilter, WEBGPU_BACKEND);
    if (tfjsFilterGrad) {
      tf.unregisterKernel(tf.Conv2DBackpropFilter, WEBGPU_BACKEND);
      tf.registerKernel(convFilterGradKernel(runnerOf, tfjsFilterGrad));
    }
    fuseReluGradient();
    registerStepCompiler(WEBGPU_BACKEND, (spec) => {
      const active = tf.backend() as WebGpuBackend;
      return new WebGpuCompiledStep(active, installHostPath(active), spec);
    });
    kernelsRegistered = true;
  }
  return { backend, host, runner };
}

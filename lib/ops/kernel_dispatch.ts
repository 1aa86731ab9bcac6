/**
 * How an op chooses between a backend's fused kernel and plain tfjs ops:
 * {@linkcode onBackend} asks whether the active backend registers a kernel,
 * and {@linkcode registerGradientOnce} gives a fused kernel its gradient the
 * first time the op runs it. Nothing is registered at import time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Whether the active backend registers `kernel`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { onBackend } from "./kernel_dispatch.ts";
 * await tf.setBackend("cpu");
 * assert.equal(onBackend("Add"), true);
 * assert.equal(onBackend("NoSuchKernel"), false);
 * ```
 */
export function onBackend(kernel: string): boolean {
  return tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/** Kernels whose gradient {@linkcode registerGradientOnce} has registered. */
const registered = new Set<string>();

/**
 * Registers `config`, the gradient of a fused kernel, on the first call for
 * its kernel and does nothing on later ones: an op calls it just before it
 * runs the kernel, so the gradient exists exactly when it may be needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { registerGradientOnce } from "./kernel_dispatch.ts";
 * const config = { kernelName: "ExampleKernel", gradFunc: (dy: tf.Tensor | tf.Tensor[]) => ({ x: () => dy as tf.Tensor }) };
 * registerGradientOnce(config);
 * registerGradientOnce(config); // no second registration, no warning
 * assert.equal(tf.getGradient("ExampleKernel"), config);
 * ```
 */
export function registerGradientOnce(config: tf.GradConfig): void {
  if (registered.has(config.kernelName)) return;
  registered.add(config.kernelName);
  tf.registerGradient(config);
}

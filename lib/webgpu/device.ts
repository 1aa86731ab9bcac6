/**
 * The WebGPU device tfjs's backend runs on: tfjs's own request (its
 * adapter, features and limits) plus as many storage buffers a kernel as the
 * adapter offers, up to {@linkcode STORAGE_BUFFERS_WANTED}. WebGPU's
 * default is 8, which lets one SGD dispatch update one parameter; a device
 * with 32 (lavapipe) updates six, and the running averages of five batch
 * norms: a ResNet20 step makes 64 fewer dispatches.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import { SLOTS_MAX } from "./program.ts";

/**
 * Storage buffers a kernel binds at most that this plugin asks for: the
 * running averages of {@linkcode SLOTS_MAX} batch norms (six buffers each)
 * in one dispatch.
 */
export const STORAGE_BUFFERS_WANTED = 6 * SLOTS_MAX;

/** The limits to request of an adapter with `limits`: tfjs's, and the storage buffers a kernel may bind. */
export function deviceLimits(limits: GPUSupportedLimits): Record<string, number> {
  return {
    // What tfjs's own backend factory asks for.
    maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
    maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
    maxBufferSize: limits.maxBufferSize,
    maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
    maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, STORAGE_BUFFERS_WANTED),
  };
}

/**
 * Has tfjs make its `webgpu` backend on a device requested with
 * {@linkcode deviceLimits} (in place of tfjs's own factory), unless the
 * backend was already made. Call before `tf.setBackend("webgpu")`.
 */
export function requestOwnDevice(): void {
  if (tf.findBackend(WEBGPU_BACKEND) || !tf.findBackendFactory(WEBGPU_BACKEND)) return;
  tf.removeBackend(WEBGPU_BACKEND);
  tf.registerBackend(WEBGPU_BACKEND, async () => {
    const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
    const powerPreference = tf.env().get("WEBGPU_USE_LOW_POWER_GPU") ? "low-power" : "high-performance";
    const adapter = await navigator.gpu.requestAdapter({ powerPreference });
    if (!adapter) throw new Error("navigator.gpu.requestAdapter() gave no adapter");
    const requiredFeatures = (["timestamp-query", "bgra8unorm-storage"] as GPUFeatureName[])
      .filter((f) => adapter.features.has(f));
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: deviceLimits(adapter.limits),
    });
    return new WebGPUBackend(device, adapter.info);
  }, 3);
}

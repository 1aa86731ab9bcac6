/**
 * The device the WebGPU plugin asks for (`lib/webgpu/device.ts`): tfjs's
 * limits, and as many storage buffers a kernel as the adapter offers up to
 * what the plugin's kernels use.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { deviceLimits, STORAGE_BUFFERS_WANTED } from "../../lib/webgpu/device.ts";
import type { WebGpuBackend } from "../../lib/webgpu/backend_internals.ts";
import { gpuTest } from "./helpers.ts";

const ADAPTER = {
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBufferBindingSize: 1 << 30,
  maxBufferSize: 1 << 31,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxStorageBuffersPerShaderStage: 1 << 20,
} as GPUSupportedLimits;

Deno.test("deviceLimits(): tfjs's limits; storage buffers up to what the kernels use, never past the adapter", () => {
  const { maxStorageBuffersPerShaderStage: wanted, ...tfjs } = deviceLimits(ADAPTER);
  const { maxStorageBuffersPerShaderStage: offered, ...adapter } = ADAPTER;
  assert.deepEqual(tfjs, adapter);
  assert.ok(offered > STORAGE_BUFFERS_WANTED);
  assert.equal(wanted, STORAGE_BUFFERS_WANTED);
  assert.equal(
    deviceLimits({ ...ADAPTER, maxStorageBuffersPerShaderStage: 10 }).maxStorageBuffersPerShaderStage,
    10,
  );
});

Deno.test(
  "the webgpu backend runs on a device with the adapter's storage buffers (up to the wanted)",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const device = (tf.backend() as WebGpuBackend).device;
    const adapter = (await navigator.gpu.requestAdapter({ powerPreference: "high-performance" }))!;
    const want = Math.min(adapter.limits.maxStorageBuffersPerShaderStage, STORAGE_BUFFERS_WANTED);
    assert.equal(device.limits.maxStorageBuffersPerShaderStage, want);
    if (adapter.features.has("timestamp-query")) assert.ok(device.features.has("timestamp-query"));
  },
);

/**
 * The parts of tfjs-backend-webgpu 4.22's `WebGPUBackend` this plugin uses:
 * its device, its command encoder and compute pass, its buffer pool and its
 * per-tensor storage. tfjs does not export these as types; naming them in
 * one place keeps every reach into the backend visible, and the version is
 * pinned in deno.json. (Deno loads the package's CommonJS bundle, where each
 * method is a prototype property: setting one on the instance overrides it
 * for that backend only.)
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";

/** The tfjs backend name. */
export const WEBGPU_BACKEND = "webgpu";

/** One tensor's storage (`backend.tensorMap.get(dataId)`). */
export interface TensorData {
  dtype: tf.DataType;
  shape: number[];
  /** Host values, when the data is (also) on the CPU. */
  values: tf.backend_util.BackendValues | null | undefined;
  refCount: number;
  /** The GPU buffer, once uploaded or written by a kernel. */
  resource?: GPUBuffer | null;
  /** A buffer tfjs does not own: never returned to the pool. */
  external?: boolean;
}

/** tfjs's buffer pool: free and used buffers keyed by `${size}_${usage}`. */
export interface BufferManager {
  acquireBuffer(size: number, usage: number, mappedAtCreation?: boolean, reuse?: boolean): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  freeBuffers: Map<string, GPUBuffer[]>;
  usedBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numUsedBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
}

/** A uniform binding as tfjs builds it. */
export interface UniformBinding {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** One uniform field as `makeUniforms` takes it. */
export interface ProgramUniform {
  type: "int32" | "uint32" | "float32";
  data: number[];
}

/** `tf.backend()` when the `webgpu` backend is active. */
export interface WebGpuBackend extends tf.KernelBackend {
  device: GPUDevice;
  queue: GPUQueue;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  dispatchCountInPass: number;
  commandQueueOwnedIds: WeakSet<object>;
  tensorMap: { get(dataId: object): TensorData; has(dataId: object): boolean };
  bufferManager: BufferManager;
  adapterInfo?: { vendor?: string; architecture?: string };
  activeTimers?: unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  makeUniforms(uniforms: ProgramUniform[]): UniformBinding;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The buffer holding tensor `t` on the GPU (uploading it first if needed). */
export function bufferOf(backend: WebGpuBackend, t: tf.TensorInfo): GPUBuffer {
  backend.uploadToGPU(t.dataId);
  const resource = backend.tensorMap.get(t.dataId).resource;
  if (!(resource instanceof GPUBuffer)) throw new Error(`Tensor ${t.shape} has no GPU buffer`);
  return resource;
}

/** Submits what is recorded so far, if anything. */
export function flush(backend: WebGpuBackend): void {
  if (!backend.commandEncoder) return;
  backend.endComputePassEncoder();
  backend.submitQueue();
}

/** The key of `buffer`'s lists in tfjs's pool. */
export function poolKey(buffer: GPUBuffer): string {
  return `${buffer.size}_${buffer.usage}`;
}

/** Removes `b` from the pool's `free` or `used` list, with its counts; true if it was there. */
export function takeFromPool(pool: BufferManager, b: GPUBuffer, list: "free" | "used"): boolean {
  const buffers = (list === "free" ? pool.freeBuffers : pool.usedBuffers).get(poolKey(b));
  const i = buffers?.indexOf(b) ?? -1;
  if (i < 0) return false;
  buffers!.splice(i, 1);
  if (list === "free") pool.numFreeBuffers--;
  else {
    pool.numUsedBuffers--;
    pool.numBytesUsed -= b.size;
  }
  return true;
}

/** Hands `b` (allocated outside the pool) to the pool as a used buffer, counted as allocated. */
export function giveToPool(pool: BufferManager, b: GPUBuffer): void {
  const key = poolKey(b);
  if (!pool.usedBuffers.has(key)) pool.usedBuffers.set(key, []);
  pool.usedBuffers.get(key)!.push(b);
  pool.numUsedBuffers++;
  pool.numBytesUsed += b.size;
  pool.numBytesAllocated += b.size;
}

/**
 * A cheaper host path for tfjs-backend-webgpu, installed on the backend
 * instance from outside (tfjs itself is not modified):
 *
 * - **Uniforms in one arena per submit.** tfjs writes every program's
 *   uniforms (shapes, strides) with its own `queue.writeBuffer` into a pooled
 *   buffer; in Deno (wgpu) every `writeBuffer` allocates a staging buffer,
 *   and every buffer allocation queries the driver's memory budget. Here the
 *   uniforms go into a host arena at offsets aligned to
 *   `minUniformBufferOffsetAlignment`, bound as slices of one GPU buffer
 *   that is written once, just before the submit that uses it.
 * - **Scalars cached.** A step uploads ~300 one-element constants (momentum,
 *   epsilon, divisors); each was a fresh mapped staging buffer, a copy and a
 *   compute-pass break. One persistent buffer per (dtype, value) is uploaded
 *   once and shared (tfjs never writes to an input's buffer).
 * - **Uploads by `writeBuffer`** into pooled buffers, instead of a mapped
 *   staging buffer created and destroyed per upload: queue-ordered before
 *   the pending command encoder, so no compute pass is broken.
 * - **Bind groups reused.** tfjs creates a bind group for every dispatch
 *   (tens of microseconds each in Deno); the same pipeline bound to the same
 *   buffer slices gets the same bind group back. In steady state a training
 *   step binds the same pooled buffers and arena offsets every time, so
 *   eager steps create none.
 *
 * Results are identical: only where bytes travel changes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type BufferManager,
  flush,
  poolKey,
  type ProgramUniform,
  type TensorData,
  type UniformBinding,
  type WebGpuBackend,
} from "./backend_internals.ts";

/** Bytes of the uniform arena; a submit is forced when a step needs more. */
export const UNIFORM_ARENA_BYTES = 1 << 20;
/** Most distinct scalar constants kept on the GPU. */
export const MAX_CACHED_SCALARS = 4096;
/** Most bind groups kept for reuse (the least recently used goes first). */
export const MAX_CACHED_BIND_GROUPS = 4096;

/**
 * Packs uniform fields as WGSL lays out a struct of scalars and vectors:
 * 1 value aligned to 4 bytes, 2 to 8, 3-6 to 16 (a field after a 5- or
 * 6-value field also to 16), the size rounded to the largest alignment.
 * The same layout tfjs's shaders declare.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packUniforms } from "./host_path.ts";
 * const bytes = packUniforms([{ type: "float32", data: [1] }, { type: "int32", data: [2, 3, 4] }]);
 * assert.equal(bytes.byteLength, 32); // 4 bytes, padding to 16, then 12 bytes, rounded to 16
 * assert.deepEqual([...new Int32Array(bytes.buffer, 16, 3)], [2, 3, 4]);
 * ```
 */
export function packUniforms(fields: readonly ProgramUniform[]): Uint8Array {
  let offset = 0, previous = 0, maxAlign = 1;
  const offsets: number[] = [];
  for (const f of fields) {
    const n = Math.max(f.data.length, 1);
    if (n > 6) throw new Error(`Uniform field of ${n} values: tfjs's layout has at most 6`);
    let align = n === 1 ? 4 : n === 2 ? 8 : 16;
    if (previous === 5 || previous === 6) align = 16;
    maxAlign = Math.max(maxAlign, align);
    offset = Math.ceil(offset / align) * align;
    offsets.push(offset);
    offset += n * 4;
    previous = n;
  }
  const bytes = new Uint8Array(Math.ceil(offset / maxAlign) * maxAlign);
  fields.forEach((f, i) => {
    const data = f.data.length ? f.data : [1];
    const Array_ = f.type === "int32" ? Int32Array : f.type === "uint32" ? Uint32Array : Float32Array;
    new Array_(bytes.buffer, offsets[i], data.length).set(data);
  });
  return bytes;
}

/** The uniform arena of one backend. */
export class UniformArena {
  readonly buffer: GPUBuffer;
  readonly #host: Uint8Array<ArrayBuffer>;
  readonly #align: number;
  #used = 0;

  /** Creates the arena's GPU buffer on `device`. */
  constructor(device: GPUDevice, bytes = UNIFORM_ARENA_BYTES) {
    this.buffer = device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.#host = new Uint8Array(bytes);
    this.#align = device.limits.minUniformBufferOffsetAlignment;
  }

  /** Whether `bytes` more fit before the next submit. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.#host.length;
  }

  /** Copies `bytes` into the arena; the binding is valid for the next submit. */
  push(bytes: Uint8Array): UniformBinding {
    if (!this.fits(bytes.length)) throw new Error(`Uniform arena full (${this.#host.length} bytes)`);
    const offset = this.#used;
    this.#host.set(bytes, offset);
    this.#used = Math.ceil((offset + bytes.length) / this.#align) * this.#align;
    return { buffer: this.buffer, offset, size: bytes.length };
  }

  /** The bytes at `offset` of the pending submit (for a recorder). */
  bytesAt(offset: number, size: number): Uint8Array {
    return this.#host.slice(offset, offset + size);
  }

  /** Writes the pending bytes to the GPU (one `writeBuffer`) and starts over. */
  flush(queue: GPUQueue): void {
    if (this.#used === 0) return;
    queue.writeBuffer(this.buffer, 0, this.#host, 0, this.#used);
    this.#used = 0;
  }

  /** Frees the GPU buffer. */
  destroy(): void {
    this.buffer.destroy();
  }
}

/**
 * Bind groups by what they bind: a layout and, per entry, a buffer slice.
 * A bind group is immutable, so one made for the same layout and slices is
 * the same bind group. Objects are told apart by identity (a numbered
 * `WeakMap`), so a buffer that is destroyed and dropped is never matched
 * again; its groups age out of the cache. Descriptors binding anything but
 * buffers (textures, samplers) are not cached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BindGroupCache } from "./host_path.ts";
 * const cache = new BindGroupCache(2);
 * const layout = {} as GPUBindGroupLayout, buffer = { size: 64 } as GPUBuffer;
 * const d = (offset: number) => ({ layout, entries: [{ binding: 0, resource: { buffer, offset } }] });
 * let made = 0;
 * const create = () => ({ n: ++made }) as unknown as GPUBindGroup;
 * const a = cache.get(d(0), create);
 * assert.equal(cache.get(d(0), create), a); // the same slice: reused
 * assert.notEqual(cache.get(d(32), create), a); // another slice: a new group
 * assert.deepEqual([cache.hits, cache.misses, made], [1, 2, 2]);
 * ```
 */
export class BindGroupCache {
  /** Lookups answered from the cache. */
  hits = 0;
  /** Lookups that created a bind group. */
  misses = 0;
  readonly #id = objectIds();
  readonly #groups = new Map<string, GPUBindGroup>();
  readonly #descriptors = new WeakMap<GPUBindGroup, GPUBindGroupDescriptor>();

  /** A cache of at most `capacity` bind groups. */
  constructor(readonly capacity: number = MAX_CACHED_BIND_GROUPS) {}

  /** Bind groups held now. */
  get size(): number {
    return this.#groups.size;
  }

  /** The bind group for `descriptor`: a cached one, or `create()`'s. */
  get(descriptor: GPUBindGroupDescriptor, create: () => GPUBindGroup): GPUBindGroup {
    const key = this.#key(descriptor);
    if (key === null) return create();
    const cached = this.#groups.get(key);
    if (cached) {
      this.hits++;
      // Most recently used last: Map keeps insertion order.
      this.#groups.delete(key);
      this.#groups.set(key, cached);
      return cached;
    }
    this.misses++;
    const group = create();
    this.#groups.set(key, group);
    this.#descriptors.set(group, descriptor);
    if (this.#groups.size > this.capacity) this.#groups.delete(this.#groups.keys().next().value!);
    return group;
  }

  /** The descriptor a cached bind group was made from (undefined for one the cache did not make). */
  descriptorOf(group: GPUBindGroup): GPUBindGroupDescriptor | undefined {
    return this.#descriptors.get(group);
  }

  /** Forgets every bind group. */
  clear(): void {
    this.#groups.clear();
  }

  #key(d: GPUBindGroupDescriptor): string | null {
    let key = `${this.#id(d.layout)}`;
    for (const e of d.entries) {
      const r = e.resource as GPUBufferBinding;
      if (typeof r !== "object" || r === null || !("buffer" in r)) return null;
      key += `|${e.binding}:${this.#id(r.buffer)}:${r.offset ?? 0}:${r.size ?? "*"}`;
    }
    return key;
  }
}

/** What {@linkcode installHostPath} adds to a backend. */
export interface HostPath {
  readonly arena: UniformArena;
  /** Distinct scalar constants held on the GPU. */
  readonly cachedScalars: number;
  /** The binding of uniform `fields` for the next dispatch (arena slice). */
  uniforms(fields: readonly ProgramUniform[]): UniformBinding;
  /** Whether `buffer` holds a cached scalar constant (shared, never written). */
  isCachedScalar(buffer: GPUBuffer): boolean;
  /** The device's bind groups, reused by layout and buffer slices. */
  readonly bindGroups: BindGroupCache;
}

const installedOn = new WeakMap<WebGpuBackend, HostPath>();

/**
 * Installs the cheaper host path on `backend` (idempotent) and returns it.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * await tf.setBackend("webgpu");
 * installHostPath(tf.backend() as WebGpuBackend);
 * ```
 */
export function installHostPath(backend: WebGpuBackend): HostPath {
  const existing = installedOn.get(backend);
  if (existing) return existing;
  const device = backend.device;
  const arena = new UniformArena(device);
  const scalars = new Map<string, GPUBuffer>();
  const scalarBuffers = new WeakSet<GPUBuffer>();

  const uniforms = (fields: readonly ProgramUniform[]): UniformBinding => {
    const bytes = packUniforms(fields);
    // makeUniforms runs before the bind group and the dispatch are recorded,
    // so submitting the work so far here is safe.
    if (!arena.fits(bytes.length)) flush(backend);
    return arena.push(bytes);
  };
  backend.makeUniforms = (fields) => uniforms(fields);

  const submit = backend.submitQueue.bind(backend);
  backend.submitQueue = () => {
    arena.flush(backend.queue);
    submit();
  };

  const upload = backend.uploadToGPU.bind(backend);
  backend.uploadToGPU = (dataId: object) => {
    const data = backend.tensorMap.get(dataId);
    if (data.resource != null) return;
    const count = tf.util.sizeFromShape(data.shape);
    if (count === 0 || !["float32", "int32", "bool"].includes(data.dtype)) return upload(dataId);
    if (data.values != null && count === 1 && scalars.size < MAX_CACHED_SCALARS) {
      data.resource = cachedScalar(device, scalars, data);
      scalarBuffers.add(data.resource);
      // Shared and never released by tfjs: the cache owns it.
      data.external = true;
      data.values = null;
      return;
    }
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = backend.bufferManager.acquireBuffer(4 * count, usage);
    if (data.values != null) {
      backend.queue.writeBuffer(buffer, 0, gpuValues(data));
      data.values = null;
    }
    data.resource = buffer;
  };

  // tfjs asks its pipeline for the layout at every dispatch, and each call
  // returns a new object: one layout per pipeline keeps cache keys stable.
  memoizeBindGroupLayouts();
  const bindGroups = new BindGroupCache();
  // Looked up at each call, so prototype wrappers (call counters) see
  // every bind group actually made.
  const createBindGroup = (d: GPUBindGroupDescriptor) => GPUDevice.prototype.createBindGroup.call(device, d);
  device.createBindGroup = (d) => bindGroups.get(d, () => createBindGroup(d));

  reuseBuffersInOrder(backend.bufferManager);

  const path: HostPath = {
    arena,
    get cachedScalars() {
      return scalars.size;
    },
    uniforms,
    isCachedScalar: (buffer) => scalarBuffers.has(buffer),
    bindGroups,
  };
  installedOn.set(backend, path);
  return path;
}

/**
 * Keeps each of tfjs's free lists ordered so that a buffer is always taken
 * from the lowest-numbered free ones (the pool pops the last). Which buffer
 * an op gets then depends only on which are free, not on the order earlier
 * steps released them: identical steps bind identical buffers, and their
 * bind groups come from the cache.
 */
function reuseBuffersInOrder(pool: BufferManager): void {
  const id = objectIds();
  const release = pool.releaseBuffer.bind(pool);
  pool.releaseBuffer = (buffer, reuse = true) => {
    release(buffer, reuse);
    const free = pool.freeBuffers.get(poolKey(buffer));
    if (!reuse || free?.[free.length - 1] !== buffer) return;
    // Highest ids first: move the released buffer down to its place.
    const n = id(buffer);
    let i = free.length - 1;
    for (; i > 0 && id(free[i - 1]) < n; i--) free[i] = free[i - 1];
    free[i] = buffer;
  };
}

/**
 * Numbers objects by identity, in the order first seen. Held weakly, so a
 * dropped object's number is never given to another.
 */
function objectIds(): (o: object) => number {
  const ids = new WeakMap<object, number>();
  let next = 0;
  return (o) => {
    let id = ids.get(o);
    if (id === undefined) ids.set(o, id = next++);
    return id;
  };
}

let layoutsMemoized = false;

/** Makes `GPUComputePipeline.getBindGroupLayout(i)` return one object per pipeline and index. */
function memoizeBindGroupLayouts(): void {
  if (layoutsMemoized) return;
  layoutsMemoized = true;
  const proto = GPUComputePipeline.prototype;
  const original = proto.getBindGroupLayout;
  const layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout[]>();
  proto.getBindGroupLayout = function (this: GPUComputePipeline, index: number): GPUBindGroupLayout {
    let own = layouts.get(this);
    if (!own) layouts.set(this, own = []);
    return own[index] ??= original.call(this, index);
  };
}

/** The values as the GPU holds them: float32, or int32 for int32 and bool. */
function gpuValues(data: TensorData): Float32Array<ArrayBuffer> | Int32Array<ArrayBuffer> {
  const values = data.values as ArrayLike<number>;
  const own = (a: Float32Array | Int32Array) => a.buffer instanceof ArrayBuffer;
  if (data.dtype === "float32") {
    return values instanceof Float32Array && own(values)
      ? values as Float32Array<ArrayBuffer>
      : Float32Array.from(values);
  }
  return values instanceof Int32Array && own(values)
    ? values as Int32Array<ArrayBuffer>
    : Int32Array.from(values);
}

function cachedScalar(device: GPUDevice, cache: Map<string, GPUBuffer>, data: TensorData): GPUBuffer {
  const value = gpuValues(data);
  const key = `${data.dtype === "float32" ? "f" : "i"}${
    new Uint32Array(value.buffer, value.byteOffset, 1)[0]
  }`;
  let buffer = cache.get(key);
  if (!buffer) {
    buffer = device.createBuffer({
      size: 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(value.buffer, value.byteOffset, 4));
    buffer.unmap();
    cache.set(key, buffer);
  }
  return buffer;
}

/**
 * Recycled float32 output buffers for the `native` backend. A fresh
 * `Float32Array` is zero-filled by V8 (and page-faulted in by the kernel):
 * for the ~80 multi-megabyte outputs of a ResNet20 training step that cost
 * ~70 ms of a ~700 ms step on the 2-core box. Kernels that overwrite every
 * element of their output take buffers from here; the backend gives a
 * buffer back when tfjs disposes its tensor.
 *
 * A buffer is recycled only if nothing else can still see it: it must have
 * come from {@linkcode BufferPool.take}, and must not have been
 * {@linkcode BufferPool.pin}ned, which the backend does to every buffer it
 * hands out (`read`, `readSync`: callers keep the array) and to the inputs of
 * the `cpu` kernels it reuses (some return views, e.g. a simple `Slice`).
 *
 * @module
 */

/** Smallest buffer worth recycling (values); smaller ones are cheap to allocate. */
export const POOL_MIN_VALUES = 1 << 14;

/**
 * Free buffers by length, up to `maxBytes` in all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferPool } from "./buffer_pool.ts";
 * const pool = new BufferPool(1 << 26); // keep up to 64 MiB of free buffers
 * const a = pool.take(1 << 16);
 * pool.release(a); // tfjs disposed the tensor that held it
 * assert.equal(pool.freeBytes, 4 << 16);
 * assert.equal(pool.take(1 << 16), a); // recycled, old contents and all
 * pool.pin(a); // handed out by read(): never recycled
 * pool.release(a);
 * assert.equal(pool.freeBytes, 0);
 * ```
 */
export class BufferPool {
  readonly maxBytes: number;
  #free = new Map<number, Float32Array[]>();
  /** Buffers from take() that may come back: pinning removes them. */
  #owned = new WeakSet<Float32Array>();
  #idle = new WeakSet<Float32Array>();
  #bytes = 0;

  /** Keeps at most `maxBytes` of free buffers. */
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** Bytes held in free buffers now. */
  get freeBytes(): number {
    return this.#bytes;
  }

  /**
   * A buffer of `n` values: a recycled one (old contents: the caller must
   * write every element) or a new, zeroed one.
   */
  take(n: number): Float32Array {
    const a = this.#free.get(n)?.pop();
    if (a) {
      this.#idle.delete(a);
      this.#bytes -= a.byteLength;
      return a;
    }
    const b = new Float32Array(n);
    if (n >= POOL_MIN_VALUES) this.#owned.add(b);
    return b;
  }

  /** Marks `a` as visible outside the backend: it is never recycled. */
  pin(a: unknown): void {
    if (a instanceof Float32Array) this.#owned.delete(a);
  }

  /** Takes `a` back if it came from {@linkcode take}, is not pinned and fits. */
  release(a: unknown): void {
    if (
      !(a instanceof Float32Array) || !this.#owned.has(a) || this.#idle.has(a) ||
      this.#bytes + a.byteLength > this.maxBytes
    ) {
      return;
    }
    let list = this.#free.get(a.length);
    if (!list) this.#free.set(a.length, list = []);
    list.push(a);
    this.#idle.add(a);
    this.#bytes += a.byteLength;
  }
}

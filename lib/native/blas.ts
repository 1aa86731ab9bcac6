/**
 * `cblas_sgemm` from a system BLAS (OpenBLAS, a CBLAS-carrying `libblas.so.3`
 * or macOS Accelerate) over Deno FFI, for the native backend's convolution
 * fallback when oneDNN is absent.
 *
 * @module
 */

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32", // order
      "i32", // transA
      "i32", // transB
      "i32", // M
      "i32", // N
      "i32", // K
      "f32", // alpha
      "buffer", // A
      "i32", // lda
      "buffer", // B
      "i32", // ldb
      "f32", // beta
      "buffer", // C
      "i32", // ldc
    ],
    result: "void",
  },
  openblas_set_num_threads: {
    parameters: ["i32"],
    result: "void",
    optional: true,
  },
  openblas_get_num_threads: {
    parameters: [],
    result: "i32",
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * Products below this many multiply-adds run on one thread: OpenBLAS would
 * split Lab 1's `[100, 64] x [64, 64]` (410k) across both cores, and waking
 * the second thread costs more than the product (on the loaded 2-core box,
 * ~500 us a call against ~20 us on one thread).
 */
export const SINGLE_THREAD_MACS = 1 << 21;

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

/** Options for {@linkcode Blas.sgemm}. */
export interface SgemmOptions {
  /** Use A transposed (A is stored `[K, M]`). @default {false} */
  transA?: boolean;
  /** Use B transposed (B is stored `[N, K]`). @default {false} */
  transB?: boolean;
  /** Scale of the existing C (`0` overwrites it). @default {0} */
  beta?: number;
}

/**
 * A CBLAS library opened with `Deno.dlopen`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Blas } from "./blas.ts";
 * const blas = Blas.open("libopenblas.so.0"); // or any of BLAS_CANDIDATES (ffi.ts)
 * const a = Float32Array.of(1, 2, 3, 4); // [[1, 2], [3, 4]]
 * const c = new Float32Array(4);
 * blas.sgemm([2, 2, 2], [a, Float32Array.of(1, 0, 0, 1), c]); // C = A I
 * assert.deepEqual(c, a);
 * blas.sgemm([2, 2, 2], [a, Float32Array.of(1, 0, 0, 1), c], { transA: true }); // C = A^T I
 * assert.deepEqual(c, Float32Array.of(1, 3, 2, 4));
 * ```
 */
export class Blas {
  /** The path it was opened from. */
  readonly path: string;
  #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  /** OpenBLAS's own thread count, for large products (0: not OpenBLAS). */
  readonly #threads: number;
  /** The thread count set now. */
  #current: number;

  private constructor(path: string) {
    this.path = path;
    this.#lib = Deno.dlopen(path, SYMBOLS);
    this.#threads = this.#lib.symbols.openblas_get_num_threads?.() ?? 0;
    this.#current = this.#threads;
  }

  /** Opens `path`; throws if it cannot be loaded or lacks `cblas_sgemm`. */
  static open(path: string): Blas {
    return new Blas(path);
  }

  /** Makes `n` OpenBLAS's thread count now, calling it only on a change. */
  #use(n: number): void {
    if (n === this.#current) return;
    this.#lib.symbols.openblas_set_num_threads?.(n);
    this.#current = n;
  }

  /**
   * Row-major `C[M, N] = op(A) op(B) + beta C` with dense strides (`lda` is
   * K, or M when transposed; likewise for B). Products of fewer than
   * {@linkcode SINGLE_THREAD_MACS} multiply-adds run on one OpenBLAS thread.
   */
  sgemm(
    [m, n, k]: [number, number, number],
    [a, b, c]: [Float32Array, Float32Array, Float32Array],
    options: SgemmOptions = {},
  ): void {
    const transA = options.transA ?? false;
    const transB = options.transB ?? false;
    if (this.#threads > 1) this.#use(m * n * k < SINGLE_THREAD_MACS ? 1 : this.#threads);
    this.#lib.symbols.cblas_sgemm(
      ROW_MAJOR,
      transA ? TRANS : NO_TRANS,
      transB ? TRANS : NO_TRANS,
      m,
      n,
      k,
      1,
      a as Float32Array<ArrayBuffer>,
      transA ? m : k,
      b as Float32Array<ArrayBuffer>,
      transB ? k : n,
      options.beta ?? 0,
      c as Float32Array<ArrayBuffer>,
      n,
    );
  }
}

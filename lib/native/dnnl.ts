/**
 * Thin oneDNN 2.x (`libdnnl.so.2`) binding over Deno FFI: engine, stream,
 * memory descriptors, primitive creation (with an optional ReLU post-op) and
 * execution. Only what the native backend's kernels need: convolution, batch
 * norm, element-wise and binary primitives.
 *
 * Struct sizes and enum values below are those of oneDNN 2.6's C headers
 * (`dnnl_types.h`); oneDNN 3.x changed the API (opaque memory descriptors,
 * `*_primitive_desc_create` per op), so {@linkcode Dnnl.open} refuses it.
 *
 * Memory safety: data pointers are handed to oneDNN only for the duration of
 * one {@linkcode DnnlPrimitive.run} call, while the caller's TypedArrays are
 * alive; no pointer to a JS buffer is kept afterwards.
 *
 * @module
 */
import { pinLibrary } from "./pin.ts";

/** Byte size of `dnnl_memory_desc_t` in oneDNN 2.x. */
const MEMORY_DESC_BYTES = 696;
/** Byte size of the largest op descriptor we build (convolution: 5976). */
const OP_DESC_BYTES = 8192;
/** `DNNL_MAX_NDIMS`: length of every `dnnl_dims_t` array. */
const MAX_NDIMS = 12;

/** oneDNN enum values (2.x headers). */
export const DNNL = {
  f32: 3,
  tagAny: 1,
  tagA: 2,
  tagNhwc: 20,
  tagHwio: 30,
  forwardTraining: 64,
  forwardInference: 96,
  backward: 128,
  convolutionDirect: 1,
  convolutionWinograd: 2,
  eltwiseRelu: 0x1f,
  binaryAdd: 0x1fff0,
  argSrc: 1,
  argSrc1: 2,
  argDst: 17,
  argWeights: 33,
  argMean: 49,
  argVariance: 50,
  argScale: 51,
  argShift: 52,
  argWorkspace: 64,
  argDiffSrc: 129,
  argDiffDst: 145,
  argDiffWeights: 161,
  argDiffScale: 255,
  argDiffShift: 256,
  useGlobalStats: 1,
  useScale: 8,
  useShift: 16,
  fuseNormRelu: 4,
  querySrcMd: 129,
  queryDiffSrcMd: 130,
  queryWeightsMd: 131,
  queryDiffWeightsMd: 132,
  queryDstMd: 133,
  queryDiffDstMd: 134,
  queryImplInfoStr: 8,
  queryExecArgMd: 255,
} as const;

const STATUS = [
  "success",
  "out of memory",
  "invalid arguments",
  "unimplemented",
  "iterator ends",
  "runtime error",
  "not required",
];

const SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: {
    parameters: ["buffer", "pointer", "u32"],
    result: "i32",
  },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_set_data_handle: {
    parameters: ["pointer", "buffer"],
    result: "i32",
  },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_batch_normalization_forward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_batch_normalization_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "u32"],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_binary_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_primitive_attr_set_post_ops: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_append_eltwise: { parameters: ["pointer", "f32", "i32", "f32", "f32"], result: "i32" },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_iterator_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_iterator_next: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_desc_iterator_fetch: { parameters: ["pointer"], result: "pointer" },
  dnnl_primitive_desc_iterator_destroy: { parameters: ["pointer"], result: "i32" },
  dnnl_primitive_desc_query: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: {
    parameters: ["pointer", "i32", "i32"],
    result: "pointer",
  },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type DnnlSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/**
 * Error raised when a oneDNN call returns a non-success status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DNNL, Dnnl, DnnlError } from "./dnnl.ts";
 * const dnnl = Dnnl.open("libdnnl.so.2");
 * assert.throws(() => dnnl.memoryDesc([-4], DNNL.tagA), DnnlError); // a negative dimension
 * assert.equal(
 *   new DnnlError("dnnl_primitive_execute", 2).message,
 *   `oneDNN call "dnnl_primitive_execute" failed with status 2 (invalid arguments)`,
 * );
 * ```
 */
export class DnnlError extends Error {
  /**
   * @param call The oneDNN function that failed.
   * @param status Its `dnnl_status_t`.
   */
  constructor(call: string, status: number) {
    super(
      `oneDNN call "${call}" failed with status ${status} (${STATUS[status] ?? "unknown"})`,
    );
    this.name = "DnnlError";
  }
}

/**
 * Raised by {@linkcode Dnnl.open} for a oneDNN whose major version is not 2
 * (oneDNN 3.x has another C API), before any 2.x symbol is looked up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnsupportedDnnlError } from "./dnnl.ts";
 * const e = new UnsupportedDnnlError("3.1.0", "libdnnl.so.3");
 * // What loadNativeLibraries() (ffi.ts) reports, by version and path, before trying a BLAS.
 * assert.deepEqual([e.version, e.path], ["3.1.0", "libdnnl.so.3"]);
 * assert.equal(
 *   e.message,
 *   `Unsupported oneDNN version "3.1.0" at libdnnl.so.3: lib/native/dnnl.ts speaks the 2.x C API`,
 * );
 * ```
 */
export class UnsupportedDnnlError extends Error {
  /** The library's version, `"major.minor.patch"`. */
  readonly version: string;
  /** The path it was opened from. */
  readonly path: string;

  /**
   * @param version The library's `"major.minor.patch"`.
   * @param path The path it was opened from.
   */
  constructor(version: string, path: string) {
    super(`Unsupported oneDNN version "${version}" at ${path}: lib/native/dnnl.ts speaks the 2.x C API`);
    this.name = "UnsupportedDnnlError";
    this.version = version;
    this.path = path;
  }
}

/**
 * The version of the oneDNN at `path`, any major version, from
 * `dnnl_version` alone (a 3.x lacks 2.x symbols that
 * {@linkcode Dnnl.open} binds). Throws if `path` does not load or has no
 * `dnnl_version`.
 */
function probeVersion(path: string): string {
  const lib = Deno.dlopen(path, { dnnl_version: SYMBOLS.dnnl_version });
  try {
    // A `dnnl_version_t*`: major, minor, patch as int32 first.
    const v = lib.symbols.dnnl_version();
    if (v === null) throw new DnnlError("dnnl_version", 5);
    const view = new Deno.UnsafePointerView(v);
    return `${view.getInt32(0)}.${view.getInt32(4)}.${view.getInt32(8)}`;
  } finally {
    lib.close();
  }
}

/** One tensor argument of a primitive: which `DNNL_ARG_*`, and its layout. */
interface ArgSlot {
  arg: number;
  memory: Deno.PointerObject;
}

/**
 * A created oneDNN primitive plus one memory object per argument; run it
 * with TypedArrays bound to each argument for the duration of the call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DNNL, Dnnl } from "./dnnl.ts";
 * const dnnl = Dnnl.open("libdnnl.so.2");
 * // A ReLU over 4 values: op descriptor, primitive descriptor, primitive.
 * const md = dnnl.memoryDesc([4], DNNL.tagA);
 * const desc = dnnl.opDesc("dnnl_eltwise_forward_desc_init", (b) =>
 *   dnnl.symbols.dnnl_eltwise_forward_desc_init(b, DNNL.forwardInference, DNNL.eltwiseRelu, md, 0, 0));
 * const relu = dnnl.primitiveForArgs(dnnl.primitiveDesc(desc), [DNNL.argSrc, DNNL.argDst]);
 * const y = new Float32Array(4);
 * relu.run([Float32Array.of(-2, -1, 1, 2), y]); // one array per argument, in order
 * assert.deepEqual(y, Float32Array.of(0, 0, 1, 2));
 * ```
 */
export class DnnlPrimitive {
  /** Implementation oneDNN picked, e.g. `"jit:avx2"` or `"gemm:jit"`. */
  readonly impl: string;
  #dnnl: Dnnl;
  #prim: Deno.PointerObject;
  #slots: ArgSlot[];
  #args: BigUint64Array;

  /** @internal Use {@linkcode Dnnl.primitive}. */
  constructor(
    dnnl: Dnnl,
    prim: Deno.PointerObject,
    impl: string,
    slots: ArgSlot[],
  ) {
    this.#dnnl = dnnl;
    this.#prim = prim;
    this.impl = impl;
    this.#slots = slots;
    // dnnl_exec_arg_t is {int arg; dnnl_memory_t memory;}: 16 bytes.
    this.#args = new BigUint64Array(slots.length * 2);
    slots.forEach((s, i) => {
      this.#args[2 * i] = BigInt(s.arg);
      this.#args[2 * i + 1] = BigInt(Deno.UnsafePointer.value(s.memory));
    });
  }

  /**
   * Executes the primitive synchronously. `data[i]` backs the i-th argument
   * given at creation (a Float32Array, or a Uint8Array for a workspace).
   */
  run(data: ArrayBufferView[]): void {
    const s = this.#dnnl.symbols;
    for (let i = 0; i < this.#slots.length; i++) {
      const st = s.dnnl_memory_set_data_handle(
        this.#slots[i].memory,
        data[i] as BufferSource,
      );
      if (st !== 0) throw new DnnlError("dnnl_memory_set_data_handle", st);
    }
    const st = s.dnnl_primitive_execute(
      this.#prim,
      this.#dnnl.stream,
      this.#slots.length,
      this.#args,
    );
    if (st !== 0) throw new DnnlError("dnnl_primitive_execute", st);
    s.dnnl_stream_wait(this.#dnnl.stream);
  }
}

/**
 * A oneDNN CPU engine and stream opened from a shared library.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Dnnl } from "./dnnl.ts";
 * const dnnl = Dnnl.open("libdnnl.so.2");
 * assert.match(dnnl.version, /^2\.\d+\.\d+$/); // e.g. "2.6.3"; 3.x is refused
 * assert.equal(dnnl.path, "libdnnl.so.2");
 * ```
 */
export class Dnnl {
  /** The FFI symbols (oneDNN C API). */
  readonly symbols: DnnlSymbols;
  /** `dnnl_engine_t` for CPU 0. */
  readonly engine: Deno.PointerObject;
  /** `dnnl_stream_t` on that engine. */
  readonly stream: Deno.PointerObject;
  /** Library version, `"major.minor.patch"`. */
  readonly version: string;
  /** The path it was opened from. */
  readonly path: string;

  private constructor(lib: Deno.DynamicLibrary<typeof SYMBOLS>, path: string, version: string) {
    this.symbols = lib.symbols;
    this.path = path;
    this.version = version;
    this.engine = this.#out(
      "dnnl_engine_create",
      (p) => lib.symbols.dnnl_engine_create(p, 1, /* dnnl_cpu */ 0n),
    );
    this.stream = this.#out(
      "dnnl_stream_create",
      (p) => lib.symbols.dnnl_stream_create(p, this.engine, 1 /* default flags */),
    );
  }

  /**
   * Opens `path` with `Deno.dlopen`; throws if it is missing or not oneDNN,
   * and {@linkcode UnsupportedDnnlError} if it is another major version than
   * 2 (checked on `dnnl_version` alone, before the 2.x symbols are bound).
   * A library that loads stays loaded, libgomp with it, until the process
   * ends ({@linkcode pinLibrary}), also when it is the wrong version.
   */
  static open(path: string): Dnnl {
    pinLibrary(path);
    const version = probeVersion(path);
    if (!version.startsWith("2.")) throw new UnsupportedDnnlError(version, path);
    return new Dnnl(Deno.dlopen(path, SYMBOLS), path, version);
  }

  /** Calls `fn` with an out-pointer slot and returns the non-null result. */
  #out(
    call: string,
    fn: (slot: BigUint64Array) => number,
  ): Deno.PointerObject {
    const slot = new BigUint64Array(1);
    const st = fn(slot);
    if (st !== 0) throw new DnnlError(call, st);
    const p = Deno.UnsafePointer.create(slot[0]);
    if (p === null) throw new DnnlError(call, 5);
    return p;
  }

  /** A `dnnl_dims_t` (int64[12]) holding `values`. */
  dims(values: number[]): BigInt64Array {
    const d = new BigInt64Array(MAX_NDIMS);
    values.forEach((v, i) => d[i] = BigInt(v));
    return d;
  }

  /** A f32 memory descriptor with logical `dims` and format `tag`. */
  memoryDesc(dims: number[], tag: number): Uint8Array {
    const md = new Uint8Array(MEMORY_DESC_BYTES);
    const st = this.symbols.dnnl_memory_desc_init_by_tag(
      md,
      dims.length,
      this.dims(dims),
      DNNL.f32,
      tag,
    );
    if (st !== 0) throw new DnnlError("dnnl_memory_desc_init_by_tag", st);
    return md;
  }

  /** A zeroed op descriptor buffer filled by `init` (a `*_desc_init`). */
  opDesc(call: string, init: (desc: Uint8Array) => number): Uint8Array {
    const desc = new Uint8Array(OP_DESC_BYTES);
    const st = init(desc);
    if (st !== 0) throw new DnnlError(call, st);
    return desc;
  }

  /**
   * Creates a primitive descriptor, with an optional forward hint and an
   * optional ReLU applied to the result (an eltwise post-op).
   */
  primitiveDesc(
    opDesc: Uint8Array,
    hint: Deno.PointerObject | null = null,
    { relu = false }: { relu?: boolean } = {},
  ): Deno.PointerObject {
    let attr: Deno.PointerObject | null = null;
    if (relu) {
      const ops = this.#out("dnnl_post_ops_create", (p) => this.symbols.dnnl_post_ops_create(p));
      const st = this.symbols.dnnl_post_ops_append_eltwise(ops, 1, DNNL.eltwiseRelu, 0, 0);
      if (st !== 0) throw new DnnlError("dnnl_post_ops_append_eltwise", st);
      attr = this.#out("dnnl_primitive_attr_create", (p) => this.symbols.dnnl_primitive_attr_create(p));
      const st2 = this.symbols.dnnl_primitive_attr_set_post_ops(attr, ops);
      if (st2 !== 0) throw new DnnlError("dnnl_primitive_attr_set_post_ops", st2);
    }
    return this.#out("dnnl_primitive_desc_create", (p) =>
      this.symbols.dnnl_primitive_desc_create(
        p,
        opDesc,
        attr,
        this.engine,
        hint,
      ));
  }

  /**
   * Every implementation oneDNN offers for `opDesc` on this CPU, best first
   * (what {@linkcode Dnnl.primitiveDesc} would pick is the first): one
   * primitive descriptor each, named by {@linkcode Dnnl.impl}. Empty when
   * none is implemented here (e.g. Winograd convolution without AVX-512).
   */
  implementations(opDesc: Uint8Array, hint: Deno.PointerObject | null = null): Deno.PointerObject[] {
    const s = this.symbols, slot = new BigUint64Array(1);
    const st = s.dnnl_primitive_desc_iterator_create(slot, opDesc, null, this.engine, hint);
    if (st === 3 /* unimplemented */) return [];
    if (st !== 0) throw new DnnlError("dnnl_primitive_desc_iterator_create", st);
    const it = Deno.UnsafePointer.create(slot[0])!;
    const pds: Deno.PointerObject[] = [];
    do {
      const pd = s.dnnl_primitive_desc_iterator_fetch(it);
      if (pd !== null) pds.push(pd);
    } while (s.dnnl_primitive_desc_iterator_next(it) === 0);
    s.dnnl_primitive_desc_iterator_destroy(it);
    return pds;
  }

  /** The memory descriptor a primitive descriptor chose for `query`. */
  queryMd(pd: Deno.PointerObject, query: number): Deno.PointerObject | null {
    return this.symbols.dnnl_primitive_desc_query_md(pd, query, 0);
  }

  /** Whether the primitive's chosen layout for `query` equals `md`. */
  sameMd(pd: Deno.PointerObject, query: number, md: Uint8Array): boolean {
    const got = this.queryMd(pd, query);
    return got !== null && this.symbols.dnnl_memory_desc_equal(md, got) === 1;
  }

  /**
   * Element offset in layout `md` (a plain or blocked `dnnl_memory_desc_t`
   * in `dnnl_blocked` format) of every logical index, as a function of the
   * index. Lets tiny tensors (filters) be reordered in JS: oneDNN's TBB
   * reorder primitive costs 5-15 ms even on 2,304 floats on a busy box.
   */
  offsetsOf(md: Deno.PointerObject): (index: number[]) => number {
    const v = new Deno.UnsafePointerView(md);
    const ndims = v.getInt32(0);
    // dnnl_memory_desc_t (2.x): dims @8, offset0 @304, format_kind @312,
    // blocking {strides[12] @320, inner_nblks @416, inner_blks[12] @424,
    // inner_idxs[12] @520}.
    if (v.getInt32(312) !== 2 /* dnnl_blocked */) {
      throw new Error(`Memory descriptor format kind "${v.getInt32(312)}" is not blocked`);
    }
    const offset0 = Number(v.getBigInt64(304));
    const strides = Array.from({ length: ndims }, (_, d) => Number(v.getBigInt64(320 + 8 * d)));
    const nblks = v.getInt32(416);
    const blks = Array.from({ length: nblks }, (_, j) => Number(v.getBigInt64(424 + 8 * j)));
    const idxs = Array.from({ length: nblks }, (_, j) => Number(v.getBigInt64(520 + 8 * j)));
    // Per dimension: total block size; per inner block: the index divisor
    // (blocks of the same dimension further in) and its element stride.
    const block = new Array<number>(ndims).fill(1);
    for (let j = 0; j < nblks; j++) block[idxs[j]] *= blks[j];
    const divisor: number[] = [], innerStride: number[] = [];
    for (let j = 0; j < nblks; j++) {
      let div = 1, st = 1;
      for (let k = j + 1; k < nblks; k++) {
        st *= blks[k];
        if (idxs[k] === idxs[j]) div *= blks[k];
      }
      divisor.push(div);
      innerStride.push(st);
    }
    return (index) => {
      let off = offset0;
      for (let d = 0; d < ndims; d++) off += Math.floor(index[d] / block[d]) * strides[d];
      for (let j = 0; j < nblks; j++) {
        off += (Math.floor(index[idxs[j]] / divisor[j]) % blks[j]) * innerStride[j];
      }
      return off;
    };
  }

  /** Bytes needed by the layout `md` (a descriptor pointer). */
  mdBytes(md: Deno.PointerObject | null): number {
    return Number(this.symbols.dnnl_memory_desc_get_size(md));
  }

  /** The implementation name of a primitive descriptor. */
  impl(pd: Deno.PointerObject): string {
    const slot = new BigUint64Array(1);
    const st = this.symbols.dnnl_primitive_desc_query(
      pd,
      DNNL.queryImplInfoStr,
      0,
      slot,
    );
    const p = Deno.UnsafePointer.create(slot[0]);
    if (st !== 0 || p === null) return "unknown";
    return Deno.UnsafePointerView.getCString(p);
  }

  /**
   * Creates the primitive for `pd`, with one memory object per argument in
   * `args` (`DNNL_ARG_*`), laid out as the primitive descriptor chose.
   */
  primitiveForArgs(pd: Deno.PointerObject, args: number[]): DnnlPrimitive {
    const prim = this.#out("dnnl_primitive_create", (p) => this.symbols.dnnl_primitive_create(p, pd));
    const slots = args.map((arg) => {
      const md = this.#argMd(pd, arg);
      const memory = this.#out(
        "dnnl_memory_create",
        (p) => this.symbols.dnnl_memory_create(p, md, this.engine, null),
      );
      return { arg, memory };
    });
    return new DnnlPrimitive(this, prim, this.impl(pd), slots);
  }

  /** Bytes of argument `arg` in the layout `pd` chose (0: not used). */
  argBytes(pd: Deno.PointerObject, arg: number): number {
    return this.mdBytes(this.#argMd(pd, arg));
  }

  /** The layout `pd` chose for argument `arg` (`DNNL_ARG_*`). */
  #argMd(pd: Deno.PointerObject, arg: number): Deno.PointerObject | null {
    return this.symbols.dnnl_primitive_desc_query_md(pd, DNNL.queryExecArgMd, arg);
  }
}

/**
 * 2-D convolution (NHWC activations, HWIO filters) forward, input gradient
 * and filter gradient on raw Float32Arrays, through oneDNN when present
 * (its JIT AVX2/AVX-512 direct convolution, activations kept NHWC, filters
 * reordered to oneDNN's blocked layout on every call by a JS index map: a
 * few thousand floats, where oneDNN's own reorder cost 5-15 ms a call)
 * or else im2col + a CBLAS `sgemm` in batch chunks.
 *
 * @module
 */
import type { Blas } from "./blas.ts";
import { DNNL, type Dnnl, type DnnlPrimitive } from "./dnnl.ts";
import type { NativeLibraries } from "./ffi.ts";
import { type Alloc, freshAlloc } from "./kernel_io.ts";

/** The shape of one convolution, in tfjs's `Conv2DInfo` terms. */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}

/** Largest im2col buffer (floats) the BLAS path uses per batch chunk. */
const COL_FLOATS = 1 << 22;

/** The three convolution primitives of a plan. */
type Direction = "forward" | "backwardData" | "backwardWeights";

/**
 * Per direction: the primitive's arguments (`DNNL_ARG_*`) in the order
 * `Step.prim.run` takes them, and the memory descriptor query of the filter
 * (or filter gradient), the one argument that is reordered.
 */
const STEP_ARGS: Record<Direction, { args: number[]; filter: number }> = {
  forward: { args: [DNNL.argSrc, DNNL.argWeights, DNNL.argDst], filter: DNNL.queryWeightsMd },
  backwardData: { args: [DNNL.argDiffDst, DNNL.argWeights, DNNL.argDiffSrc], filter: DNNL.queryWeightsMd },
  backwardWeights: {
    args: [DNNL.argSrc, DNNL.argDiffDst, DNNL.argDiffWeights],
    filter: DNNL.queryDiffWeightsMd,
  },
};

/** One oneDNN primitive plus its filter reorder and blocked filter buffer. */
interface Step {
  pd: Deno.PointerObject;
  prim: DnnlPrimitive;
  /** Offset in `blocked` of each HWIO filter element (null: HWIO itself). */
  reorder: Int32Array | null;
  /** Zero-initialised once: padding stays zero across reorders. */
  blocked: Float32Array | null;
}

/** A geometry's oneDNN descriptors, which all three directions share. */
interface Descriptors {
  g: ConvGeometry;
  srcMd: Uint8Array;
  dstMd: Uint8Array;
  wAny: Uint8Array;
  wUser: Uint8Array;
  strides: BigInt64Array;
  padL: BigInt64Array;
  padR: BigInt64Array;
}

interface Plan extends Descriptors {
  fwd: Step;
  bwdData?: Step;
  bwdWeights?: Step;
}

/**
 * Convolutions on the native libraries; keeps one oneDNN plan per distinct
 * geometry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { NativeConv } from "./conv.ts";
 * import { convGeometry } from "./conv_kernels.ts";
 * import { loadNativeLibraries } from "./ffi.ts";
 * const conv = new NativeConv(loadNativeLibraries());
 * // A 3x3 "same" convolution of a 3x3 one-channel image: x [1, 3, 3, 1], w [3, 3, 1, 1].
 * const g = convGeometry(tf.backend_util.computeConv2DInfo([1, 3, 3, 1], [3, 3, 1, 1], 1, 1, "same"))!;
 * const y = conv.forward(new Float32Array(9).fill(1), new Float32Array(9).fill(1), g); // [1, 3, 3, 1]
 * assert.deepEqual(y, Float32Array.of(4, 6, 4, 6, 9, 6, 4, 6, 4)); // ones under the window
 * const dw = conv.backpropFilter(new Float32Array(9).fill(1), new Float32Array(9).fill(1), g);
 * assert.deepEqual(dw, Float32Array.of(4, 6, 4, 6, 9, 6, 4, 6, 4));
 * ```
 */
export class NativeConv {
  #dnnl: Dnnl | null;
  #blas: Blas | null;
  #alloc: Alloc;
  #plans = new Map<string, Plan | null>();
  /** {@linkcode patchOffsets} per geometry, for the BLAS path. */
  #offsets = new Map<string, Int32Array>();

  /**
   * Uses oneDNN when `libs.dnnl` is set, else `libs.blas`. oneDNN's outputs
   * come from `alloc`, which may return old contents (every element is
   * written).
   */
  constructor(
    libs: Pick<NativeLibraries, "dnnl" | "blas">,
    alloc: Alloc = freshAlloc,
  ) {
    this.#dnnl = libs.dnnl;
    this.#blas = libs.blas;
    this.#alloc = alloc;
  }

  /** `y[N, outH, outW, outC]` from `x[N, inH, inW, inC]`, `w[kH, kW, inC, outC]`. */
  forward(x: Float32Array, w: Float32Array, g: ConvGeometry): Float32Array {
    return this.#filterIn("forward", x, w, g);
  }

  /** `dx[N, inH, inW, inC]` from `dy[N, outH, outW, outC]` and the filter. */
  backpropInput(
    dy: Float32Array,
    w: Float32Array,
    g: ConvGeometry,
  ): Float32Array {
    return this.#filterIn("backwardData", dy, w, g);
  }

  /** `dw[kH, kW, inC, outC]` from the input `x` and `dy`. */
  backpropFilter(
    x: Float32Array,
    dy: Float32Array,
    g: ConvGeometry,
  ): Float32Array {
    const dw = new Float32Array(g.kH * g.kW * g.inC * g.outC);
    const plan = this.#plan(g);
    if (plan) {
      const step = plan.bwdWeights ??= this.#step(plan, "backwardWeights", plan.fwd.pd);
      if (step.reorder && step.blocked) {
        step.prim.run([x, dy, step.blocked]);
        const map = step.reorder, blocked = step.blocked;
        for (let i = 0; i < map.length; i++) dw[i] = blocked[map[i]];
      } else {
        step.prim.run([x, dy, dw]);
      }
      return dw;
    }
    this.#gemm("backwardWeights", x, dw, dy, g);
    return dw;
  }

  /**
   * Forward (`src` is x) or backward data (`src` is dy): the two directions
   * that take the filter as an input.
   */
  #filterIn(
    dir: "forward" | "backwardData",
    src: Float32Array,
    w: Float32Array,
    g: ConvGeometry,
  ): Float32Array {
    const size = dir === "forward" ? g.batch * g.outH * g.outW * g.outC : g.batch * g.inH * g.inW * g.inC;
    const plan = this.#plan(g);
    if (plan) {
      const out = this.#alloc(size);
      const step = dir === "forward" ? plan.fwd : plan.bwdData ??= this.#step(plan, dir, plan.fwd.pd);
      step.prim.run([src, this.#toBlocked(step, w), out]);
      return out;
    }
    // col2im adds into dx: it must start zeroed.
    const out = new Float32Array(size);
    if (dir === "forward") this.#gemm(dir, src, w, out, g);
    else this.#gemm(dir, out, w, src, g);
    return out;
  }

  /** HWIO filter in the step's layout (the same array when no reorder). */
  #toBlocked(step: Step, w: Float32Array): Float32Array {
    if (!step.reorder || !step.blocked) return w;
    const map = step.reorder, blocked = step.blocked;
    for (let i = 0; i < map.length; i++) blocked[map[i]] = w[i];
    return blocked;
  }

  /** The oneDNN plan for `g`, or null to use BLAS. */
  #plan(g: ConvGeometry): Plan | null {
    const d = this.#dnnl;
    if (d === null) return null;
    const key = geometryKey(g);
    const cached = this.#plans.get(key);
    if (cached !== undefined) return cached;
    let plan: Plan | null = null;
    try {
      plan = this.#createPlan(d, g);
    } catch (e) {
      // oneDNN refuses some geometries; BLAS (or the caller) takes over.
      if (this.#blas === null) throw e;
    }
    this.#plans.set(key, plan);
    return plan;
  }

  #createPlan(d: Dnnl, g: ConvGeometry): Plan {
    const wDims = [g.outC, g.inC, g.kH, g.kW];
    const descs: Descriptors = {
      g,
      srcMd: d.memoryDesc([g.batch, g.inC, g.inH, g.inW], DNNL.tagNhwc),
      dstMd: d.memoryDesc([g.batch, g.outC, g.outH, g.outW], DNNL.tagNhwc),
      wAny: d.memoryDesc(wDims, DNNL.tagAny),
      wUser: d.memoryDesc(wDims, DNNL.tagHwio),
      strides: d.dims([g.strideH, g.strideW]),
      padL: d.dims([g.padTop, g.padLeft]),
      padR: d.dims([g.padBottom, g.padRight]),
    };
    return { ...descs, fwd: this.#step(descs, "forward") };
  }

  /**
   * The primitive of `dir` (a backward one with its forward's `pd` as
   * `hint`) plus the HWIO <-> chosen filter layout map.
   */
  #step(p: Descriptors, dir: Direction, hint: Deno.PointerObject | null = null): Step {
    const d = this.#dnnl!;
    const pd = d.primitiveDesc(this.#opDesc(d, p, dir), hint);
    const { args, filter } = STEP_ARGS[dir];
    const prim = d.primitiveForArgs(pd, args);
    if (d.sameMd(pd, filter, p.wUser)) {
      return { pd, prim, reorder: null, blocked: null };
    }
    const { g } = p;
    const chosen = d.queryMd(pd, filter)!;
    const blocked = new Float32Array(d.mdBytes(chosen) / 4);
    const offset = d.offsetsOf(chosen);
    const reorder = new Int32Array(g.kH * g.kW * g.inC * g.outC);
    let i = 0;
    for (let h = 0; h < g.kH; h++) {
      for (let w = 0; w < g.kW; w++) {
        for (let c = 0; c < g.inC; c++) {
          // Logical dims are OIHW.
          for (let o = 0; o < g.outC; o++) reorder[i++] = offset([o, c, h, w]);
        }
      }
    }
    return { pd, prim, reorder, blocked };
  }

  /**
   * The op descriptor of `dir`. The backward ones take the forward's
   * descriptors in the same places: diff_src as src, diff_weights as
   * weights, diff_dst as dst; no bias.
   */
  #opDesc(d: Dnnl, p: Descriptors, dir: Direction): Uint8Array {
    const s = d.symbols, direct = DNNL.convolutionDirect, train = DNNL.forwardTraining;
    const { srcMd, wAny, dstMd } = p, window = [p.strides, p.padL, p.padR] as const;
    switch (dir) {
      case "forward":
        return d.opDesc(
          "dnnl_convolution_forward_desc_init",
          (b) => s.dnnl_convolution_forward_desc_init(b, train, direct, srcMd, wAny, null, dstMd, ...window),
        );
      case "backwardData":
        return d.opDesc(
          "dnnl_convolution_backward_data_desc_init",
          (b) => s.dnnl_convolution_backward_data_desc_init(b, direct, srcMd, wAny, dstMd, ...window),
        );
      case "backwardWeights":
        return d.opDesc(
          "dnnl_convolution_backward_weights_desc_init",
          (b) =>
            s.dnnl_convolution_backward_weights_desc_init(b, direct, srcMd, wAny, null, dstMd, ...window),
        );
    }
  }

  /** Images per im2col chunk. */
  #chunk(g: ConvGeometry): number {
    const perImage = g.outH * g.outW * g.kH * g.kW * g.inC;
    return Math.max(1, Math.min(g.batch, Math.floor(COL_FLOATS / perImage)));
  }

  /**
   * im2col + sgemm in batch chunks, writing `dir`'s output, one of `x[N, inH,
   * inW, inC]` (added into: must start zeroed), `w[kH, kW, inC, outC]` or `y[N,
   * outH, outW, outC]`, from the other two. With `col` the chunk's
   * `[nb * outH * outW, kH * kW * inC]` patches: forward `y = col w`,
   * backward data `col = y w^T` then col2im into x, backward weights
   * `w += col^T y` (the first chunk overwrites).
   */
  #gemm(
    dir: Direction,
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    g: ConvGeometry,
  ): void {
    const blas = this.#requireBlas();
    const k = g.kH * g.kW * g.inC, rowsPer = g.outH * g.outW;
    const chunk = this.#chunk(g);
    const col = new Float32Array(chunk * rowsPer * k);
    const key = geometryKey(g);
    let offsets = this.#offsets.get(key);
    if (!offsets) this.#offsets.set(key, offsets = patchOffsets(g));
    for (let n0 = 0; n0 < g.batch; n0 += chunk) {
      const nb = Math.min(chunk, g.batch - n0);
      const m = nb * rowsPer;
      const cols = col.subarray(0, m * k);
      const ys = y.subarray(n0 * rowsPer * g.outC, (n0 + nb) * rowsPer * g.outC);
      if (dir === "backwardData") {
        blas.sgemm([m, k, g.outC], [ys, w, cols], { transB: true });
        im2col(x, col, g, offsets, n0, nb, true);
        continue;
      }
      im2col(x, col, g, offsets, n0, nb);
      if (dir === "forward") blas.sgemm([m, g.outC, k], [cols, w, ys]);
      else blas.sgemm([k, g.outC, m], [cols, ys, w], { transA: true, beta: n0 === 0 ? 0 : 1 });
    }
  }

  #requireBlas(): Blas {
    if (this.#blas === null) {
      throw new Error("Native convolution needs oneDNN or a CBLAS: none loaded");
    }
    return this.#blas;
  }
}

/** A string naming `g`, for the caches kept per geometry. */
function geometryKey(g: ConvGeometry): string {
  return Object.values(g).join(",");
}

/**
 * For each output pixel `(oh, ow)` and filter tap `(i, j)`, in im2col's row
 * order: the offset of the tap's input pixel in one NHWC image, or -1 where
 * it falls in the padding.
 */
function patchOffsets(g: ConvGeometry): Int32Array {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW } = g;
  const offsets = new Int32Array(outH * outW * kH * kW);
  let p = 0;
  for (let oh = 0; oh < outH; oh++) {
    for (let ow = 0; ow < outW; ow++) {
      for (let i = 0; i < kH; i++) {
        const ih = oh * strideH - g.padTop + i;
        for (let j = 0; j < kW; j++) {
          const iw = ow * strideW - g.padLeft + j;
          offsets[p++] = ih < 0 || ih >= inH || iw < 0 || iw >= inW ? -1 : (ih * inW + iw) * inC;
        }
      }
    }
  }
  return offsets;
}

/**
 * im2col: rows `(n, oh, ow)` of `col` get the `[kH, kW, inC]` input patch
 * of `x` (zeros in the padding) for images `n0 .. n0 + nb`; or, with
 * `adjoint`, col2im: each row of `col` is added back into its patch of `x`.
 * `offsets` are {@linkcode patchOffsets}`(g)`.
 */
function im2col(
  x: Float32Array,
  col: Float32Array,
  g: ConvGeometry,
  offsets: Int32Array,
  n0: number,
  nb: number,
  adjoint = false,
): void {
  const inC = g.inC, image = g.inH * g.inW * inC;
  let r = 0;
  for (let n = n0; n < n0 + nb; n++) {
    for (let p = 0; p < offsets.length; p++, r += inC) {
      if (offsets[p] < 0) {
        if (!adjoint) col.fill(0, r, r + inC);
        continue;
      }
      const at = n * image + offsets[p];
      if (adjoint) {
        for (let c = 0; c < inC; c++) x[at + c] += col[r + c];
      } else {
        for (let c = 0; c < inC; c++) col[r + c] = x[at + c];
      }
    }
  }
}

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

/** One oneDNN primitive plus its filter reorder and blocked filter buffer. */
interface Step {
  prim: DnnlPrimitive;
  /** Offset in `blocked` of each HWIO filter element (null: HWIO itself). */
  reorder: Int32Array | null;
  /** Zero-initialised once: padding stays zero across reorders. */
  blocked: Float32Array | null;
}

interface Plan {
  g: ConvGeometry;
  fwdPd: Deno.PointerObject;
  fwd: Step;
  bwdData?: Step;
  bwdWeights?: Step;
  srcMd: Uint8Array;
  dstMd: Uint8Array;
  wAny: Uint8Array;
  wUser: Uint8Array;
  strides: BigInt64Array;
  padL: BigInt64Array;
  padR: BigInt64Array;
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
    const size = g.batch * g.outH * g.outW * g.outC;
    const plan = this.#plan(g);
    if (plan) {
      const y = this.#alloc(size);
      const step = plan.fwd;
      const wb = this.#toBlocked(step, w);
      step.prim.run([x, wb, y]);
      return y;
    }
    const y = new Float32Array(size);
    this.#gemmForward(x, w, y, g);
    return y;
  }

  /** `dx[N, inH, inW, inC]` from `dy[N, outH, outW, outC]` and the filter. */
  backpropInput(
    dy: Float32Array,
    w: Float32Array,
    g: ConvGeometry,
  ): Float32Array {
    const size = g.batch * g.inH * g.inW * g.inC;
    const plan = this.#plan(g);
    if (plan) {
      const dx = this.#alloc(size);
      const step = plan.bwdData ??= this.#bwdDataStep(plan);
      const wb = this.#toBlocked(step, w);
      step.prim.run([dy, wb, dx]);
      return dx;
    }
    // col2im adds into dx: it must start zeroed.
    const dx = new Float32Array(size);
    this.#gemmBackpropInput(dy, w, dx, g);
    return dx;
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
      const step = plan.bwdWeights ??= this.#bwdWeightsStep(plan);
      if (step.reorder && step.blocked) {
        step.prim.run([x, dy, step.blocked]);
        const map = step.reorder, blocked = step.blocked;
        for (let i = 0; i < map.length; i++) dw[i] = blocked[map[i]];
      } else {
        step.prim.run([x, dy, dw]);
      }
      return dw;
    }
    this.#gemmBackpropFilter(x, dy, dw, g);
    return dw;
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
    const key = Object.values(g).join(",");
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
    const srcMd = d.memoryDesc([g.batch, g.inC, g.inH, g.inW], DNNL.tagNhwc);
    const dstMd = d.memoryDesc([g.batch, g.outC, g.outH, g.outW], DNNL.tagNhwc);
    const wDims = [g.outC, g.inC, g.kH, g.kW];
    const wAny = d.memoryDesc(wDims, DNNL.tagAny);
    const wUser = d.memoryDesc(wDims, DNNL.tagHwio);
    const strides = d.dims([g.strideH, g.strideW]);
    const padL = d.dims([g.padTop, g.padLeft]);
    const padR = d.dims([g.padBottom, g.padRight]);
    const desc = d.opDesc(
      "dnnl_convolution_forward_desc_init",
      (b) =>
        d.symbols.dnnl_convolution_forward_desc_init(
          b,
          DNNL.forwardTraining,
          DNNL.convolutionDirect,
          srcMd,
          wAny,
          null,
          dstMd,
          strides,
          padL,
          padR,
        ),
    );
    const fwdPd = d.primitiveDesc(desc);
    const fwd = this.#step(
      d,
      fwdPd,
      [
        [DNNL.argSrc, DNNL.querySrcMd],
        [DNNL.argWeights, DNNL.queryWeightsMd],
        [DNNL.argDst, DNNL.queryDstMd],
      ],
      DNNL.queryWeightsMd,
      wUser,
      g,
    );
    return {
      g,
      fwdPd,
      fwd,
      srcMd,
      dstMd,
      wAny,
      wUser,
      strides,
      padL,
      padR,
    };
  }

  #bwdDataStep(p: Plan): Step {
    const d = this.#dnnl!;
    const desc = d.opDesc(
      "dnnl_convolution_backward_data_desc_init",
      (b) =>
        d.symbols.dnnl_convolution_backward_data_desc_init(
          b,
          DNNL.convolutionDirect,
          p.srcMd,
          p.wAny,
          p.dstMd,
          p.strides,
          p.padL,
          p.padR,
        ),
    );
    const pd = d.primitiveDesc(desc, p.fwdPd);
    return this.#step(
      d,
      pd,
      [
        [DNNL.argDiffDst, DNNL.queryDiffDstMd],
        [DNNL.argWeights, DNNL.queryWeightsMd],
        [DNNL.argDiffSrc, DNNL.queryDiffSrcMd],
      ],
      DNNL.queryWeightsMd,
      p.wUser,
      p.g,
    );
  }

  #bwdWeightsStep(p: Plan): Step {
    const d = this.#dnnl!;
    const desc = d.opDesc(
      "dnnl_convolution_backward_weights_desc_init",
      (b) =>
        d.symbols.dnnl_convolution_backward_weights_desc_init(
          b,
          DNNL.convolutionDirect,
          p.srcMd,
          p.wAny,
          null,
          p.dstMd,
          p.strides,
          p.padL,
          p.padR,
        ),
    );
    const pd = d.primitiveDesc(desc, p.fwdPd);
    return this.#step(
      d,
      pd,
      [
        [DNNL.argSrc, DNNL.querySrcMd],
        [DNNL.argDiffDst, DNNL.queryDiffDstMd],
        [DNNL.argDiffWeights, DNNL.queryDiffWeightsMd],
      ],
      DNNL.queryDiffWeightsMd,
      p.wUser,
      p.g,
    );
  }

  /** A primitive plus the HWIO <-> chosen filter layout map. */
  #step(
    d: Dnnl,
    pd: Deno.PointerObject,
    args: [number, number][],
    wQuery: number,
    wUser: Uint8Array,
    g: ConvGeometry,
  ): Step {
    const prim = d.primitive(pd, args);
    if (d.sameMd(pd, wQuery, wUser)) {
      return { prim, reorder: null, blocked: null };
    }
    const chosen = d.queryMd(pd, wQuery)!;
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
    return { prim, reorder, blocked };
  }

  /** Images per im2col chunk. */
  #chunk(g: ConvGeometry): number {
    const perImage = g.outH * g.outW * g.kH * g.kW * g.inC;
    return Math.max(1, Math.min(g.batch, Math.floor(COL_FLOATS / perImage)));
  }

  #gemmForward(
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    g: ConvGeometry,
  ): void {
    const blas = this.#requireBlas();
    const k = g.kH * g.kW * g.inC, rowsPer = g.outH * g.outW;
    const chunk = this.#chunk(g);
    const col = new Float32Array(chunk * rowsPer * k);
    for (let n0 = 0; n0 < g.batch; n0 += chunk) {
      const nb = Math.min(chunk, g.batch - n0);
      im2col(x, col, g, n0, nb);
      const m = nb * rowsPer;
      blas.sgemm([m, g.outC, k], [
        col.subarray(0, m * k),
        w,
        y.subarray(n0 * rowsPer * g.outC, (n0 + nb) * rowsPer * g.outC),
      ]);
    }
  }

  #gemmBackpropInput(
    dy: Float32Array,
    w: Float32Array,
    dx: Float32Array,
    g: ConvGeometry,
  ): void {
    const blas = this.#requireBlas();
    const k = g.kH * g.kW * g.inC, rowsPer = g.outH * g.outW;
    const chunk = this.#chunk(g);
    const col = new Float32Array(chunk * rowsPer * k);
    for (let n0 = 0; n0 < g.batch; n0 += chunk) {
      const nb = Math.min(chunk, g.batch - n0);
      const m = nb * rowsPer;
      blas.sgemm([m, k, g.outC], [
        dy.subarray(n0 * rowsPer * g.outC, (n0 + nb) * rowsPer * g.outC),
        w,
        col.subarray(0, m * k),
      ], { transB: true });
      col2im(col, dx, g, n0, nb);
    }
  }

  #gemmBackpropFilter(
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
    g: ConvGeometry,
  ): void {
    const blas = this.#requireBlas();
    const k = g.kH * g.kW * g.inC, rowsPer = g.outH * g.outW;
    const chunk = this.#chunk(g);
    const col = new Float32Array(chunk * rowsPer * k);
    for (let n0 = 0; n0 < g.batch; n0 += chunk) {
      const nb = Math.min(chunk, g.batch - n0);
      im2col(x, col, g, n0, nb);
      const m = nb * rowsPer;
      blas.sgemm([k, g.outC, m], [
        col.subarray(0, m * k),
        dy.subarray(n0 * rowsPer * g.outC, (n0 + nb) * rowsPer * g.outC),
        dw,
      ], { transA: true, beta: n0 === 0 ? 0 : 1 });
    }
  }

  #requireBlas(): Blas {
    if (this.#blas === null) {
      throw new Error("Native convolution needs oneDNN or a CBLAS: none loaded");
    }
    return this.#blas;
  }
}

/**
 * Rows `(n, oh, ow)` of `col` get the `[kH, kW, inC]` input patch (zeros
 * outside the image) for images `n0 .. n0 + nb`.
 */
function im2col(
  x: Float32Array,
  col: Float32Array,
  g: ConvGeometry,
  n0: number,
  nb: number,
): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW } = g;
  let r = 0;
  for (let n = n0; n < n0 + nb; n++) {
    const base = n * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let i = 0; i < kH; i++) {
          const ih = oh * strideH - g.padTop + i;
          for (let j = 0; j < kW; j++) {
            const iw = ow * strideW - g.padLeft + j;
            if (ih < 0 || ih >= inH || iw < 0 || iw >= inW) {
              col.fill(0, r, r + inC);
            } else {
              const src = base + (ih * inW + iw) * inC;
              for (let c = 0; c < inC; c++) col[r + c] = x[src + c];
            }
            r += inC;
          }
        }
      }
    }
  }
}

/** Adds each row of `col` back into its input patch of `dx` (im2col's adjoint). */
function col2im(
  col: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
  n0: number,
  nb: number,
): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW } = g;
  let r = 0;
  for (let n = n0; n < n0 + nb; n++) {
    const base = n * inH * inW * inC;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        for (let i = 0; i < kH; i++) {
          const ih = oh * strideH - g.padTop + i;
          for (let j = 0; j < kW; j++) {
            const iw = ow * strideW - g.padLeft + j;
            if (ih >= 0 && ih < inH && iw >= 0 && iw < inW) {
              const dst = base + (ih * inW + iw) * inC;
              for (let c = 0; c < inC; c++) dx[dst + c] += col[r + c];
            }
            r += inC;
          }
        }
      }
    }
  }
}

import assert from "node:assert/strict";
import { type ConvGeometry, NativeConv } from "../../lib/native/conv.ts";
import { loadNativeLibraries, type NativeLibraries } from "../../lib/native/ffi.ts";
import { uniform } from "../helpers.ts";

let libs: NativeLibraries | null = null;
try {
  libs = loadNativeLibraries();
} catch (e) {
  console.warn(`native conv tests skipped: ${(e as Error).message}`);
}

/** Direct NHWC/HWIO convolution in float64: the reference. */
function reference(x: Float32Array, w: Float32Array, g: ConvGeometry) {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let i = 0; i < g.kH; i++) {
          for (let j = 0; j < g.kW; j++) {
            const ih = oh * g.strideH - g.padTop + i, iw = ow * g.strideW - g.padLeft + j;
            if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) continue;
            for (let c = 0; c < g.inC; c++) {
              const xv = x[((n * g.inH + ih) * g.inW + iw) * g.inC + c];
              for (let o = 0; o < g.outC; o++) {
                y[((n * g.outH + oh) * g.outW + ow) * g.outC + o] += xv *
                  w[((i * g.kW + j) * g.inC + c) * g.outC + o];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

/** `sum(y * dy)`, whose gradients the backward kernels must produce. */
function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function geometry(
  [batch, inH, inW, inC]: number[],
  outC: number,
  stride: number,
  [padTop, padBottom, padLeft, padRight]: number[],
): ConvGeometry {
  const out = (i: number, lo: number, hi: number) => Math.floor((i + lo + hi - 3) / stride) + 1;
  return {
    batch,
    inH,
    inW,
    inC,
    outC,
    outH: out(inH, padTop, padBottom),
    outW: out(inW, padLeft, padRight),
    kH: 3,
    kW: 3,
    strideH: stride,
    strideW: stride,
    padTop,
    padBottom,
    padLeft,
    padRight,
  };
}

const GEOMETRIES = [
  geometry([2, 7, 5, 3], 5, 1, [1, 1, 1, 1]),
  geometry([1, 7, 5, 5], 3, 2, [0, 0, 0, 0]),
  geometry([3, 8, 8, 4], 8, 2, [0, 1, 0, 1]),
  geometry([2, 9, 6, 3], 5, 2, [1, 1, 1, 1]),
  // oneDNN picks blocked filter layouts (8o8i, 8i8o) here: the JS reorder
  // maps, with zero padding for channel counts that are not multiples of 8.
  geometry([2, 6, 6, 16], 32, 2, [1, 1, 1, 1]),
  geometry([1, 5, 5, 12], 20, 1, [1, 1, 1, 1]),
];

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  let scale = 0, err = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    err = Math.max(err, Math.abs(want[i] - got[i]));
  }
  assert.ok(err <= 1e-4 * scale, `${what}: max error ${err} vs scale ${scale}`);
}

for (const path of ["oneDNN", "BLAS"] as const) {
  const lib = path === "oneDNN" ? libs?.dnnl : libs?.blas;
  Deno.test({
    name: `NativeConv on ${path} matches a direct convolution, with gradients`,
    ignore: !lib,
    fn() {
      const conv = new NativeConv(
        path === "oneDNN" ? { dnnl: libs!.dnnl, blas: null } : { dnnl: null, blas: libs!.blas },
      );
      GEOMETRIES.forEach((g, k) => {
        const what = `${path} geometry ${k}`;
        const x = uniform(g.batch * g.inH * g.inW * g.inC, k);
        const w = uniform(9 * g.inC * g.outC, k + 10);
        const dy = uniform(g.batch * g.outH * g.outW * g.outC, k + 20);
        assertClose(conv.forward(x, w, g), reference(x, w, g), `${what} forward`);
        // Adjoint checks: <conv(e_i, w), dy> = dx_i and <conv(x, e_j), dy> = dw_j.
        const dx = conv.backpropInput(dy, w, g), dw = conv.backpropFilter(x, dy, g);
        const wantDx = x.map((_, i) => {
          const e = new Float32Array(x.length);
          e[i] = 1;
          return dot(reference(e, w, g), dy);
        });
        const wantDw = w.map((_, j) => {
          const e = new Float32Array(w.length);
          e[j] = 1;
          return dot(reference(x, e, g), dy);
        });
        assertClose(dx, wantDx, `${what} input gradient`);
        assertClose(dw, wantDw, `${what} filter gradient`);
      });
    },
  });
}

/**
 * The convolution's weight gradient (`Conv2DBackpropFilter`, NHWC) for the
 * `webgpu` backend, in place of tfjs's program. tfjs runs one thread per
 * filter value, each summing all `N*OH*OW` output positions alone: 2,304
 * threads for ResNet20's first stage at batch 128, each 131,072 products
 * long, which leaves a large GPU almost idle. Here the output positions are
 * split into tiles of whole output rows (split-K):
 * 1. one thread per (tile, filter value) sums its tile, so a step has about
 *    half a million threads of a few hundred products each;
 * 2. one thread per filter value adds its tiles in order.
 * Float32 throughout; the sum is ordered by tile, so results differ from
 * tfjs's single running sum by rounding only (tested against `cpu`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import { grid, type KernelRunner, u32, wgsl, type WgslKernel } from "./program.ts";

/** Threads pass 1 aims for: enough to fill a large GPU several times over. */
const TARGET_THREADS = 2 ** 19;
/** Fewest products a pass-1 thread sums, so tiny layers do not spread thin. */
const MIN_PRODUCTS = 64;

/** The geometry of a weight gradient and its tiling. */
export interface FilterGradPlan {
  /** Filter values: `kh * kw * cin * cout`. */
  values: number;
  /** Output rows (`N * OH`) per tile, and the number of tiles. */
  linesPerTile: number;
  tiles: number;
  /** The uniforms after `size` (the pass's thread count), in {@linkcode FILTER_GRAD_UNIFORMS}'s order. */
  uniforms: number[];
}

/**
 * How to tile the weight gradient of an NHWC convolution: the output rows
 * (`n * outHeight` of them) split so that pass 1 has about 2^19 threads,
 * each summing at least 64 products.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { filterGradPlan } from "./conv_kernels.ts";
 * // ResNet20's first stage at batch 128: 3x3x16x16 filter values, 4,096 output rows of 32.
 * const p = filterGradPlan({ n: 128, h: 32, w: 32, cin: 16, oh: 32, ow: 32, cout: 16, kh: 3, kw: 3 });
 * assert.deepEqual([p.values, p.linesPerTile, p.tiles], [2304, 18, 228]); // 525,312 threads of 576 products
 * ```
 */
export function filterGradPlan(g: {
  n: number;
  h: number;
  w: number;
  cin: number;
  oh: number;
  ow: number;
  cout: number;
  kh: number;
  kw: number;
  strideH?: number;
  strideW?: number;
  padTop?: number;
  padLeft?: number;
}): FilterGradPlan {
  const values = g.kh * g.kw * g.cin * g.cout;
  const lines = g.n * g.oh;
  const wanted = Math.max(1, Math.round(TARGET_THREADS / values));
  const most = Math.max(1, Math.floor((lines * g.ow) / MIN_PRODUCTS));
  const linesPerTile = Math.ceil(lines / Math.min(wanted, most, lines));
  const tiles = Math.ceil(lines / linesPerTile);
  const uniforms = [
    values,
    g.h,
    g.w,
    g.cin,
    g.oh,
    g.ow,
    g.cout,
    g.kw,
    g.strideH ?? 1,
    g.strideW ?? 1,
    g.padTop ?? 0,
    g.padLeft ?? 0,
    lines,
    linesPerTile,
    tiles,
  ];
  return { values, linesPerTile, tiles, uniforms };
}

/** The uniform struct of both passes (all `u32`; `size` is the pass's thread count). */
const FILTER_GRAD_UNIFORMS =
  "size : u32, values : u32, h : u32, w : u32, cin : u32, oh : u32, ow : u32, cout : u32, kw : u32, " +
  "strideH : u32, strideW : u32, padTop : u32, padLeft : u32, lines : u32, linesPerTile : u32, tiles : u32";

/**
 * Pass 1: thread `t * values + v` sums `x * dy` over the output rows of tile
 * `t` for filter value `v = ((ky * kw + kx) * cin + ci) * cout + co`.
 */
export const filterGradPartialWgsl: WgslKernel = wgsl("convFilterGradPartial", {
  inputs: ["x", "dy"],
  outputs: ["partial"],
  uniforms: FILTER_GRAD_UNIFORMS,
  linear: true,
  body: `
  let v = i % u.values;
  let t = i / u.values;
  let co = v % u.cout;
  let ci = (v / u.cout) % u.cin;
  let kx = (v / (u.cout * u.cin)) % u.kw;
  let ky = v / (u.cout * u.cin * u.kw);
  let line0 = t * u.linesPerTile;
  let line1 = min(u.lines, line0 + u.linesPerTile);
  var acc = 0.0;
  for (var line = line0; line < line1; line = line + 1u) {
    let b = line / u.oh;
    let iy = i32((line % u.oh) * u.strideH + ky) - i32(u.padTop);
    if (iy < 0 || iy >= i32(u.h)) { continue; }
    let xRow = (b * u.h + u32(iy)) * u.w;
    let dyRow = line * u.ow;
    for (var ox = 0u; ox < u.ow; ox = ox + 1u) {
      let ix = i32(ox * u.strideW + kx) - i32(u.padLeft);
      if (ix >= 0 && ix < i32(u.w)) {
        acc = acc + x[(xRow + u32(ix)) * u.cin + ci] * dy[(dyRow + ox) * u.cout + co];
      }
    }
  }
  partial[i] = acc;`,
});

/** Pass 2: `dw[v]` is the sum of the tiles' partial sums, tile 0 first. */
export const filterGradReduceWgsl: WgslKernel = wgsl("convFilterGradReduce", {
  inputs: ["partial"],
  outputs: ["dw"],
  uniforms: FILTER_GRAD_UNIFORMS,
  linear: true,
  body: `
  var acc = 0.0;
  for (var t = 0u; t < u.tiles; t = t + 1u) {
    acc = acc + partial[t * u.values + i];
  }
  dw[i] = acc;`,
});

/** Every WGSL kernel of this file, to compile at startup. */
export const CONV_WGSL: readonly WgslKernel[] = [filterGradPartialWgsl, filterGradReduceWgsl];

/**
 * The `Conv2DBackpropFilter` config for the `webgpu` backend: NHWC with
 * unit dilation here, anything else by `fallback` (tfjs's own kernel).
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * const tfjs = tf.getKernel("Conv2DBackpropFilter", "webgpu")!;
 * tf.unregisterKernel("Conv2DBackpropFilter", "webgpu");
 * tf.registerKernel(convFilterGradKernel(() => runner, tfjs));
 * ```
 */
export function convFilterGradKernel(
  runnerOf: (backend: object) => KernelRunner,
  fallback: tf.KernelConfig,
): tf.KernelConfig {
  return {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: WEBGPU_BACKEND,
    kernelFunc: (args) => {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args
        .attrs as unknown as tf.Conv2DBackpropFilterAttrs;
      const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
      if (format !== "channelsLast") return fallback.kernelFunc(args);
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
        false,
        format,
      );
      const plan = filterGradPlan({
        n: info.batchSize,
        h: info.inHeight,
        w: info.inWidth,
        cin: info.inChannels,
        oh: info.outHeight,
        ow: info.outWidth,
        cout: info.outChannels,
        kh: info.filterHeight,
        kw: info.filterWidth,
        strideH: info.strideHeight,
        strideW: info.strideWidth,
        padTop: info.padInfo.top,
        padLeft: info.padInfo.left,
      });
      const runner = runnerOf(args.backend);
      const uniforms = (size: number) => u32(size, ...plan.uniforms);
      const threads = plan.tiles * plan.values;
      const [partial] = runner.run(filterGradPartialWgsl, {
        inputs: [x, dy],
        outputs: [{ shape: [threads], dtype: "float32" }],
        uniforms: uniforms(threads),
        workgroups: grid(threads),
      });
      const [dw] = runner.run(filterGradReduceWgsl, {
        inputs: [partial],
        outputs: [{ shape: [...filterShape], dtype: "float32" }],
        uniforms: uniforms(plan.values),
        workgroups: grid(plan.values),
      });
      runner.dispose(partial);
      return dw;
    },
  };
}

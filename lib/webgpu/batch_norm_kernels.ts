/**
 * WebGPU kernels for training-mode batch norm (`lib/ops/batch_norm_train.ts`)
 * on NHWC data and for the running-average update: three dispatches each
 * way where tfjs's ops take about ten forward (transposes for the
 * reductions, moments, normalisation) and twenty backward; the running
 * averages of several batch norms a dispatch, in place in compiled steps.
 *
 * Statistics over the `R = N*H*W` rows of each channel:
 * 1. tiles of rows: each thread sums one channel over one tile, shifted by
 *    the tile's first value (`n`, `sum(v - k)`, `sum((v - k)^2)`), so no
 *    precision is lost to a large mean;
 * 2. one thread a channel merges the tiles (Chan et al.'s pairwise update)
 *    into the mean and the biased variance;
 * 3. one thread a value normalises: `y = x * scale + (beta - mean * scale)`,
 *    `scale = gamma / sqrt(var + eps)`, as the reference, then ReLU.
 * The gradient sums `dy'` and `dy' (x - mean)` the same way (`dy'` is `dy`
 * masked by the ReLU output) and applies the closed form of the reference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type BatchNormRunningAttrs,
  BN_RUNNING_ALL_KERNEL,
  BN_RUNNING_KERNEL,
  BN_TRAIN_GRAD_KERNEL,
  BN_TRAIN_KERNEL,
} from "../ops/mod.ts";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import {
  f32,
  grid,
  type KernelRunner,
  perSlot,
  slotKernels,
  slotsFor,
  u32,
  wgsl,
  type WgslKernel,
} from "./program.ts";

/** Threads per workgroup of the per-channel passes (x: channels). */
const CHANNEL_GROUP = 64;

/**
 * Rows a thread sums in pass 1: enough tiles (about 512) to fill a GPU, at
 * least 64 rows each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tileRows } from "./batch_norm_kernels.ts";
 * assert.equal(tileRows(128 * 32 * 32), 256); // 512 tiles of 256 rows
 * assert.equal(tileRows(30), 64); // one tile
 * ```
 */
export function tileRows(rows: number): number {
  return Math.max(64, Math.ceil(rows / 512));
}

/** The uniforms of the tiled passes (1 and 2, both ways). */
const STATS_UNIFORMS = "rows : u32, c : u32, tileRows : u32, tiles : u32";

/** Thread `(c, t)` of a tiled pass: channel `c`, rows `r0..r1` of tile `t`. */
const TILE = `
  let c = gid.x;
  let t = gid.y;
  if (c >= u.c || t >= u.tiles) { return; }
  let r0 = t * u.tileRows;
  let r1 = min(u.rows, r0 + u.tileRows);`;

/** `dy` masked by the ReLU output `y` when the op fused one. */
const maskedDy = (masked: boolean) => masked ? "dy[i] * select(0.0, 1.0, y[i] > 0.0)" : "dy[i]";

/** Pass 1 forward: per (tile, channel) `[n, sum(v - k), sum((v - k)^2), k]`. */
export const bnPartialWgsl: WgslKernel = wgsl("bnPartial", {
  inputs: ["x"],
  outputs: ["partial"],
  uniforms: STATS_UNIFORMS,
  workgroup: CHANNEL_GROUP,
  body: `${TILE}
  let k = x[r0 * u.c + c];
  var s = 0.0;
  var ss = 0.0;
  for (var r = r0; r < r1; r = r + 1u) {
    let d = x[r * u.c + c] - k;
    s = s + d;
    ss = ss + d * d;
  }
  let o = (t * u.c + c) * 4u;
  partial[o] = f32(r1 - r0);
  partial[o + 1u] = s;
  partial[o + 2u] = ss;
  partial[o + 3u] = k;`,
});

/** Pass 2 forward: merge the tiles of each channel into its mean and biased variance. */
export const bnMergeWgsl: WgslKernel = wgsl("bnMerge", {
  inputs: ["partial"],
  outputs: ["mean", "variance"],
  uniforms: STATS_UNIFORMS,
  workgroup: CHANNEL_GROUP,
  body: `
  let c = gid.x;
  if (c >= u.c) { return; }
  var n = 0.0;
  var m = 0.0;
  var m2 = 0.0;
  for (var t = 0u; t < u.tiles; t = t + 1u) {
    let o = (t * u.c + c) * 4u;
    let nb = partial[o];
    let s = partial[o + 1u];
    let mb = partial[o + 3u] + s / nb;
    let m2b = partial[o + 2u] - s * s / nb;
    let total = n + nb;
    let delta = mb - m;
    m = m + delta * nb / total;
    m2 = m2 + m2b + delta * delta * n * nb / total;
    n = total;
  }
  mean[c] = m;
  variance[c] = max(m2 / n, 0.0);`,
});

/** Pass 3 forward: normalise, scale, shift, then ReLU when the kernel says so. */
function bnNormaliseWgsl(relu: boolean): WgslKernel {
  return wgsl(relu ? "bnNormaliseRelu" : "bnNormalise", {
    inputs: ["x", "gamma", "beta", "mean", "variance"],
    outputs: ["y"],
    uniforms: "size : u32, c : u32, eps : f32",
    linear: true,
    body: `
  let c = i % u.c;
  let scale = gamma[c] * inverseSqrt(variance[c] + u.eps);
  let v = x[i] * scale + (beta[c] - mean[c] * scale);
  y[i] = ${relu ? "max(v, 0.0)" : "v"};`,
  });
}

/** Pass 3 forward with the ReLU fused. */
export const bnNormaliseReluWgsl: WgslKernel = bnNormaliseWgsl(true);
/** Pass 3 forward without a ReLU. */
export const bnNormalisePlainWgsl: WgslKernel = bnNormaliseWgsl(false);

/** Pass 1 backward: per (tile, channel) `[sum(dy'), sum(dy' (x - mean))]`, `dy'` masked by `y > 0` when given. */
function bnGradPartialWgsl(masked: boolean): WgslKernel {
  return wgsl(masked ? "bnGradPartialRelu" : "bnGradPartial", {
    inputs: masked ? ["dy", "x", "mean", "y"] : ["dy", "x", "mean"],
    outputs: ["partial"],
    uniforms: STATS_UNIFORMS,
    workgroup: CHANNEL_GROUP,
    body: `${TILE}
  let m = mean[c];
  var s1 = 0.0;
  var s2 = 0.0;
  for (var r = r0; r < r1; r = r + 1u) {
    let i = r * u.c + c;
    let g = ${maskedDy(masked)};
    s1 = s1 + g;
    s2 = s2 + g * (x[i] - m);
  }
  let o = (t * u.c + c) * 2u;
  partial[o] = s1;
  partial[o + 1u] = s2;`,
  });
}

/** Pass 1 backward through the fused ReLU. */
export const bnGradPartialReluWgsl: WgslKernel = bnGradPartialWgsl(true);
/** Pass 1 backward without a ReLU. */
export const bnGradPartialPlainWgsl: WgslKernel = bnGradPartialWgsl(false);

/**
 * Pass 2 backward: `dbeta = sum(dy')`, `dgamma = sum(dy' (x - mean)) / sqrt(var + eps)`,
 * also side by side in `dgb` (`[dgamma, dbeta]`) for pass 3, which would
 * otherwise need more than the 8 storage bindings WebGPU guarantees.
 */
export const bnGradMergeWgsl: WgslKernel = wgsl("bnGradMerge", {
  inputs: ["partial", "variance"],
  outputs: ["dgamma", "dbeta", "dgb"],
  uniforms: `${STATS_UNIFORMS}, eps : f32`,
  workgroup: CHANNEL_GROUP,
  body: `
  let c = gid.x;
  if (c >= u.c) { return; }
  var s1 = 0.0;
  var s2 = 0.0;
  for (var t = 0u; t < u.tiles; t = t + 1u) {
    s1 = s1 + partial[(t * u.c + c) * 2u];
    s2 = s2 + partial[(t * u.c + c) * 2u + 1u];
  }
  let dg = s2 * inverseSqrt(variance[c] + u.eps);
  dbeta[c] = s1;
  dgamma[c] = dg;
  dgb[c] = dg;
  dgb[u.c + c] = s1;`,
});

/** Pass 3 backward: `dx = gamma invstd ((dy' - dbeta / m) - xhat dgamma / m)`. */
function bnGradInputWgsl(masked: boolean): WgslKernel {
  const inputs = ["dy", "x", "gamma", "mean", "variance", "dgb"];
  return wgsl(masked ? "bnGradInputRelu" : "bnGradInput", {
    inputs: masked ? [...inputs, "y"] : inputs,
    outputs: ["dx"],
    uniforms: "size : u32, c : u32, eps : f32, m : f32",
    linear: true,
    body: `
  let c = i % u.c;
  let invStd = inverseSqrt(variance[c] + u.eps);
  let xhat = (x[i] - mean[c]) * invStd;
  let g = ${maskedDy(masked)};
  dx[i] = (gamma[c] * invStd) * ((g - dgb[u.c + c] / u.m) - xhat * (dgb[c] / u.m));`,
  });
}

/** Pass 3 backward through the fused ReLU. */
export const bnGradInputReluWgsl: WgslKernel = bnGradInputWgsl(true);
/** Pass 3 backward without a ReLU. */
export const bnGradInputPlainWgsl: WgslKernel = bnGradInputWgsl(false);

/**
 * `running = running (1 - m) + batch m`, the variance made unbiased first,
 * for `k` batch norms in one dispatch (batch norm `z` at `gid.z`, one thread
 * a channel). In place, the running averages are written over.
 */
export const bnRunningWgsl: (k: number) => WgslKernel = slotKernels((k) => {
  const slots = Array.from({ length: k }, (_, z) => z);
  return wgsl(`bnRunning${k}`, {
    inputs: slots.flatMap((z) => [`rm${z}`, `rv${z}`, `m${z}`, `v${z}`]),
    outputs: slots.flatMap((z) => [`rmOut${z}`, `rvOut${z}`]),
    uniforms: ["keep : f32", "momentum : f32", ...slots.map((z) => `size${z} : u32, unbias${z} : f32`)].join(
      ", ",
    ),
    workgroup: CHANNEL_GROUP,
    body: `
  let c = gid.x;
  ${
      perSlot(k, (z) => `
      if (c < u.size${z}) {
        rmOut${z}[c] = rm${z}[c] * u.keep + m${z}[c] * u.momentum;
        rvOut${z}[c] = rv${z}[c] * u.keep + (v${z}[c] * u.unbias${z}) * u.momentum;
      }`)
    }`,
    inPlace: Object.fromEntries(slots.flatMap((z) => [[`rmOut${z}`, `rm${z}`], [`rvOut${z}`, `rv${z}`]])),
  });
});

/** Batch norms whose running averages one dispatch updates: six buffers each. */
function bnRunningSlots(limits: { maxStorageBuffersPerShaderStage: number }): number {
  return slotsFor(limits, 6);
}

/** Every WGSL kernel of this file a device with `limits` runs, to compile at startup. */
export function batchNormWgsl(limits: { maxStorageBuffersPerShaderStage: number }): WgslKernel[] {
  return [
    bnPartialWgsl,
    bnMergeWgsl,
    bnNormaliseReluWgsl,
    bnNormalisePlainWgsl,
    bnGradPartialReluWgsl,
    bnGradPartialPlainWgsl,
    bnGradMergeWgsl,
    bnGradInputReluWgsl,
    bnGradInputPlainWgsl,
    ...Array.from({ length: bnRunningSlots(limits) }, (_, k) => bnRunningWgsl(k + 1)),
  ];
}

/** Rows, channels and tiling of an NHWC tensor. */
function stats(shape: readonly number[]) {
  const c = shape.at(-1)!;
  const size = tf.util.sizeFromShape(shape as number[]);
  const rows = size / c;
  const rowsPerTile = tileRows(rows);
  const tiles = Math.ceil(rows / rowsPerTile);
  if (tiles > 65535) throw new Error(`Batch norm over ${rows} rows needs ${tiles} tiles: more than 65535`);
  return { c, size, rows, rowsPerTile, tiles, uniforms: u32(rows, c, rowsPerTile, tiles) };
}

/**
 * The kernel configs of this file for the `webgpu` backend.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * for (const k of batchNormKernels(() => runner)) tf.registerKernel(k);
 * ```
 */
export function batchNormKernels(runnerOf: (backend: object) => KernelRunner): tf.KernelConfig[] {
  const backendName = WEBGPU_BACKEND;
  return [
    {
      kernelName: BN_TRAIN_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const runner = runnerOf(backend);
        const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
        const { epsilon, relu = false } = attrs as { epsilon: number; relu?: boolean };
        const s = stats(x.shape);
        const channelGroups = Math.ceil(s.c / CHANNEL_GROUP);
        const [partial] = runner.run(bnPartialWgsl, {
          inputs: [x],
          outputs: [{ shape: [s.tiles * s.c * 4], dtype: "float32" }],
          uniforms: s.uniforms,
          workgroups: [channelGroups, s.tiles, 1],
        });
        const [mean, variance] = runner.run(bnMergeWgsl, {
          inputs: [partial],
          outputs: [{ shape: [s.c], dtype: "float32" }, { shape: [s.c], dtype: "float32" }],
          uniforms: s.uniforms,
          workgroups: [channelGroups, 1, 1],
        });
        runner.dispose(partial);
        const [y] = runner.run(relu ? bnNormaliseReluWgsl : bnNormalisePlainWgsl, {
          inputs: [x, gamma, beta, mean, variance],
          outputs: [{ shape: x.shape, dtype: "float32" }],
          uniforms: [...u32(s.size, s.c), f32(epsilon)],
          workgroups: grid(s.size),
        });
        // No mask output: the op hands the ReLU output back to the gradient.
        return [y, mean, variance];
      },
    },
    {
      kernelName: BN_TRAIN_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const runner = runnerOf(backend);
        const { dy, x, gamma, mean, variance, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
        const eps = (attrs as { epsilon: number }).epsilon;
        const s = stats(x!.shape);
        const channelGroups = Math.ceil(s.c / CHANNEL_GROUP);
        const masked = mask !== undefined;
        const [partial] = runner.run(masked ? bnGradPartialReluWgsl : bnGradPartialPlainWgsl, {
          inputs: masked ? [dy!, x!, mean!, mask!] : [dy!, x!, mean!],
          outputs: [{ shape: [s.tiles * s.c * 2], dtype: "float32" }],
          uniforms: s.uniforms,
          workgroups: [channelGroups, s.tiles, 1],
        });
        const [dgamma, dbeta, dgb] = runner.run(bnGradMergeWgsl, {
          inputs: [partial, variance!],
          outputs: [
            { shape: [s.c], dtype: "float32" },
            { shape: [s.c], dtype: "float32" },
            { shape: [2 * s.c], dtype: "float32" },
          ],
          uniforms: [...s.uniforms, f32(eps)],
          workgroups: [channelGroups, 1, 1],
        });
        runner.dispose(partial);
        const [dx] = runner.run(masked ? bnGradInputReluWgsl : bnGradInputPlainWgsl, {
          inputs: masked
            ? [dy!, x!, gamma!, mean!, variance!, dgb, mask!]
            : [dy!, x!, gamma!, mean!, variance!, dgb],
          outputs: [{ shape: x!.shape, dtype: "float32" }],
          uniforms: [...u32(s.size, s.c), f32(eps), f32(s.rows)],
          workgroups: grid(s.size),
        });
        runner.dispose(dgb);
        return [dx, dgamma, dbeta];
      },
    },
    {
      kernelName: BN_RUNNING_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const { runningMean, runningVar, mean, variance } = inputs as Record<string, tf.TensorInfo>;
        const { momentum, count } = attrs as unknown as BatchNormRunningAttrs;
        return runningUpdates(
          runnerOf(backend),
          [{ runningMean, runningVar, mean, variance, count }],
          momentum,
        );
      },
    },
    {
      kernelName: BN_RUNNING_ALL_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const named = inputs as Record<string, tf.TensorInfo>;
        const { momentum, counts } = attrs as unknown as { momentum: number; counts: number[] };
        const updates = counts.map((count, i) => ({
          runningMean: named[`rm${i}`],
          runningVar: named[`rv${i}`],
          mean: named[`m${i}`],
          variance: named[`v${i}`],
          count,
        }));
        return runningUpdates(runnerOf(backend), updates, momentum);
      },
    },
  ];
}

/** One batch norm's running-average update, as the kernels take it. */
interface Update {
  runningMean: tf.TensorInfo;
  runningVar: tf.TensorInfo;
  mean: tf.TensorInfo;
  variance: tf.TensorInfo;
  count: number;
}

/**
 * The running averages of every update, {@linkcode bnRunningSlots} a
 * dispatch: `[mean0, var0, mean1, var1, ...]`.
 */
function runningUpdates(runner: KernelRunner, updates: readonly Update[], momentum: number): tf.TensorInfo[] {
  const out: tf.TensorInfo[] = [];
  const slots = bnRunningSlots(runner.limits);
  for (let first = 0; first < updates.length; first += slots) {
    const chunk = updates.slice(first, first + slots);
    const channels = Math.max(...chunk.map((u) => u.mean.shape[0]));
    out.push(...runner.run(bnRunningWgsl(chunk.length), {
      inputs: chunk.flatMap((u) => [u.runningMean, u.runningVar, u.mean, u.variance]),
      outputs: chunk.flatMap((u) => {
        const channels = { shape: u.mean.shape, dtype: "float32" as const };
        return [channels, channels];
      }),
      uniforms: [
        f32(1 - momentum),
        f32(momentum),
        ...chunk.flatMap((u) => [...u32(u.mean.shape[0]), f32(u.count / Math.max(u.count - 1, 1))]),
      ],
      workgroups: [Math.ceil(channels / CHANNEL_GROUP), 1, chunk.length],
    }));
  }
  return out;
}

/**
 * Training-mode batch norm over `[N, H, W]` per channel of NHWC data, and
 * the `native` kernels of `ops/batch_norm_train.ts` (`BatchNormTrain`,
 * `BatchNormTrainGrad`, optionally with the following ReLU fused in) and of
 * tfjs's inference `FusedBatchNorm`: oneDNN's multithreaded JIT batch norm
 * when it is loaded, else fused TypedArray loops (2 passes each way, float64
 * accumulators, PyTorch's rounding).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { BN_TRAIN_GRAD_KERNEL, BN_TRAIN_KERNEL } from "../ops/batch_norm_train.ts";
import { type BatchNormRunningAttrs, BN_RUNNING_KERNEL } from "../ops/batch_norm_running.ts";
import { DNNL, type Dnnl, type DnnlPrimitive } from "./dnnl.ts";
import { type Alloc, freshAlloc, valuesOf, withCpuFallback } from "./kernel_io.ts";

/** tfjs's inference batch-norm kernel (`tf.batchNorm`). */
const FUSED_BATCH_NORM = "FusedBatchNorm";

/** Output of {@linkcode bnForward}. */
export interface BnForward {
  y: Float32Array;
  mean: Float32Array;
  /** Biased (divided by N*H*W). */
  variance: Float32Array;
  /** With `relu`: 1 where the output is positive, else 0, a byte each. */
  mask?: Uint8Array;
}

/**
 * Normalises `x` (channels innermost, `c` of them) with its batch
 * statistics, then scales by `gamma` and shifts by `beta`; with `relu`,
 * clamps at zero in the same pass and returns the mask the backward needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bnForward } from "./batch_norm_kernels.ts";
 * // One channel, two values; gamma 1, beta 0, eps 0 for round numbers.
 * const r = bnForward(Float32Array.of(1, 3), Float32Array.of(1), Float32Array.of(0), 0, true);
 * assert.deepEqual(r.mean, Float32Array.of(2));
 * assert.deepEqual(r.variance, Float32Array.of(1));
 * assert.deepEqual(r.y, Float32Array.of(0, 1)); // [-1, 1], then the ReLU
 * assert.deepEqual(r.mask, Uint8Array.of(0, 1));
 * ```
 */
export function bnForward(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  relu = false,
): BnForward {
  const { mean, variance } = bnStatistics(x, gamma.length);
  const y = bnInference(x, [gamma, beta, mean, variance], eps);
  if (!relu) return { y, mean, variance };
  const mask = new Uint8Array(x.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    mask[i] = +(v > 0);
    y[i] = v > 0 ? v : 0;
  }
  return { y, mean, variance, mask };
}

/**
 * Per-channel mean and biased variance of `x` (channels innermost, `c` of
 * them), accumulated in float64 like PyTorch's CPU batch norm (oneDNN's
 * float32 sums, used when oneDNN loads, differ by ~1e-6 relative; see
 * {@linkcode DnnlBatchNorm}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bnStatistics } from "./batch_norm_kernels.ts";
 * // Two channels, interleaved: channel 0 holds 1 and 3, channel 1 holds 10 and 10.
 * const { mean, variance } = bnStatistics(Float32Array.of(1, 10, 3, 10), 2);
 * assert.deepEqual(mean, Float32Array.of(2, 10));
 * assert.deepEqual(variance, Float32Array.of(1, 0)); // biased: divided by 2, not 1
 * ```
 */
export function bnStatistics(
  x: Float32Array,
  c: number,
): { mean: Float32Array; variance: Float32Array } {
  const m = x.length / c;
  // One pass, sum and sum of squares in float64: for float32 data the
  // cancellation in E[x^2] - E[x]^2 stays far below float32 rounding.
  const sum = new Float64Array(c), sq = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const v = x[i + k];
      sum[k] += v;
      sq[k] += v * v;
    }
  }
  const mean = new Float32Array(c), variance = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    const mu = sum[k] / m;
    mean[k] = mu;
    variance[k] = Math.max(sq[k] / m - mu * mu, 0);
  }
  return { mean, variance };
}

/** Output of {@linkcode bnBackward}. */
export interface BnBackward {
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/**
 * Gradients of {@linkcode bnForward} (statistics depending on `x`
 * included): `dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat))`;
 * `mask` (from a `relu` forward) zeroes `dy` where the output was clamped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bnBackward } from "./batch_norm_kernels.ts";
 * const x = Float32Array.of(1, 3), gamma = Float32Array.of(1);
 * const [mean, variance] = [Float32Array.of(2), Float32Array.of(1)]; // from bnForward
 * const { dx, dgamma, dbeta } = bnBackward(Float32Array.of(1, 1), x, [gamma, mean, variance], 0);
 * assert.deepEqual(dbeta, Float32Array.of(2));
 * assert.deepEqual(dgamma, Float32Array.of(0));
 * assert.deepEqual(dx, Float32Array.of(0, 0)); // a uniform dy is absorbed by the mean
 * ```
 */
export function bnBackward(
  dy: Float32Array,
  x: Float32Array,
  [gamma, mean, variance]: [Float32Array, Float32Array, Float32Array],
  eps: number,
  mask?: Uint8Array,
): BnBackward {
  if (mask) dy = dy.map((g, i) => mask[i] ? g : 0);
  const c = gamma.length, m = x.length / c;
  const invStd = new Float64Array(c);
  for (let k = 0; k < c; k++) invStd[k] = 1 / Math.sqrt(variance[k] + eps);
  // Sums of dy and dy * x in float64; sum(dy (x - mean)) follows exactly
  // enough from them, which saves a load and a subtraction per element.
  const sumDy = new Float64Array(c), sumDyX = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const g = dy[i + k];
      sumDy[k] += g;
      sumDyX[k] += g * x[i + k];
    }
  }
  const sumDyXc = new Float64Array(c);
  for (let k = 0; k < c; k++) sumDyXc[k] = sumDyX[k] - mean[k] * sumDy[k];
  const dgamma = new Float32Array(c), dbeta = new Float32Array(c);
  // dx = a * dy + b * x + d, per channel (float64 coefficients).
  const a = new Float64Array(c), b = new Float64Array(c), d = new Float64Array(c);
  for (let k = 0; k < c; k++) {
    dbeta[k] = sumDy[k];
    dgamma[k] = sumDyXc[k] * invStd[k];
    a[k] = gamma[k] * invStd[k];
    b[k] = -a[k] * invStd[k] * invStd[k] * sumDyXc[k] / m;
    d[k] = -a[k] * sumDy[k] / m - b[k] * mean[k];
  }
  const dx = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      dx[i + k] = a[k] * dy[i + k] + b[k] * x[i + k] + d[k];
    }
  }
  return { dx, dgamma, dbeta };
}

/**
 * Inference-mode batch norm with given per-channel statistics (channels
 * innermost): `y = x * scale + shift`, `scale = gamma / sqrt(variance + eps)`,
 * `shift = beta - mean * scale`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bnInference } from "./batch_norm_kernels.ts";
 * const [gamma, beta] = [Float32Array.of(1), Float32Array.of(0)];
 * const [mean, variance] = [Float32Array.of(2), Float32Array.of(1)]; // running statistics
 * const y = bnInference(Float32Array.of(1, 3), [gamma, beta, mean, variance], 0);
 * assert.deepEqual(y, Float32Array.of(-1, 1));
 * ```
 */
export function bnInference(
  x: Float32Array,
  [gamma, beta, mean, variance]: [Float32Array, Float32Array, Float32Array, Float32Array],
  eps: number,
): Float32Array {
  const c = mean.length;
  const scale = new Float32Array(c), shift = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    scale[k] = gamma[k] / Math.sqrt(variance[k] + eps);
    shift[k] = beta[k] - mean[k] * scale[k];
  }
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) y[i + k] = x[i + k] * scale[k] + shift[k];
  }
  return y;
}

const BN_FLAGS = DNNL.useScale | DNNL.useShift;

interface DnnlBnPlan {
  forward: DnnlPrimitive;
  backward: DnnlPrimitive;
  /** Bytes of the ReLU workspace (0 without `relu`). */
  workspace: number;
  /** Zeros: the backward does not read the shift but it must be bound. */
  shift: Float32Array;
}

/**
 * oneDNN's training-mode batch norm on NHWC data, forward and backward
 * (through the statistics), optionally with the following ReLU fused in
 * (`dnnl_fuse_norm_relu`: the forward writes a bit mask, the backward reads
 * it). Multithreaded JIT code: on the 2-core box a [128, 32, 32, 16]
 * forward takes ~4 ms against ~15 ms for {@linkcode bnForward}. Statistics
 * are float32 sums (oneDNN's), where PyTorch's CPU batch norm accumulates
 * in float64: outputs differ from it by ~1e-6 relative. One primitive pair
 * per shape, epsilon and `relu`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DnnlBatchNorm } from "./batch_norm_kernels.ts";
 * import { loadNativeLibraries } from "./ffi.ts";
 * const bn = new DnnlBatchNorm(loadNativeLibraries().dnnl!); // needs libdnnl.so.2
 * const shape = [2, 1, 1, 1]; // NHWC; a ResNet20 layer is e.g. [128, 32, 32, 16]
 * const x = Float32Array.of(1, 3), gamma = Float32Array.of(1), beta = Float32Array.of(0);
 * const f = bn.forward(x, shape, gamma, beta, 0, true);
 * assert.deepEqual(f.mean, Float32Array.of(2));
 * assert.deepEqual(f.y, Float32Array.of(0, 1)); // [-1, 1], then the fused ReLU
 * const b = bn.backward(Float32Array.of(1, 1), x, shape, [gamma, f.mean, f.variance], 0, f.mask);
 * assert.deepEqual(b.dbeta, Float32Array.of(1)); // dy counts only where the ReLU passed
 * ```
 */
export class DnnlBatchNorm {
  #dnnl: Dnnl;
  #alloc: Alloc;
  #plans = new Map<string, DnnlBnPlan>();
  #inference = new Map<string, DnnlPrimitive>();

  /**
   * Uses `dnnl`'s engine and stream; `y` and `dx` come from `alloc`, which
   * may return old contents (every element is written).
   */
  constructor(dnnl: Dnnl, alloc: Alloc = freshAlloc) {
    this.#dnnl = dnnl;
    this.#alloc = alloc;
  }

  #plan(shape: readonly number[], eps: number, relu: boolean): DnnlBnPlan {
    const key = `${shape.join(",")}:${eps}:${relu}`;
    let plan = this.#plans.get(key);
    if (!plan) {
      const d = this.#dnnl;
      const [n, h, w, c] = shape;
      const md = d.memoryDesc([n, c, h, w], DNNL.tagNhwc);
      const flags = BN_FLAGS | (relu ? DNNL.fuseNormRelu : 0);
      const fwdPd = d.primitiveDesc(d.opDesc(
        "dnnl_batch_normalization_forward_desc_init",
        (b) => d.symbols.dnnl_batch_normalization_forward_desc_init(b, DNNL.forwardTraining, md, eps, flags),
      ));
      const workspace = relu ? d.argBytes(fwdPd, DNNL.argWorkspace) : 0;
      const fwdArgs: number[] = [
        DNNL.argSrc,
        DNNL.argScale,
        DNNL.argShift,
        DNNL.argDst,
        DNNL.argMean,
        DNNL.argVariance,
      ];
      const bwdArgs: number[] = [
        DNNL.argSrc,
        DNNL.argDiffDst,
        DNNL.argMean,
        DNNL.argVariance,
        DNNL.argScale,
        DNNL.argShift,
        DNNL.argDiffSrc,
        DNNL.argDiffScale,
        DNNL.argDiffShift,
      ];
      if (relu) {
        fwdArgs.push(DNNL.argWorkspace);
        bwdArgs.push(DNNL.argWorkspace);
      }
      const desc = d.opDesc(
        "dnnl_batch_normalization_backward_desc_init",
        (b) =>
          d.symbols.dnnl_batch_normalization_backward_desc_init(
            b,
            DNNL.backward,
            md,
            md,
            eps,
            flags,
          ),
      );
      plan = {
        forward: d.primitiveForArgs(fwdPd, fwdArgs),
        backward: d.primitiveForArgs(d.primitiveDesc(desc, fwdPd), bwdArgs),
        workspace,
        shift: new Float32Array(c),
      };
      this.#plans.set(key, plan);
    }
    return plan;
  }

  /**
   * Inference-mode batch norm with given statistics (the running ones):
   * `y = (x - mean) / sqrt(variance + eps) * gamma + beta`.
   */
  inference(
    x: Float32Array,
    shape: readonly number[],
    [gamma, beta, mean, variance]: [Float32Array, Float32Array, Float32Array, Float32Array],
    eps: number,
  ): Float32Array {
    const key = `inference:${shape.join(",")}:${eps}`;
    let prim = this.#inference.get(key);
    if (!prim) {
      const d = this.#dnnl;
      const [n, h, w, c] = shape;
      const md = d.memoryDesc([n, c, h, w], DNNL.tagNhwc);
      const pd = d.primitiveDesc(d.opDesc(
        "dnnl_batch_normalization_forward_desc_init",
        (b) =>
          d.symbols.dnnl_batch_normalization_forward_desc_init(
            b,
            DNNL.forwardInference,
            md,
            eps,
            BN_FLAGS | DNNL.useGlobalStats,
          ),
      ));
      prim = d.primitiveForArgs(pd, [
        DNNL.argSrc,
        DNNL.argScale,
        DNNL.argShift,
        DNNL.argMean,
        DNNL.argVariance,
        DNNL.argDst,
      ]);
      this.#inference.set(key, prim);
    }
    const y = this.#alloc(x.length);
    prim.run([x, gamma, beta, mean, variance, y]);
    return y;
  }

  /** Same as {@linkcode bnForward}; `shape` is NHWC, `mask` is oneDNN's. */
  forward(
    x: Float32Array,
    shape: readonly number[],
    gamma: Float32Array,
    beta: Float32Array,
    eps: number,
    relu = false,
  ): BnForward {
    const plan = this.#plan(shape, eps, relu);
    const c = gamma.length;
    const y = this.#alloc(x.length);
    const mean = new Float32Array(c), variance = new Float32Array(c);
    if (!relu) {
      plan.forward.run([x, gamma, beta, y, mean, variance]);
      return { y, mean, variance };
    }
    const mask = new Uint8Array(plan.workspace);
    plan.forward.run([x, gamma, beta, y, mean, variance, mask]);
    return { y, mean, variance, mask };
  }

  /** Same as {@linkcode bnBackward}; `shape` is NHWC, `mask` from {@linkcode forward}. */
  backward(
    dy: Float32Array,
    x: Float32Array,
    shape: readonly number[],
    [gamma, mean, variance]: [Float32Array, Float32Array, Float32Array],
    eps: number,
    mask?: Uint8Array,
  ): BnBackward {
    const plan = this.#plan(shape, eps, mask !== undefined);
    if (mask && mask.length !== plan.workspace) {
      throw new Error(`Batch-norm ReLU mask of ${mask.length} bytes, expected oneDNN's ${plan.workspace}`);
    }
    const c = gamma.length;
    const dx = this.#alloc(x.length);
    const dgamma = new Float32Array(c), dbeta = new Float32Array(c);
    const data = [x, dy, mean, variance, gamma, plan.shift, dx, dgamma, dbeta];
    plan.backward.run(mask ? [...data, mask] : data);
    return { dx, dgamma, dbeta };
  }
}

/**
 * PyTorch's running averages, `running (1 - m) + batch m` with the variance
 * made unbiased first, rounded to float32 after every operation as the
 * reference's tfjs ops round.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bnRunning } from "./batch_norm_kernels.ts";
 * const [m, v] = bnRunning([0, 1, 2, 4].map((x) => new Float32Array([x])) as [Float32Array, Float32Array, Float32Array, Float32Array], {
 *   momentum: 0.5,
 *   count: 2,
 * });
 * assert.deepEqual([m[0], v[0]], [1, 4.5]);
 * ```
 */
export function bnRunning(
  [runningMean, runningVar, mean, variance]: [Float32Array, Float32Array, Float32Array, Float32Array],
  { momentum, count }: BatchNormRunningAttrs,
): [Float32Array, Float32Array] {
  const f = Math.fround, keep = f(1 - momentum), m = f(momentum), unbias = f(count / Math.max(count - 1, 1));
  const c = mean.length, outMean = new Float32Array(c), outVar = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    outMean[i] = f(runningMean[i] * keep) + f(mean[i] * m);
    outVar[i] = f(runningVar[i] * keep) + f(f(variance[i] * unbias) * m);
  }
  return [outMean, outVar];
}

/**
 * The batch-norm kernel configs for backend `backendName`, on oneDNN
 * when `dnnl` is given, else on the TypedArray loops: `FusedBatchNorm`
 * (inference; other layouts go to the `cpu` kernel) and the two training
 * kernels. With attr `relu`, the forward clamps at zero and returns a fourth
 * output, an opaque `bool` mask (oneDNN's bit mask, or a byte a value from
 * the loops) that the gradient kernel takes as input `mask`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { BN_TRAIN_KERNEL } from "../ops/batch_norm_train.ts";
 * import { batchNormKernels } from "./batch_norm_kernels.ts";
 * // A cpu-derived backend with these kernels (the TypedArray loops: no oneDNN),
 * // as registerNativeBackend() builds "native".
 * tf.registerBackend("bn-demo", () => new MathBackendCPU());
 * for (const k of batchNormKernels("bn-demo", null)) tf.registerKernel(k);
 * await tf.setBackend("bn-demo");
 * // What batchNormTrain() of lib/ops runs on such a backend.
 * const x = tf.tensor4d([1, 3], [2, 1, 1, 1]), gamma = tf.ones([1]), beta = tf.zeros([1]);
 * const outs = tf.engine().runKernel(BN_TRAIN_KERNEL, { x, gamma, beta }, { epsilon: 0 });
 * const [y, mean] = outs as tf.Tensor[];
 * assert.deepEqual(await y.data(), Float32Array.of(-1, 1));
 * assert.deepEqual(await mean.data(), Float32Array.of(2));
 * ```
 */
export function batchNormKernels(
  backendName: string,
  dnnl: Dnnl | null,
  alloc: Alloc = freshAlloc,
): tf.KernelConfig[] {
  const bn = dnnl ? new DnnlBatchNorm(dnnl, alloc) : null;
  return [
    // tf.batchNorm (inference with running statistics): `cpu`'s kernel
    // indexes element by element, ~15 ms for [128, 32, 32, 16].
    withCpuFallback(FUSED_BATCH_NORM, backendName, (args, cpu) => {
      const v = (t: tf.TensorInfo) => valuesOf(cpu, t);
      const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const eps = (args.attrs as { varianceEpsilon: number }).varianceEpsilon;
      const c = x!.shape.at(-1) ?? 0;
      const perChannel = (t: tf.TensorInfo | undefined) =>
        t === undefined || (t.dtype === "float32" && t.shape.length === 1 && t.shape[0] === c);
      if (
        x!.dtype !== "float32" || x!.shape.length === 0 ||
        ![mean, variance, offset, scale].every(perChannel) || !mean || !variance
      ) {
        return null;
      }
      const stats: [Float32Array, Float32Array, Float32Array, Float32Array] = [
        scale ? v(scale) : new Float32Array(c).fill(1),
        offset ? v(offset) : new Float32Array(c),
        v(mean),
        v(variance),
      ];
      const y = bn && x!.shape.length === 4
        ? bn.inference(v(x!), x!.shape, stats, eps)
        : bnInference(v(x!), stats, eps);
      return cpu.makeTensorInfo(x!.shape, "float32", y);
    }),
    {
      kernelName: BN_RUNNING_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = (t: tf.TensorInfo) => valuesOf(cpu, t);
        const { runningMean, runningVar, mean, variance } = inputs as Record<string, tf.TensorInfo>;
        const [m, vr] = bnRunning(
          [v(runningMean), v(runningVar), v(mean), v(variance)],
          attrs as unknown as BatchNormRunningAttrs,
        );
        return [cpu.makeTensorInfo(mean.shape, "float32", m), cpu.makeTensorInfo(mean.shape, "float32", vr)];
      },
    },
    {
      kernelName: BN_TRAIN_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = (t: tf.TensorInfo) => valuesOf(cpu, t);
        const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
        const { epsilon: eps, relu = false } = attrs as { epsilon: number; relu?: boolean };
        const r = bn && x.shape.length === 4
          ? bn.forward(v(x), x.shape, v(gamma), v(beta), eps, relu)
          : bnForward(v(x), v(gamma), v(beta), eps, relu);
        const outs = [
          cpu.makeTensorInfo(x.shape, "float32", r.y),
          cpu.makeTensorInfo(gamma.shape, "float32", r.mean),
          cpu.makeTensorInfo(gamma.shape, "float32", r.variance),
        ];
        if (r.mask) outs.push(cpu.makeTensorInfo([r.mask.length], "bool", r.mask));
        return outs;
      },
    },
    {
      kernelName: BN_TRAIN_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = (t: tf.TensorInfo) => valuesOf(cpu, t);
        const { dy, x, gamma, mean, variance, mask } = inputs as Record<
          string,
          tf.TensorInfo | undefined
        > as Record<string, tf.TensorInfo> & { mask?: tf.TensorInfo };
        const eps = (attrs as { epsilon: number }).epsilon;
        const stats: [Float32Array, Float32Array, Float32Array] = [
          v(gamma),
          v(mean),
          v(variance),
        ];
        const m = mask && cpu.data.get(mask.dataId).values as Uint8Array;
        const r = bn && x.shape.length === 4
          ? bn.backward(v(dy), v(x), x.shape, stats, eps, m)
          : bnBackward(v(dy), v(x), stats, eps, m);
        return [
          cpu.makeTensorInfo(x.shape, "float32", r.dx),
          cpu.makeTensorInfo(gamma.shape, "float32", r.dgamma),
          cpu.makeTensorInfo(gamma.shape, "float32", r.dbeta),
        ];
      },
    },
  ];
}

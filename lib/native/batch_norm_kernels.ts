/**
 * Training-mode batch norm over `[N, H, W]` per channel of NHWC data, and
 * the tfjs kernels `NativeBatchNormTrain` / `NativeBatchNormTrainGrad` that
 * {@linkcode batchNormTrain} calls on the `native` backend. The forward is
 * always a fused TypedArray loop with PyTorch's rounding (2 passes, float64
 * statistics); the backward is oneDNN's multithreaded JIT batch norm on
 * inputs of 2^21 elements or more when loaded, else a fused loop (2 passes,
 * float64 accumulators).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { util } from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { DNNL, type Dnnl, type DnnlPrimitive } from "./dnnl.ts";

/** Kernel: inputs `{x, gamma, beta}`, attr `epsilon` -> `[y, mean, variance]`. */
export const BN_TRAIN_KERNEL = "NativeBatchNormTrain";
/** Kernel: inputs `{dy, x, gamma, mean, variance}` -> `[dx, dgamma, dbeta]`. */
export const BN_TRAIN_GRAD_KERNEL = "NativeBatchNormTrainGrad";

/** Output of {@linkcode bnForward}. */
export interface BnForward {
  y: Float32Array;
  mean: Float32Array;
  /** Biased (divided by N*H*W). */
  variance: Float32Array;
}

/**
 * Normalises `x` (channels innermost, `c` of them) with its batch
 * statistics, then scales by `gamma` and shifts by `beta`.
 *
 * @example
 * ```ts
 * import { bnForward } from "./batch_norm_kernels.ts";
 * const { mean } = bnForward(new Float32Array([1, 3]), new Float32Array([1]), new Float32Array([0]), 1e-5);
 * console.log(mean[0]); // 2
 * ```
 */
export function bnForward(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
): BnForward {
  const { mean, variance } = bnStatistics(x, gamma.length);
  const c = gamma.length;
  const scale = new Float32Array(c), shift = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    scale[k] = gamma[k] / Math.sqrt(variance[k] + eps);
    shift[k] = beta[k] - mean[k] * scale[k];
  }
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) y[i + k] = x[i + k] * scale[k] + shift[k];
  }
  return { y, mean, variance };
}

/**
 * Per-channel mean and biased variance of `x` (channels innermost, `c` of
 * them), accumulated in float64 like PyTorch's CPU batch norm. oneDNN's
 * float32 statistics differ by ~1e-6 relative, enough to flip a ReLU whose
 * input sits near zero and change a ResNet20 weight update by ~3%.
 *
 * @example
 * ```ts
 * import { bnStatistics } from "./batch_norm_kernels.ts";
 * const { mean, variance } = bnStatistics(new Float32Array([1, 3]), 1);
 * console.log(mean[0], variance[0]); // 2 1
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
 * included): `dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat))`.
 *
 * @example
 * ```ts
 * import { bnBackward } from "./batch_norm_kernels.ts";
 * const x = new Float32Array([1, 3]), one = new Float32Array([1]);
 * const { dbeta } = bnBackward(new Float32Array([1, 1]), x, [one, new Float32Array([2]), one], 1e-5);
 * console.log(dbeta[0]); // 2
 * ```
 */
export function bnBackward(
  dy: Float32Array,
  x: Float32Array,
  [gamma, mean, variance]: [Float32Array, Float32Array, Float32Array],
  eps: number,
): BnBackward {
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

type Values = (t: tf.TensorInfo) => Float32Array;

function valuesOf(backend: MathBackendCPU): Values {
  return (t) => backend.data.get(t.dataId).values as Float32Array;
}

const BN_FLAGS = DNNL.useScale | DNNL.useShift;

/**
 * Smallest input for oneDNN's backward. Debian's libdnnl2 is TBB-threaded
 * and its NHWC batch norm (`bnorm_tbb_jit:avx2`) costs ~15 ms whatever the
 * size: [128, 8, 8, 64] 15.6 ms vs 4.0 ms for bnBackward, [128, 16, 16, 32]
 * 16 vs 12 ms, [128, 32, 32, 16] 18 vs 34 ms (2 cores, loaded box).
 */
const DNNL_BWD_MIN_ELEMENTS = 1 << 21;

/**
 * oneDNN's batch-norm backward pass (full: through the statistics) on NHWC
 * data; one primitive per shape and epsilon. There is no oneDNN forward:
 * {@linkcode bnForward} matches PyTorch's rounding (float64 statistics,
 * `y = x * scale + shift`), which oneDNN's float32 statistics and
 * `(x - mean) * invStd * gamma + beta` do not: one ReLU input near zero
 * flipping sign changed a ResNet20 weight update by ~3%. The backward's
 * ~1e-7 relative error feeds no threshold.
 *
 * @example
 * ```ts ignore
 * const bn = new DnnlBatchNorm(dnnl);
 * const { dx } = bn.backward(dy, x, [128, 32, 32, 16], [gamma, mean, variance], 1e-5);
 * ```
 */
export class DnnlBatchNorm {
  #dnnl: Dnnl;
  #plans = new Map<string, DnnlPrimitive>();

  /** Uses `dnnl`'s engine and stream. */
  constructor(dnnl: Dnnl) {
    this.#dnnl = dnnl;
  }

  #plan(shape: number[], eps: number): DnnlPrimitive {
    const key = `${shape.join(",")}:${eps}`;
    let plan = this.#plans.get(key);
    if (!plan) {
      const d = this.#dnnl;
      const [n, h, w, c] = shape;
      const md = d.memoryDesc([n, c, h, w], DNNL.tagNhwc);
      // The backward descriptor needs its forward as a hint.
      const fwdPd = d.primitiveDesc(d.opDesc(
        "dnnl_batch_normalization_forward_desc_init",
        (b) =>
          d.symbols.dnnl_batch_normalization_forward_desc_init(
            b,
            DNNL.forwardTraining,
            md,
            eps,
            BN_FLAGS,
          ),
      ));
      const desc = d.opDesc(
        "dnnl_batch_normalization_backward_desc_init",
        (b) =>
          d.symbols.dnnl_batch_normalization_backward_desc_init(
            b,
            DNNL.backward,
            md,
            md,
            eps,
            BN_FLAGS,
          ),
      );
      plan = d.primitiveForArgs(d.primitiveDesc(desc, fwdPd), [
        DNNL.argSrc,
        DNNL.argDiffDst,
        DNNL.argMean,
        DNNL.argVariance,
        DNNL.argScale,
        DNNL.argShift,
        DNNL.argDiffSrc,
        DNNL.argDiffScale,
        DNNL.argDiffShift,
      ]);
      this.#plans.set(key, plan);
    }
    return plan;
  }

  /** Same as {@linkcode bnBackward}; `shape` is NHWC. */
  backward(
    dy: Float32Array,
    x: Float32Array,
    shape: number[],
    [gamma, mean, variance]: [Float32Array, Float32Array, Float32Array],
    eps: number,
  ): BnBackward {
    const c = gamma.length;
    const dx = new Float32Array(x.length);
    const dgamma = new Float32Array(c), dbeta = new Float32Array(c);
    // The shift is not read by the backward pass but must be bound.
    const shift = new Float32Array(c);
    this.#plan(shape, eps).run([x, dy, mean, variance, gamma, shift, dx, dgamma, dbeta]);
    return { dx, dgamma, dbeta };
  }
}

/**
 * The two batch-norm kernel configs for backend `backendName`, on oneDNN
 * when `dnnl` is given, else on the TypedArray loops.
 *
 * @example
 * ```ts ignore
 * for (const k of batchNormKernels("native", dnnl)) tf.registerKernel(k);
 * ```
 */
export function batchNormKernels(
  backendName: string,
  dnnl: Dnnl | null,
): tf.KernelConfig[] {
  const bn = dnnl ? new DnnlBatchNorm(dnnl) : null;
  return [
    {
      kernelName: BN_TRAIN_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = valuesOf(cpu);
        const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
        const eps = (attrs as { epsilon: number }).epsilon;
        const r = bnForward(v(x), v(gamma), v(beta), eps);
        return [
          cpu.makeTensorInfo(x.shape, "float32", r.y),
          cpu.makeTensorInfo(gamma.shape, "float32", r.mean),
          cpu.makeTensorInfo(gamma.shape, "float32", r.variance),
        ];
      },
    },
    {
      kernelName: BN_TRAIN_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU, v = valuesOf(cpu);
        const { dy, x, gamma, mean, variance } = inputs as Record<
          string,
          tf.TensorInfo
        >;
        const eps = (attrs as { epsilon: number }).epsilon;
        const stats: [Float32Array, Float32Array, Float32Array] = [
          v(gamma),
          v(mean),
          v(variance),
        ];
        const r = bn && x.shape.length === 4 && dy.shape.length === 4 &&
            util.sizeFromShape(x.shape) >= DNNL_BWD_MIN_ELEMENTS
          ? bn.backward(v(dy), v(x), x.shape, stats, eps)
          : bnBackward(v(dy), v(x), stats, eps);
        return [
          cpu.makeTensorInfo(x.shape, "float32", r.dx),
          cpu.makeTensorInfo(gamma.shape, "float32", r.dgamma),
          cpu.makeTensorInfo(gamma.shape, "float32", r.dbeta),
        ];
      },
    },
  ];
}

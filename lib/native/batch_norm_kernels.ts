/**
 * Training-mode batch norm over `[N, H, W]` per channel of NHWC data as
 * fused single-threaded TypedArray loops (3 passes forward, 2 backward,
 * float64 accumulators), and the tfjs kernels `NativeBatchNormTrain` /
 * `NativeBatchNormTrainGrad` that {@linkcode batchNormTrain} calls on the
 * `native` backend.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";

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
  const c = gamma.length, m = x.length / c;
  const sum = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) sum[k] += x[i + k];
  }
  const mean = new Float32Array(c);
  for (let k = 0; k < c; k++) mean[k] = sum[k] / m;
  const sq = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const d = x[i + k] - mean[k];
      sq[k] += d * d;
    }
  }
  const variance = new Float32Array(c);
  const scale = new Float32Array(c), shift = new Float32Array(c);
  for (let k = 0; k < c; k++) {
    variance[k] = sq[k] / m;
    scale[k] = gamma[k] / Math.sqrt(variance[k] + eps);
    shift[k] = beta[k] - mean[k] * scale[k];
  }
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) y[i + k] = x[i + k] * scale[k] + shift[k];
  }
  return { y, mean, variance };
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
  const invStd = new Float32Array(c);
  for (let k = 0; k < c; k++) invStd[k] = 1 / Math.sqrt(variance[k] + eps);
  const sumDy = new Float64Array(c), sumDyXc = new Float64Array(c);
  for (let i = 0; i < x.length; i += c) {
    for (let k = 0; k < c; k++) {
      const g = dy[i + k];
      sumDy[k] += g;
      sumDyXc[k] += g * (x[i + k] - mean[k]);
    }
  }
  const dgamma = new Float32Array(c), dbeta = new Float32Array(c);
  // dx = a * dy + b * x + d, per channel.
  const a = new Float32Array(c), b = new Float32Array(c), d = new Float32Array(c);
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

/**
 * The two batch-norm kernel configs for backend `backendName`.
 *
 * @example
 * ```ts ignore
 * for (const k of batchNormKernels("native")) tf.registerKernel(k);
 * ```
 */
export function batchNormKernels(backendName: string): tf.KernelConfig[] {
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
        const r = bnBackward(v(dy), v(x), [v(gamma), v(mean), v(variance)], eps);
        return [
          cpu.makeTensorInfo(x.shape, "float32", r.dx),
          cpu.makeTensorInfo(gamma.shape, "float32", r.dgamma),
          cpu.makeTensorInfo(gamma.shape, "float32", r.dbeta),
        ];
      },
    },
  ];
}

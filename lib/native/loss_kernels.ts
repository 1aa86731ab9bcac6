/**
 * The `native` kernels of the loss ops, each one loop a direction: mean
 * squared error (`ops/mse_loss.ts`), rounded as PyTorch's `mse_loss` rounds
 * (the squared differences in float32, summed in float64 here), and softmax
 * cross-entropy against integer labels (`ops/softmax_cross_entropy.ts`), in
 * float64 throughout and rounded once (PyTorch's float32 `log_softmax` then
 * `nll_loss` differ from it by ~1e-7 relative).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { MSE_GRAD_KERNEL, MSE_KERNEL } from "../ops/mse_loss.ts";
import { SOFTMAX_CE_GRAD_KERNEL, SOFTMAX_CE_KERNEL } from "../ops/softmax_cross_entropy.ts";
import { valuesOf } from "./kernel_io.ts";

/**
 * `mean((pred - target)^2)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mse } from "./loss_kernels.ts";
 * assert.equal(mse(Float32Array.of(1, 3), Float32Array.of(0, 1)), 2.5);
 * ```
 */
export function mse(pred: Float32Array, target: Float32Array): number {
  const f = Math.fround;
  let acc = 0;
  for (let i = 0; i < pred.length; i++) {
    const d = f(pred[i] - target[i]);
    acc += f(d * d);
  }
  return f(acc / pred.length);
}

/**
 * The gradient of {@linkcode mse} with respect to `pred`, times `dy`:
 * `(pred - target) * (2 / n * dy)`, as PyTorch's `mse_loss_backward`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mseGrad } from "./loss_kernels.ts";
 * assert.deepEqual(mseGrad(Float32Array.of(1, 3), Float32Array.of(0, 1), 1), Float32Array.of(1, 2));
 * ```
 */
export function mseGrad(pred: Float32Array, target: Float32Array, dy: number): Float32Array {
  const f = Math.fround;
  const w = f(f(2 / Math.max(pred.length, 1)) * dy);
  const g = new Float32Array(pred.length);
  for (let i = 0; i < g.length; i++) g[i] = f(pred[i] - target[i]) * w;
  return g;
}

/** Each row's log-sum-exp of `logits` (`[n, k]`, row-major), in float64. */
function logSumExp(logits: Float32Array, n: number, k: number): Float64Array {
  const lse = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = i * k;
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[row + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits[row + j] - max);
    lse[i] = max + Math.log(s);
  }
  return lse;
}

/**
 * Softmax cross-entropy of `logits` (`[n, k]`) at `labels`, summed over the
 * rows, or their mean without `sum`. A label outside `0..k-1` counts as an
 * all-zero one-hot row (loss 0), as `tf.oneHot` makes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { softmaxCrossEntropyLoss } from "./loss_kernels.ts";
 * // Two rows of two equal logits: ln 2 each.
 * const loss = softmaxCrossEntropyLoss(new Float32Array(4), Int32Array.of(0, 1), 2, false);
 * assert.equal(loss, Math.fround(Math.LN2));
 * ```
 */
export function softmaxCrossEntropyLoss(
  logits: Float32Array,
  labels: Int32Array,
  k: number,
  sum: boolean,
): number {
  const n = labels.length, lse = logSumExp(logits, n, k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y >= 0 && y < k) total += lse[i] - logits[i * k + y];
  }
  return Math.fround(sum ? total : total / Math.max(n, 1));
}

/**
 * The gradient of {@linkcode softmaxCrossEntropyLoss} with respect to the
 * logits, times `dy`: `(softmax - onehot) dy`, divided by n without `sum`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { softmaxCrossEntropyGrad } from "./loss_kernels.ts";
 * const g = softmaxCrossEntropyGrad(new Float32Array(2), Int32Array.of(1), 2, false, 1);
 * assert.deepEqual(g, Float32Array.of(0.5, -0.5));
 * ```
 */
export function softmaxCrossEntropyGrad(
  logits: Float32Array,
  labels: Int32Array,
  k: number,
  sum: boolean,
  dy: number,
): Float32Array {
  const n = labels.length, lse = logSumExp(logits, n, k);
  const scale = sum ? dy : dy / Math.max(n, 1);
  const g = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const row = i * k, y = labels[i];
    for (let j = 0; j < k; j++) g[row + j] = (Math.exp(logits[row + j] - lse[i]) - (j === y ? 1 : 0)) * scale;
  }
  return g;
}

/**
 * The loss kernels for `backendName` (a `cpu`-derived backend):
 * {@linkcode MSE_KERNEL}, {@linkcode MSE_GRAD_KERNEL},
 * {@linkcode SOFTMAX_CE_KERNEL} and {@linkcode SOFTMAX_CE_GRAD_KERNEL}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { mseLoss } from "../ops/mse_loss.ts";
 * import { lossKernels } from "./loss_kernels.ts";
 * // A cpu-derived backend with these kernels, as registerNativeBackend() builds "native".
 * tf.registerBackend("loss-demo", () => new MathBackendCPU());
 * for (const k of lossKernels("loss-demo")) tf.registerKernel(k);
 * await tf.setBackend("loss-demo");
 * assert.equal((await mseLoss(tf.tensor1d([1, 3]), tf.tensor1d([0, 1])).data())[0], 2.5);
 * ```
 */
export function lossKernels(backendName: string): tf.KernelConfig[] {
  return [
    {
      kernelName: MSE_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const cpu = backend as MathBackendCPU;
        const { pred, target } = inputs as Record<string, tf.TensorInfo>;
        return cpu.makeTensorInfo(
          [],
          "float32",
          Float32Array.of(mse(valuesOf(cpu, pred), valuesOf(cpu, target))),
        );
      },
    },
    {
      kernelName: MSE_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const cpu = backend as MathBackendCPU;
        const { dy, pred, target } = inputs as Record<string, tf.TensorInfo>;
        const g = mseGrad(valuesOf(cpu, pred), valuesOf(cpu, target), valuesOf(cpu, dy)[0]);
        return [
          cpu.makeTensorInfo(pred.shape, "float32", g),
          cpu.makeTensorInfo(pred.shape, "float32", g.map((x) => -x)),
        ];
      },
    },
    {
      kernelName: SOFTMAX_CE_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU;
        const { logits, labels } = inputs as Record<string, tf.TensorInfo>;
        const y = cpu.data.get(labels.dataId).values as Int32Array;
        const loss = softmaxCrossEntropyLoss(valuesOf(cpu, logits), y, logits.shape[1], Boolean(attrs?.sum));
        return cpu.makeTensorInfo([], "float32", Float32Array.of(loss));
      },
    },
    {
      kernelName: SOFTMAX_CE_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = backend as MathBackendCPU;
        const { dy, logits, labels } = inputs as Record<string, tf.TensorInfo>;
        const y = cpu.data.get(labels.dataId).values as Int32Array;
        const g = softmaxCrossEntropyGrad(
          valuesOf(cpu, logits),
          y,
          logits.shape[1],
          Boolean(attrs?.sum),
          valuesOf(cpu, dy)[0],
        );
        return cpu.makeTensorInfo(logits.shape, "float32", g);
      },
    },
  ];
}

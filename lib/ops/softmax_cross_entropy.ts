/**
 * Softmax cross-entropy of logits against integer class labels, PyTorch's
 * `F.cross_entropy(logits, labels)` (mean over the batch, or the sum), as
 * one differentiable op. A backend that registers
 * {@linkcode SOFTMAX_CE_KERNEL} and {@linkcode SOFTMAX_CE_GRAD_KERNEL} runs
 * it as one kernel each way, where `tf.losses.softmaxCrossEntropy` on a
 * one-hot matrix records some fifteen small ops forward and as many
 * backward; elsewhere it is exactly that ({@linkcode softmaxCrossEntropyReference}),
 * also the kernels' test reference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend, registerGradientOnce } from "./kernel_dispatch.ts";

/**
 * Kernel: inputs `{logits [N, K]}` (float32) and `{labels [N]}` (int32,
 * each in `0..K-1`), attr `sum` -> the scalar loss (mean over N, or the sum).
 */
export const SOFTMAX_CE_KERNEL = "SoftmaxCrossEntropy";
/**
 * Kernel: inputs `{dy, logits, labels}` (`dy` scalar), attr `sum` ->
 * `dlogits = (softmax(logits) - onehot(labels)) dy` (divided by N for the mean).
 */
export const SOFTMAX_CE_GRAD_KERNEL = "SoftmaxCrossEntropyGrad";

/** Options for {@linkcode softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyOptions {
  /** Sum over the batch instead of the mean. @default {false} */
  sum?: boolean;
}

/**
 * The cross-entropy of `softmax(logits)` at `labels`, averaged (or summed)
 * over the batch; differentiable in `logits`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { softmaxCrossEntropy } from "./softmax_cross_entropy.ts";
 * await tf.setBackend("cpu");
 * // Two equal logits: probability 1/2 for either class, loss ln 2.
 * const loss = softmaxCrossEntropy(tf.tensor2d([[0, 0]]), tf.tensor1d([1], "int32"));
 * assert.ok(Math.abs(loss.dataSync()[0] - Math.LN2) < 1e-6);
 * ```
 */
export function softmaxCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  options: SoftmaxCrossEntropyOptions = {},
): tf.Scalar {
  const sum = options.sum ?? false;
  if (!onBackend(SOFTMAX_CE_KERNEL) || logits.dtype !== "float32" || labels.dtype !== "int32") {
    return softmaxCrossEntropyReference(logits, labels, sum);
  }
  registerGradientOnce(GRADIENT);
  return tf.engine().runKernel(SOFTMAX_CE_KERNEL, { logits, labels }, { sum }) as tf.Scalar;
}

/**
 * {@linkcode softmaxCrossEntropy} as `tf.losses.softmaxCrossEntropy` of a
 * one-hot matrix, tfjs's ops and gradients.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { softmaxCrossEntropyReference } from "./softmax_cross_entropy.ts";
 * await tf.setBackend("cpu");
 * const loss = softmaxCrossEntropyReference(tf.tensor2d([[0, 0], [0, 0]]), tf.tensor1d([0, 1], "int32"), true);
 * assert.ok(Math.abs(loss.dataSync()[0] - 2 * Math.LN2) < 1e-6);
 * ```
 */
export function softmaxCrossEntropyReference(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  sum = false,
): tf.Scalar {
  return tf.tidy(() =>
    tf.losses.softmaxCrossEntropy(
      tf.oneHot(labels, logits.shape[1]),
      logits,
      undefined,
      undefined,
      sum ? tf.Reduction.SUM : tf.Reduction.SUM_BY_NONZERO_WEIGHTS,
    ) as tf.Scalar
  );
}

/** The gradient of {@linkcode SOFTMAX_CE_KERNEL}, registered on first use. */
const GRADIENT: tf.GradConfig = {
  kernelName: SOFTMAX_CE_KERNEL,
  inputsToSave: ["logits", "labels"],
  gradFunc: (dy, [logits, labels], attrs) => ({
    logits: () => {
      const d = dy as tf.Scalar, sum = Boolean((attrs as { sum?: boolean }).sum);
      if (onBackend(SOFTMAX_CE_GRAD_KERNEL)) {
        return tf.engine().runKernel(SOFTMAX_CE_GRAD_KERNEL, { dy: d, logits, labels }, {
          sum,
        }) as tf.Tensor;
      }
      const scale = sum ? d : tf.div(d, logits.shape[0]!);
      return tf.mul(tf.sub(tf.softmax(logits), tf.oneHot(labels as tf.Tensor1D, logits.shape[1]!)), scale);
    },
    // Integer labels take no gradient; tfjs asks only if they depend on a variable.
    labels: () => tf.zeros(labels.shape),
  }),
};

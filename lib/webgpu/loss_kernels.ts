/**
 * WebGPU kernels for softmax cross-entropy against integer labels
 * (`lib/ops/softmax_cross_entropy.ts`): one dispatch each way where tfjs's
 * ops take about fifteen (one-hot, max, subtract, exp, sum, log, ...).
 *
 * - Forward: one workgroup; each thread sums `logsumexp(row) - row[label]`
 *   over every 256th row, then the workgroup adds the 256 partial sums
 *   pairwise (the mean divides by `n` at the end).
 * - Gradient: one thread a logit, `(softmax - onehot) * dy` (`dy / n` for the
 *   mean); each thread recomputes its row's log-sum-exp (`k` is small).
 *
 * A label outside `0..k-1` is an all-zero one-hot row, as `tf.oneHot` makes
 * it: no loss, and the gradient is the softmax alone.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { SOFTMAX_CE_GRAD_KERNEL, SOFTMAX_CE_KERNEL } from "../ops/mod.ts";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import { grid, type KernelRunner, u32, wgsl, type WgslKernel } from "./program.ts";

/** Threads of the forward kernel's one workgroup (a power of two). */
const LOSS_THREADS = 256;

/** `fn lse(row)`: the log-sum-exp of the `u.k` logits from `row`, max first. */
const LOG_SUM_EXP = `
fn lse(row : u32) -> f32 {
  var m = logits[row];
  for (var j = 1u; j < u.k; j = j + 1u) { m = max(m, logits[row + j]); }
  var s = 0.0;
  for (var j = 0u; j < u.k; j = j + 1u) { s = s + exp(logits[row + j] - m); }
  return m + log(s);
}`;

/** The loss of `logits [n, k]` at `labels [n]`: summed, or their mean where `u.sum` is 0. */
export const softmaxCeWgsl: WgslKernel = wgsl("softmaxCrossEntropy", {
  inputs: ["logits", "labels : i32"],
  outputs: ["loss"],
  uniforms: "n : u32, k : u32, sum : u32",
  workgroup: LOSS_THREADS,
  declarations: `var<workgroup> part : array<f32, ${LOSS_THREADS}>;\n${LOG_SUM_EXP}`,
  body: `
  let t = gid.x;
  var acc = 0.0;
  for (var r = t; r < u.n; r = r + ${LOSS_THREADS}u) {
    let y = labels[r];
    if (y >= 0 && u32(y) < u.k) { acc = acc + (lse(r * u.k) - logits[r * u.k + u32(y)]); }
  }
  part[t] = acc;
  workgroupBarrier();
  for (var w = ${LOSS_THREADS / 2}u; w > 0u; w = w / 2u) {
    if (t < w) { part[t] = part[t] + part[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { loss[0] = select(part[0] / f32(max(u.n, 1u)), part[0], u.sum == 1u); }`,
});

/** `dlogits = (softmax(logits) - onehot(labels)) * scale`, `scale` = `dy`, or `dy / n` for the mean. */
export const softmaxCeGradWgsl: WgslKernel = wgsl("softmaxCrossEntropyGrad", {
  inputs: ["dy", "logits", "labels : i32"],
  outputs: ["dlogits"],
  uniforms: "size : u32, n : u32, k : u32, sum : u32",
  linear: true,
  declarations: LOG_SUM_EXP,
  body: `
  let r = i / u.k;
  let j = i % u.k;
  let scale = select(dy[0] / f32(max(u.n, 1u)), dy[0], u.sum == 1u);
  let hot = select(0.0, 1.0, labels[r] == i32(j));
  dlogits[i] = (exp(logits[i] - lse(r * u.k)) - hot) * scale;`,
});

/** Every WGSL kernel of this file, to compile at startup. */
export const LOSS_WGSL: readonly WgslKernel[] = [softmaxCeWgsl, softmaxCeGradWgsl];

/**
 * The kernel configs of this file for the `webgpu` backend.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * for (const k of lossKernels(() => runner)) tf.registerKernel(k);
 * ```
 */
export function lossKernels(runnerOf: (backend: object) => KernelRunner): tf.KernelConfig[] {
  const backendName = WEBGPU_BACKEND;
  return [
    {
      kernelName: SOFTMAX_CE_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const { logits, labels } = inputs as { logits: tf.TensorInfo; labels: tf.TensorInfo };
        const [n, k] = logits.shape;
        return runnerOf(backend).run(softmaxCeWgsl, {
          inputs: [logits, labels],
          outputs: [{ shape: [], dtype: "float32" }],
          uniforms: u32(n, k, (attrs as { sum?: boolean }).sum ? 1 : 0),
          workgroups: [1, 1, 1],
        })[0];
      },
    },
    {
      kernelName: SOFTMAX_CE_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const { dy, logits, labels } = inputs as Record<string, tf.TensorInfo>;
        const [n, k] = logits.shape;
        return runnerOf(backend).run(softmaxCeGradWgsl, {
          inputs: [dy, logits, labels],
          outputs: [{ shape: [n, k], dtype: "float32" }],
          uniforms: u32(n * k, n, k, (attrs as { sum?: boolean }).sum ? 1 : 0),
          workgroups: grid(n * k),
        })[0];
      },
    },
  ];
}

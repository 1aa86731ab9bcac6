/**
 * The `native` kernel of `ops/adam_update.ts`: one Adam step of every
 * parameter in one kernel, following PyTorch 1.13's CPU `Adam`. Its AVX2
 * kernels fuse `m*beta1 + (1-beta1)*g` and `v*beta2 + ((1-beta2)*g)*g` into
 * one rounding each (fused multiply-add); here the product is exact in
 * float64 (two float32 factors) and the sum is rounded to float64, then to
 * float32. That double rounding can differ from the FMA's single rounding by
 * 1 ulp in rare ties; matched bit for bit on the fixture
 * (`tests/fixtures/adam/steps.json`: five steps of 67 values) and on five
 * steps of 4,099 values. Every other operation rounds to float32 as it goes.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { ADAM_KERNEL, type AdamAttrs, adamScalars } from "../ops/adam_update.ts";
import { valuesOf } from "./kernel_io.ts";

/**
 * One Adam step of one parameter `p` with gradient `g` and moments `m`, `v`,
 * into new arrays `[p, m, v]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamStep } from "./adam_kernels.ts";
 * const [p, m, v] = adamStep(
 *   [Float32Array.of(1), Float32Array.of(0.5), new Float32Array(1), new Float32Array(1)],
 *   { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1 },
 * );
 * assert.ok(Math.abs(p[0] - 0.9) < 1e-6); // the first step moves by about lr
 * assert.equal(m[0], Math.fround(0.05));
 * assert.equal(v[0], Math.fround(Math.fround(0.001 * 0.5) * 0.5));
 * ```
 */
export function adamStep(
  [p, g, m, v]: [Float32Array, Float32Array, Float32Array, Float32Array],
  attrs: AdamAttrs,
): [Float32Array, Float32Array, Float32Array] {
  const f = Math.fround;
  const { stepSize, correction2Sqrt } = adamScalars(attrs);
  const b1 = f(attrs.beta1), b2 = f(attrs.beta2), a1 = f(1 - attrs.beta1), a2 = f(1 - attrs.beta2);
  const eps = f(attrs.epsilon), c2 = f(correction2Sqrt), negStep = f(-stepSize);
  const n = p.length;
  const po = new Float32Array(n), mo = new Float32Array(n), vo = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const gi = g[i];
    // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1): a multiply, then an FMA
    // (here a float64 multiply-add, rounded twice: see the module header).
    const mi = f(f(m[i] * b1) + a1 * gi);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2): likewise.
    const vi = f(f(v[i] * b2) + f(a2 * gi) * gi);
    // denom = exp_avg_sq.sqrt() / sqrt(bias_correction2) + eps
    const denom = f(f(f(Math.sqrt(vi)) / c2) + eps);
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    po[i] = f(p[i] + f(f(negStep * mi) / denom));
    mo[i] = mi;
    vo[i] = vi;
  }
  return [po, mo, vo];
}

/**
 * The {@linkcode ADAM_KERNEL} config for `backendName` (a `cpu`-derived
 * backend).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { adamUpdate } from "../ops/adam_update.ts";
 * import { adamKernel } from "./adam_kernels.ts";
 * // A cpu-derived backend with this kernel, as registerNativeBackend() builds "native".
 * tf.registerBackend("adam-demo", () => new MathBackendCPU());
 * tf.registerKernel(adamKernel("adam-demo"));
 * await tf.setBackend("adam-demo");
 * const r = adamUpdate([tf.tensor1d([1]), tf.tensor1d([2])], [tf.tensor1d([1]), tf.tensor1d([-1])],
 *   [tf.zeros([1]), tf.zeros([1])], [tf.zeros([1]), tf.zeros([1])],
 *   { lr: 0.5, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: 1 });
 * assert.ok(Math.abs((await r.params[0].data())[0] - 0.5) < 1e-6);
 * assert.ok(Math.abs((await r.params[1].data())[0] - 2.5) < 1e-6);
 * ```
 */
export function adamKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: ADAM_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const cpu = backend as MathBackendCPU;
      const named = inputs as Record<string, tf.TensorInfo>;
      const k = Object.keys(named).length / 4;
      const outs: tf.TensorInfo[][] = [[], [], []];
      for (let i = 0; i < k; i++) {
        const p = named[`p${i}`];
        const arrays = [p, named[`g${i}`], named[`m${i}`], named[`v${i}`]].map((t) => valuesOf(cpu, t));
        const step = adamStep(
          arrays as [Float32Array, Float32Array, Float32Array, Float32Array],
          attrs as unknown as AdamAttrs,
        );
        step.forEach((a, j) => outs[j].push(cpu.makeTensorInfo(p.shape, "float32", a)));
      }
      return outs.flat();
    },
  };
}

/**
 * The `native` kernels of the loss ops: mean squared error
 * (`ops/mse_loss.ts`) forward and backward, each one loop, rounded as
 * PyTorch's `mse_loss` rounds (the squared differences in float32, summed
 * in float64 here).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { MSE_GRAD_KERNEL, MSE_KERNEL } from "../ops/mse_loss.ts";
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

/**
 * The loss kernels for `backendName` (a `cpu`-derived backend):
 * {@linkcode MSE_KERNEL} and {@linkcode MSE_GRAD_KERNEL}.
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
  ];
}

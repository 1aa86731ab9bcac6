/**
 * The `native` kernels of `ops/global_avg_pool.ts`: the spatial mean of NHWC
 * activations (summed in float64) and its gradient, `dy / (H W)` copied to
 * every position, each one loop.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { GLOBAL_AVG_POOL_GRAD_KERNEL, GLOBAL_AVG_POOL_KERNEL } from "../ops/global_avg_pool.ts";
import { reduceSum } from "./elementwise_kernels.ts";
import { type Alloc, freshAlloc, valuesOf } from "./kernel_io.ts";

/**
 * `[n, c]` means over the `hw` positions of NHWC `x` (`[n, hw, c]` flat):
 * {@linkcode reduceSum}'s float64 sums in position order, divided by `hw`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spatialMean } from "./pool_kernels.ts";
 * assert.deepEqual(spatialMean(Float32Array.of(1, 10, 3, 30), [1, 2, 2]), Float32Array.of(2, 20));
 * ```
 */
export function spatialMean(x: Float32Array, [n, hw, c]: [number, number, number]): Float32Array {
  const sum = reduceSum(x, [n, hw, c], [1]);
  const out = new Float32Array(n * c);
  for (let i = 0; i < out.length; i++) out[i] = sum[i] / hw;
  return out;
}

/**
 * The gradient of {@linkcode spatialMean}: `dy[b, k] / hw` at each of the
 * `hw` positions of image `b`, into `alloc(n * hw * c)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spatialMeanGrad } from "./pool_kernels.ts";
 * assert.deepEqual(spatialMeanGrad(Float32Array.of(2, 4), [1, 2, 2]), Float32Array.of(1, 2, 1, 2));
 * ```
 */
export function spatialMeanGrad(
  dy: Float32Array,
  [n, hw, c]: [number, number, number],
  alloc: Alloc = freshAlloc,
): Float32Array {
  const dx = alloc(n * hw * c), row = new Float32Array(c);
  for (let b = 0; b < n; b++) {
    for (let k = 0; k < c; k++) row[k] = dy[b * c + k] / hw;
    for (let p = 0, o = b * hw * c; p < hw; p++, o += c) dx.set(row, o);
  }
  return dx;
}

/**
 * The kernels of {@linkcode GLOBAL_AVG_POOL_KERNEL} and its gradient for
 * `backendName` (a `cpu`-derived backend); gradients from `alloc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { globalAvgPool } from "../ops/global_avg_pool.ts";
 * import { poolKernels } from "./pool_kernels.ts";
 * // A cpu-derived backend with these kernels, as registerNativeBackend() builds "native".
 * tf.registerBackend("pool-demo", () => new MathBackendCPU());
 * for (const k of poolKernels("pool-demo")) tf.registerKernel(k);
 * await tf.setBackend("pool-demo");
 * assert.deepEqual(await globalAvgPool(tf.tensor4d([1, 10, 3, 30], [1, 2, 1, 2])).data(), Float32Array.of(2, 20));
 * ```
 */
export function poolKernels(backendName: string, alloc: Alloc = freshAlloc): tf.KernelConfig[] {
  const dims = ([n, h, w, c]: number[]): [number, number, number] => [n, h * w, c];
  return [
    {
      kernelName: GLOBAL_AVG_POOL_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const cpu = backend as MathBackendCPU;
        const { x } = inputs as Record<string, tf.TensorInfo>;
        return cpu.makeTensorInfo(
          [x.shape[0], x.shape[3]],
          "float32",
          spatialMean(valuesOf(cpu, x), dims(x.shape)),
        );
      },
    },
    {
      kernelName: GLOBAL_AVG_POOL_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const cpu = backend as MathBackendCPU;
        const { dy, x } = inputs as Record<string, tf.TensorInfo>;
        return cpu.makeTensorInfo(
          x.shape,
          "float32",
          spatialMeanGrad(valuesOf(cpu, dy), dims(x.shape), alloc),
        );
      },
    },
  ];
}

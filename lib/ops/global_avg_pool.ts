/**
 * Global average pooling of NHWC activations, `[N, H, W, C] -> [N, C]`
 * (PyTorch's `F.adaptive_avg_pool2d(x, 1).flatten(1)`), as one
 * differentiable op. A backend that registers
 * {@linkcode GLOBAL_AVG_POOL_KERNEL} and {@linkcode GLOBAL_AVG_POOL_GRAD_KERNEL}
 * runs it as one kernel each way, where tfjs's `mean` gradient takes four
 * full-size ops (a `ones` fill, a broadcast multiply, a divide, a reshape)
 * over ResNet20's `[128, 8, 8, 64]`; elsewhere it is `tf.mean(x, [1, 2])`,
 * also the kernels' test reference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { onBackend, registerGradientOnce } from "./kernel_dispatch.ts";

/** Kernel: input `{x}` (float32 `[N, H, W, C]`) -> `[N, C]`, the mean over H and W. */
export const GLOBAL_AVG_POOL_KERNEL = "GlobalAvgPool";
/** Kernel: inputs `{dy [N, C], x}` (`x` for its shape) -> `dx`, `dy / (H W)` at every position. */
export const GLOBAL_AVG_POOL_GRAD_KERNEL = "GlobalAvgPoolGrad";

/**
 * The mean of NHWC `x` over its spatial axes, `[N, C]`; differentiable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { globalAvgPool } from "./global_avg_pool.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor4d([1, 10, 3, 30], [1, 2, 1, 2]); // two pixels, two channels
 * assert.deepEqual([...globalAvgPool(x).dataSync()], [2, 20]);
 * ```
 */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  if (!onBackend(GLOBAL_AVG_POOL_KERNEL) || x.dtype !== "float32") {
    return tf.mean(x, [1, 2]) as tf.Tensor2D;
  }
  registerGradientOnce(GRADIENT);
  return tf.engine().runKernel(GLOBAL_AVG_POOL_KERNEL, { x }) as tf.Tensor2D;
}

/** The gradient of {@linkcode GLOBAL_AVG_POOL_KERNEL}, registered on first use. */
const GRADIENT: tf.GradConfig = {
  kernelName: GLOBAL_AVG_POOL_KERNEL,
  inputsToSave: ["x"],
  gradFunc: (dy, [x]) => ({
    x: () => {
      const d = dy as tf.Tensor2D;
      if (onBackend(GLOBAL_AVG_POOL_GRAD_KERNEL)) {
        return tf.engine().runKernel(GLOBAL_AVG_POOL_GRAD_KERNEL, { dy: d, x }) as tf.Tensor;
      }
      const [n, h, w, c] = x.shape;
      return tf.div(tf.mul(tf.reshape(d, [n, 1, 1, c]), tf.ones(x.shape)), h * w);
    },
  }),
};

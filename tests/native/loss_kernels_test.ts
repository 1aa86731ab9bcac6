import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import {
  MSE_GRAD_KERNEL,
  MSE_KERNEL,
  mseLoss,
  mseLossReference,
  SOFTMAX_CE_GRAD_KERNEL,
  SOFTMAX_CE_KERNEL,
  softmaxCrossEntropy,
  softmaxCrossEntropyReference,
} from "../../lib/ops/mod.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { assertAllClose, on, uniform } from "../helpers.ts";

const ignore = !nativeAvailable().ok;

Deno.test({
  name: "mseLoss() on native matches squaredDifference + mean on cpu, value and both gradients",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const k of [MSE_KERNEL, MSE_GRAD_KERNEL]) assert.ok(tf.getKernel(k, "native"), `${k} on native`);
    for (const shape of [[1, 1], [7, 1], [100, 1], [3, 5]]) {
      const n = shape[0] * shape[1];
      const [pv, tv] = [uniform(n, 1), uniform(n, 2)];
      const run = (ours: boolean) => () => {
        const [p, t] = [tf.tensor(pv, shape), tf.tensor(tv, shape)];
        const f = (p: tf.Tensor, t: tf.Tensor) => tf.mul(ours ? mseLoss(p, t) : mseLossReference(p, t), 3);
        return [f(p, t), ...tf.grads(f)([p, t])];
      };
      const want = await on("cpu", run(false));
      for (const backend of ["native", "cpu"]) {
        assertAllClose(await on(backend, run(true)), want, 1e-6, `${backend} ${shape}`);
      }
    }
  },
});

Deno.test({
  name:
    "softmaxCrossEntropy() on native matches tf.losses.softmaxCrossEntropy on cpu, mean and sum, value and gradient",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const k of [SOFTMAX_CE_KERNEL, SOFTMAX_CE_GRAD_KERNEL]) {
      assert.ok(tf.getKernel(k, "native"), `${k} on native`);
    }
    for (const [n, k] of [[1, 2], [1, 10], [7, 3], [128, 10]]) {
      for (const sum of [false, true]) {
        // Logits up to +-30: large enough that a naive exp would lose precision.
        const lv = uniform(n * k, 5).map((x) => 30 * x);
        const yv = Int32Array.from({ length: n }, (_, i) => (i * 7) % k);
        const run = (ours: boolean) => () => {
          const [l, y] = [tf.tensor2d(lv, [n, k]), tf.tensor1d(yv, "int32")];
          const f = (l: tf.Tensor) =>
            tf.mul(
              ours
                ? softmaxCrossEntropy(l as tf.Tensor2D, y, { sum })
                : softmaxCrossEntropyReference(l as tf.Tensor2D, y, sum),
              2,
            );
          return [f(l), tf.grad(f)(l)];
        };
        const want = await on("cpu", run(false));
        for (const backend of ["native", "cpu"]) {
          assertAllClose(await on(backend, run(true)), want, 1e-5, `${backend} [${n}, ${k}] sum ${sum}`);
        }
      }
    }
  },
});

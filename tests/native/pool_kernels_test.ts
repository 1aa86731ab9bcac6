import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { GLOBAL_AVG_POOL_GRAD_KERNEL, GLOBAL_AVG_POOL_KERNEL, globalAvgPool } from "../../lib/ops/mod.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { spatialMean, spatialMeanGrad } from "../../lib/native/pool_kernels.ts";
import { assertAllClose, on, uniform } from "../helpers.ts";

Deno.test({
  name: "globalAvgPool() on native matches tf.mean(x, [1, 2]) on cpu, value and gradient",
  ignore: !nativeAvailable().ok,
  async fn() {
    await registerNativeBackend();
    for (const k of [GLOBAL_AVG_POOL_KERNEL, GLOBAL_AVG_POOL_GRAD_KERNEL]) {
      assert.ok(tf.getKernel(k, "native"), `${k} on native`);
    }
    for (const shape of [[1, 1, 1, 1], [2, 3, 5, 7], [128, 8, 8, 64]] as [number, number, number, number][]) {
      const size = shape.reduce((a, b) => a * b);
      const [xv, dv] = [uniform(size, 1), uniform(shape[0] * shape[3], 2)];
      const run = (ours: boolean) => () => {
        const x = tf.tensor4d(xv, shape), d = tf.tensor2d(dv, [shape[0], shape[3]]);
        const f = (x: tf.Tensor) => ours ? globalAvgPool(x as tf.Tensor4D) : tf.mean(x, [1, 2]);
        return [f(x), tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x), d)))(x)];
      };
      const want = await on("cpu", run(false));
      for (const backend of ["native", "cpu"]) {
        assertAllClose(await on(backend, run(true)), want, 1e-6, `${backend} ${shape}`);
      }
    }
  },
});

const POOL_SHAPES: [number, number, number][] = [[1, 1, 1], [2, 15, 7], [128, 64, 64], [3, 49, 5]];

Deno.test("spatialMean() sums each channel in float64 in position order, then divides: bit for bit", () => {
  for (const [n, hw, c] of POOL_SHAPES) {
    const x = uniform(n * hw * c, 6);
    const want = new Float32Array(n * c);
    for (let b = 0; b < n; b++) {
      for (let k = 0; k < c; k++) {
        let acc = 0; // a float64
        for (let p = 0; p < hw; p++) acc += x[(b * hw + p) * c + k];
        want[b * c + k] = acc / hw;
      }
    }
    assert.deepEqual(spatialMean(x, [n, hw, c]), want, `[${n}, ${hw}, ${c}]`);
  }
});

Deno.test("spatialMeanGrad() writes every element of a recycled buffer", () => {
  const nanFilled = (n: number) => new Float32Array(n).fill(NaN);
  for (const [n, hw, c] of POOL_SHAPES) {
    const dy = uniform(n * c, 7);
    const want = spatialMeanGrad(dy, [n, hw, c]);
    assert.ok(!want.some(Number.isNaN));
    assert.deepEqual(spatialMeanGrad(dy, [n, hw, c], nanFilled), want, `[${n}, ${hw}, ${c}]`);
  }
});

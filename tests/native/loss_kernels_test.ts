import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { mseLoss, mseLossReference } from "../../lib/ops/mod.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { on, uniform } from "../helpers.ts";

const ignore = !nativeAvailable().ok;

Deno.test({
  name: "mseLoss() on native matches squaredDifference + mean on cpu, value and both gradients",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const shape of [[1, 1], [7, 1], [100, 1], [3, 5]]) {
      const n = shape[0] * shape[1];
      const [pv, tv] = [uniform(n, 1), uniform(n, 2)];
      const run = (ours: boolean) => () => {
        const [p, t] = [tf.tensor(pv, shape), tf.tensor(tv, shape)];
        const f = (p: tf.Tensor, t: tf.Tensor) => tf.mul(ours ? mseLoss(p, t) : mseLossReference(p, t), 3);
        return [f(p, t), ...tf.grads(f)([p, t])];
      };
      const want = await on("cpu", run(false));
      for (
        const [backend, got] of [["native", await on("native", run(true))], [
          "cpu",
          await on("cpu", run(true)),
        ]]
      ) {
        (got as Float32Array[]).forEach((g, i) =>
          g.forEach((v, j) =>
            assert.ok(
              Math.abs(v - want[i][j]) <= 1e-6 * Math.max(1, Math.abs(want[i][j])),
              `${backend} ${shape}: output ${i}[${j}] ${v} vs ${want[i][j]}`,
            )
          )
        );
      }
    }
  },
});

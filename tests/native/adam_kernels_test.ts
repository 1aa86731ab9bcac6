import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { ADAM_KERNEL, adamUpdate, adamUpdateReference } from "../../lib/ops/mod.ts";
import { adamStep } from "../../lib/native/adam_kernels.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { on, REPO, uniform } from "../helpers.ts";

const HP = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

Deno.test("adamStep() equals PyTorch 1.13's CPU Adam bit for bit over five steps", () => {
  // tests/fixtures/adam/make_fixture.py
  const fixture = JSON.parse(Deno.readTextFileSync(`${REPO}/tests/fixtures/adam/steps.json`)) as {
    lr: number;
    start: number[];
    steps: { grad: number[]; param: number[]; m: number[]; v: number[] }[];
  };
  let p: Float32Array = Float32Array.from(fixture.start);
  let m: Float32Array = new Float32Array(p.length), v: Float32Array = new Float32Array(p.length);
  fixture.steps.forEach((s, i) => {
    [p, m, v] = adamStep([p, Float32Array.from(s.grad), m, v], { ...HP, lr: fixture.lr, step: i + 1 });
    assert.deepEqual(p, Float32Array.from(s.param), `param after step ${i + 1}`);
    assert.deepEqual(m, Float32Array.from(s.m), `exp_avg after step ${i + 1}`);
    assert.deepEqual(v, Float32Array.from(s.v), `exp_avg_sq after step ${i + 1}`);
  });
});

Deno.test({
  name: "adamUpdate() on native matches its plain-ops reference on cpu for several parameters and steps",
  ignore: !nativeAvailable().ok,
  async fn() {
    await registerNativeBackend();
    for (const k of [ADAM_KERNEL]) assert.ok(tf.getKernel(k, "native"), `${k} on native`);
    const shapes = [[1], [3, 5], [64, 64], [7]];
    for (const step of [1, 2, 10, 1000]) {
      const run = (ours: boolean) => () => {
        const make = (seed: number, scale: number) =>
          shapes.map((s, i) =>
            tf.tensor(uniform(s.reduce((a, b) => a * b), seed + i).map((x) => x * scale), s)
          );
        const [p, g, m] = [make(10, 1), make(20, 0.1), make(30, 0.01)];
        const v = make(40, 1e-3).map((t) => tf.abs(t));
        const r = (ours ? adamUpdate : adamUpdateReference)(p, g, m, v, { ...HP, lr: 0.01, step });
        return [...r.params, ...r.m, ...r.v];
      };
      const want = await on("cpu", run(false)), got = await on("native", run(true));
      want.forEach((w, i) =>
        w.forEach((x, j) =>
          // The kernel fuses two multiply-adds as PyTorch does; the reference rounds twice: 1 ulp.
          assert.ok(
            Math.abs(got[i][j] - x) <= 1e-6 * Math.max(1e-3, Math.abs(x)),
            `step ${step}: output ${i}[${j}] ${got[i][j]} vs ${x}`,
          )
        )
      );
    }
  },
});

Deno.test("adamUpdate() refuses mismatched lists and a step below 1", async () => {
  await tf.setBackend("cpu");
  const t = [tf.ones([2])];
  assert.throws(() => adamUpdate(t, [], t, t, { ...HP, lr: 0.1, step: 1 }), {
    name: "RangeError",
    message:
      "Adam needs one gradient and two moments per parameter: got 1 parameters, 0 gradients, 1 and 1 moments",
  });
  assert.throws(() => adamUpdate(t, t, t, t, { ...HP, lr: 0.1, step: 0 }), {
    name: "RangeError",
    message: "Adam step must be an integer from 1, got 0",
  });
  tf.dispose(t);
});

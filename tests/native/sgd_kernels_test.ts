import assert from "node:assert/strict";
import { sgdUpdate } from "../../lib/native/sgd_kernels.ts";
import { Rng } from "../../lib/data/rng.ts";
import { on, torchStep, uniform } from "../helpers.ts";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { SGD_MOMENTUM_ALL_KERNEL, sgdMomentumStep, sgdMomentumStepAll } from "../../lib/ops/mod.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";

const f = Math.fround;

Deno.test("sgdUpdate() rounds like PyTorch's float32 SGD after every operation and leaves its inputs alone", () => {
  const rng = new Rng(3);
  const n = 1001;
  const make = (scale: number) => Float32Array.from({ length: n }, () => (rng.float() * 2 - 1) * scale);
  const param = make(1), grad = make(0.1), buffer = make(0.05);
  const copies = [param, grad, buffer].map((a) => a.slice());
  const hp = { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 };
  const [p, b] = sgdUpdate(param, grad, buffer, hp);
  const want = torchStep([...param], [...buffer], [...grad], hp.lr, hp.momentum, hp.weightDecay);
  for (let i = 0; i < n; i++) {
    assert.equal(b[i], want.buf[i], `buffer[${i}]`);
    assert.equal(p[i], want.p[i], `param[${i}]`);
  }
  assert.deepEqual([param, grad, buffer], copies);
  // With momentum 0 and no decay it is plain gradient descent.
  const [plain] = sgdUpdate(param, grad, new Float32Array(n), { lr: 0.5, momentum: 0, weightDecay: 0 });
  assert.deepEqual(plain, param.map((v, i) => f(v - f(0.5 * grad[i]))));
  const torchPlain = torchStep([...param], new Array(n).fill(0), [...grad], 0.5, 0, 0).p;
  assert.deepEqual(plain, Float32Array.from(torchPlain));
});

Deno.test({
  name: "sgdMomentumStepAll() on native equals one sgdMomentumStep per parameter on cpu, bit for bit",
  ignore: !nativeAvailable().ok,
  async fn() {
    await registerNativeBackend();
    for (const k of [SGD_MOMENTUM_ALL_KERNEL]) assert.ok(tf.getKernel(k, "native"), `${k} on native`);
    const shapes = [[3, 3, 16, 16], [16], [64, 10], [1]];
    const run = (all: boolean) => () => {
      const make = (seed: number, scale: number) =>
        shapes.map((s, i) =>
          tf.tensor(uniform(s.reduce((a, b) => a * b), seed + i).map((x) => x * scale), s)
        );
      const [p, g, b] = [make(1, 1), make(10, 0.1), make(20, 0.05)];
      const hp = { momentum: 0.9, weightDecay: 1e-4 };
      if (all) {
        const r = sgdMomentumStepAll(p, g, b, tf.scalar(0.1), hp);
        return [...r.params, ...r.buffers];
      }
      const steps = p.map((pi, i) => sgdMomentumStep(pi, g[i], b[i], tf.scalar(0.1), hp));
      return [...steps.map((s) => s[0]), ...steps.map((s) => s[1])];
    };
    assert.deepEqual(await on("native", run(true)), await on("native", run(false)));
    assert.deepEqual(await on("cpu", run(true)), await on("cpu", run(false)));
  },
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { Sgd } from "../../lib/train/sgd.ts";
import type { HostTensor, StateDict } from "../../lib/formats/state_dict.ts";
import { torchStep } from "../helpers.ts";

const f = Math.fround;
let seq = 0;

/** A fresh named variable (tfjs names must be unique per process). */
function param(values: number[], shape = [values.length]): tf.Variable {
  const init = tf.tensor(values, shape);
  const v = tf.variable(init, true, `sgd_test/${seq++}`);
  init.dispose();
  return v;
}

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const floats = (state: StateDict, name: string) => Array.from(state.get(name)!.data as Float32Array);

// `native` runs the update as one fused kernel (lib/native/sgd_kernels.ts).
const BACKENDS = nativeAvailable().ok ? ["cpu", "native"] as const : ["cpu"] as const;

for (const backend of BACKENDS) {
  Deno.test(`Sgd.step() follows PyTorch's SGD formulas exactly, with an LR change between steps (${backend})`, async () => {
    await selectBackend(backend);
    const p0 = [1, -2, 0.5, 3];
    const w = param(p0, [2, 2]);
    const sgd = new Sgd(new Map([["w", w]]), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const g1 = [0.25, -0.5, 1, 2];
    const g2 = [-1, 0.125, 0.3, -0.7];
    let want = torchStep(p0, [0, 0, 0, 0], g1, 0.1, 0.9, 1e-4);
    // First step: buf = d, so p = p - lr * (g + wd * p).
    assert.deepEqual(want.buf, p0.map((p, i) => f(g1[i] + f(f(1e-4) * p))));
    tf.tidy(() => sgd.step({ [w.name]: tf.tensor(g1, [2, 2]) }));
    assert.deepEqual(values(w), want.p);
    assert.deepEqual(floats(await sgd.state(), "optimizer.momentum.w"), want.buf);
    sgd.lr = 0.01;
    want = torchStep(want.p, want.buf, g2, 0.01, 0.9, 1e-4);
    tf.tidy(() => sgd.step({ [w.name]: tf.tensor(g2, [2, 2]) }));
    assert.deepEqual(values(w), want.p);
    assert.deepEqual(floats(await sgd.state(), "optimizer.momentum.w"), want.buf);
    sgd.dispose();
    w.dispose();
  });
}

Deno.test("new Sgd() and dispose() leave tf.memory().numTensors as it was", async () => {
  await selectBackend("cpu");
  const w = param([1, 2, 3]);
  const before = tf.memory().numTensors;
  const sgd = new Sgd(new Map([["w", w]]), { lr: 0.1 });
  assert.equal(
    tf.memory().numTensors,
    before + 2,
    "one momentum buffer per parameter, one learning-rate scalar",
  );
  sgd.dispose();
  assert.equal(tf.memory().numTensors, before);
  w.dispose();
});

Deno.test("Sgd uses momentum 0.9 and weight decay 1e-4 by default and decays every parameter", async () => {
  await selectBackend("cpu");
  const a = param([2]);
  const b = param([-4]);
  const sgd = new Sgd(new Map([["bn.weight", a], ["bn.bias", b]]), { lr: 0.5 });
  assert.equal(sgd.momentum, 0.9);
  assert.equal(sgd.weightDecay, 1e-4);
  // Zero gradients: only weight decay moves the parameters, on "BN" ones too.
  tf.tidy(() => sgd.step({ [a.name]: tf.zeros([1]), [b.name]: tf.zeros([1]) }));
  assert.deepEqual(values(a), torchStep([2], [0], [0], 0.5, 0.9, 1e-4).p);
  assert.deepEqual(values(b), torchStep([-4], [0], [0], 0.5, 0.9, 1e-4).p);
  assert.notEqual(values(a)[0], 2);
  sgd.dispose();
  tf.dispose([a, b]);
});

Deno.test("Sgd.state() and loadState() continue a run identically", async () => {
  await selectBackend("cpu");
  const grads = [[0.3, -0.2, 0.1], [0.05, 0.4, -0.9], [-0.6, 0.6, 0.2], [1, 2, 3]];
  const step = (sgd: Sgd, w: tf.Variable, g: number[]) => tf.tidy(() => sgd.step({ [w.name]: tf.tensor(g) }));
  const w1 = param([1, 2, 3]);
  const sgd1 = new Sgd(new Map([["layer.w", w1]]), { lr: 0.1 });
  step(sgd1, w1, grads[0]);
  step(sgd1, w1, grads[1]);
  const saved = await sgd1.state();
  assert.deepEqual([...saved.keys()], ["optimizer.momentum.layer.w"]);
  assert.deepEqual(saved.get("optimizer.momentum.layer.w")!.shape, [3]);
  assert.equal(saved.get("optimizer.momentum.layer.w")!.dtype, "F32");
  const copy = structuredClone(saved);
  // A second optimizer over a copy of the weights, restored from the state.
  const w2 = param(values(w1));
  const sgd2 = new Sgd(new Map([["layer.w", w2]]), { lr: 0.1 });
  sgd2.loadState(saved);
  for (const g of grads.slice(2)) {
    step(sgd1, w1, g);
    step(sgd2, w2, g);
    assert.deepEqual(values(w2), values(w1));
  }
  assert.deepEqual(await sgd2.state(), await sgd1.state());
  // The saved state is a snapshot: later steps did not change it.
  assert.deepEqual(saved, copy);
  tf.dispose([w1, w2]);
  sgd1.dispose();
  sgd2.dispose();
});

Deno.test("Sgd.state() returns copies: editing them leaves the optimizer unchanged", async () => {
  await selectBackend("cpu");
  const w = param([1, 2]);
  const sgd = new Sgd(new Map([["w", w]]), { lr: 0.1 });
  tf.tidy(() => sgd.step({ [w.name]: tf.tensor([1, 1]) }));
  const before = floats(await sgd.state(), "optimizer.momentum.w");
  ((await sgd.state()).get("optimizer.momentum.w")!.data as Float32Array).fill(123);
  assert.deepEqual(floats(await sgd.state(), "optimizer.momentum.w"), before);
  sgd.dispose();
  w.dispose();
});

Deno.test("Sgd.loadState() names a missing or mis-shaped buffer and changes nothing", async () => {
  await selectBackend("cpu");
  const a = param([1, 2]);
  const b = param([3, 4, 5]);
  const sgd = new Sgd(new Map([["a", a], ["b", b]]), { lr: 0.1 });
  tf.tidy(() => sgd.step({ [a.name]: tf.tensor([1, 1]), [b.name]: tf.tensor([1, 1, 1]) }));
  const before = await sgd.state();
  const good = (n: number) => ({ dtype: "F32" as const, shape: [n], data: new Float32Array(n).fill(7) });
  const missing: StateDict = new Map([["optimizer.momentum.a", good(2)]]);
  assert.throws(() => sgd.loadState(missing, "runs/x/epoch-001.safetensors"), {
    message: `runs/x/epoch-001.safetensors: tensor "optimizer.momentum.b" should be F32 [3], found nothing`,
  });
  const misShaped: StateDict = new Map([["optimizer.momentum.a", good(2)], [
    "optimizer.momentum.b",
    good(4),
  ]]);
  assert.throws(() => sgd.loadState(misShaped), {
    message: `checkpoint: tensor "optimizer.momentum.b" should be F32 [3], found F32 [4]`,
  });
  const wrongType: StateDict = new Map<string, HostTensor>([
    ["optimizer.momentum.a", { dtype: "I64", shape: [2], data: new BigInt64Array(2) }],
    ["optimizer.momentum.b", good(3)],
  ]);
  assert.throws(() => sgd.loadState(wrongType), {
    message: `checkpoint: tensor "optimizer.momentum.a" should be F32 [2], found I64 [2]`,
  });
  // "a" was valid in every case, but nothing was loaded.
  assert.deepEqual(await sgd.state(), before);
  sgd.dispose();
  tf.dispose([a, b]);
});

Deno.test("Sgd.step() names a parameter without a gradient", async () => {
  await selectBackend("cpu");
  const a = param([1]);
  const sgd = new Sgd(new Map([["linear.bias", a]]), { lr: 0.1 });
  assert.throws(() => sgd.step({}), { message: `No gradient for parameter "linear.bias"` });
  sgd.dispose();
  a.dispose();
});

for (const backend of BACKENDS) {
  Deno.test(`Sgd.step() keeps tf.memory().numTensors flat across steps (${backend})`, async () => {
    await selectBackend(backend);
    const w = param([1, 2, 3, 4]);
    const sgd = new Sgd(new Map([["w", w]]), { lr: 0.1 });
    const grad = tf.tensor([0.1, 0.2, 0.3, 0.4]);
    sgd.step({ [w.name]: grad });
    const after1 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) sgd.step({ [w.name]: grad });
    await sgd.state();
    assert.equal(tf.memory().numTensors, after1);
    tf.dispose([grad, w]);
    sgd.dispose();
  });
}

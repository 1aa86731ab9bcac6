import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import {
  FIT_DEFAULTS,
  type FitConfig,
  fitFunction,
  GRID_POINTS,
  gridPoints,
  predict,
} from "../../lib/train/fit_function.ts";

/** A few-second-free config: 64 samples in 4 batches of 16, a [16] MLP. */
const small: FitConfig = {
  ...FIT_DEFAULTS,
  epochs: 20,
  lr: 0.05,
  samples: 64,
  batchSize: 16,
  hidden: [16],
  optimizer: "adam",
  xMin: -1,
  xMax: 1,
  seed: 0,
};
const line = (x: number) => 2 * x + 1;

Deno.test("FIT_DEFAULTS are the lab's", () => {
  assert.deepEqual(FIT_DEFAULTS, {
    epochs: 1000,
    lr: 0.01,
    samples: 1000,
    batchSize: 100,
    hidden: [64, 64],
    optimizer: "adam",
    xMin: -5,
    xMax: 5,
    seed: 0,
  });
});

Deno.test("fitFunction() lowers the loss of f(x) = 2x + 1 and reports every epoch", async () => {
  await selectBackend("cpu");
  const seen: [number, number][] = [];
  const { model, result } = await fitFunction(line, small, { onEpoch: (e, l) => seen.push([e, l]) });
  try {
    assert.equal(result.status, "ok");
    assert.equal(result.divergedEpoch, null);
    assert.equal(result.epochLoss.length, 20);
    assert.deepEqual(seen, result.epochLoss.map((l, i) => [i + 1, l]));
    assert.equal(result.steps, 20 * 4);
    assert.ok(result.epochLoss.every((l) => Number.isFinite(l) && l >= 0));
    assert.ok(result.epochLoss.at(-1)! < result.epochLoss[0] / 4, `${result.epochLoss}`);
    assert.ok(Number.isFinite(result.trainMse) && Number.isFinite(result.testMse));
    assert.ok(result.trainMse < result.epochLoss[0]);
    assert.ok(result.seconds >= 0);
    // The model the result describes is the one returned.
    const y = await predict(model, Float32Array.of(-0.5, 0, 0.5));
    assert.equal(y.length, 3);
    assert.ok(y[0] < y[1] && y[1] < y[2], `not increasing: ${y}`);
  } finally {
    model.dispose();
  }
});

Deno.test("fitFunction() with a batch that does not divide the samples takes ceil(samples / batch) steps", async () => {
  await selectBackend("cpu");
  const { model, result } = await fitFunction(line, { ...small, epochs: 3, samples: 50, batchSize: 16 });
  model.dispose();
  assert.equal(result.steps, 3 * 4);
  assert.equal(result.epochLoss.length, 3);
});

Deno.test("fitFunction() keeps tf.memory().numTensors flat across epochs and leaves nothing behind", async () => {
  await selectBackend("cpu");
  for (const optimizer of ["adam", "sgd"] as const) {
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    const { model } = await fitFunction(line, { ...small, epochs: 5, optimizer }, {
      onEpoch: () => counts.push(tf.memory().numTensors),
    });
    model.dispose();
    assert.equal(counts.length, 5);
    assert.deepEqual(counts, counts.map(() => counts[0]), `${optimizer}: per-epoch counts ${counts}`);
    assert.equal(tf.memory().numTensors, before, `${optimizer}: tensors left after dispose`);
  }
});

Deno.test("fitFunction() reports a diverging run as a result, without throwing", async () => {
  await selectBackend("cpu");
  const before = tf.memory().numTensors;
  const seen: number[] = [];
  const { model, result } = await fitFunction((x) => x * x, {
    ...small,
    optimizer: "sgd",
    lr: 1e3,
    epochs: 50,
    samples: 200,
    batchSize: 50,
    hidden: [16],
    xMin: -5,
    xMax: 5,
  }, { onEpoch: (e) => seen.push(e) });
  model.dispose();
  assert.equal(result.status, "diverged");
  assert.ok(result.divergedEpoch !== null && result.divergedEpoch >= 1 && result.divergedEpoch < 50);
  assert.equal(result.epochLoss.length, result.divergedEpoch - 1);
  assert.deepEqual(seen, result.epochLoss.map((_, i) => i + 1));
  assert.ok(result.epochLoss.every(Number.isFinite));
  assert.ok(Number.isNaN(result.trainMse) && Number.isNaN(result.testMse));
  assert.equal(result.steps, result.divergedEpoch * 4);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("fitFunction() does not call a run ok when its final MSE is not finite", async () => {
  await selectBackend("cpu");
  // One step of SGD at lr 1000 on x^2 over [-100, 100]: the first (pre-update)
  // loss is finite, the weights after the update overflow float32.
  const { model, result } = await fitFunction((x) => x * x, {
    ...small,
    optimizer: "sgd",
    lr: 1e3,
    epochs: 1,
    samples: 100,
    batchSize: 100,
    hidden: [64, 64],
    xMin: -100,
    xMax: 100,
  });
  model.dispose();
  assert.ok(Number.isFinite(result.epochLoss[0]));
  assert.ok(!Number.isFinite(result.trainMse), `the setup did not overflow: ${result.trainMse}`);
  assert.equal(result.status, "diverged", `status ${result.status} with train MSE ${result.trainMse}`);
});

Deno.test("fitFunction() is repeatable: the same seed gives identical results, another seed does not", async () => {
  await selectBackend("cpu");
  const cfg = { ...small, epochs: 5 };
  const xs = Float32Array.of(-1, -0.3, 0.2, 1);
  const run = async (seed: number) => {
    const { model, result } = await fitFunction(line, { ...cfg, seed });
    const y = await predict(model, xs);
    const state = await model.stateDict();
    model.dispose();
    return { losses: result.epochLoss, trainMse: result.trainMse, testMse: result.testMse, y, state };
  };
  const [a, b, c] = [await run(4), await run(4), await run(5)];
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.losses, c.losses);
});

Deno.test("gridPoints() has GRID_POINTS points from xMin to xMax, both included", () => {
  const g = gridPoints({ xMin: -5, xMax: 5 });
  assert.equal(GRID_POINTS, 1001);
  assert.equal(g.length, 1001);
  assert.equal(g[0], -5);
  assert.equal(g[1000], 5);
  assert.equal(g[500], 0);
  assert.equal(g[1], Math.fround(-4.99));
  for (let i = 1; i < g.length; i++) assert.ok(g[i] > g[i - 1]);
  const h = gridPoints({ xMin: 0.1, xMax: 0.3 });
  assert.equal(h[0], Math.fround(0.1));
  assert.equal(h[1000], Math.fround(0.3));
});

Deno.test("predict() gives one float32 prediction per input and leaves no tensor behind", async () => {
  await selectBackend("cpu");
  const { model } = await fitFunction(line, { ...small, epochs: 1 });
  const before = tf.memory().numTensors;
  const y = await predict(model, gridPoints(small));
  assert.ok(y instanceof Float32Array);
  assert.equal(y.length, GRID_POINTS);
  assert.equal((await predict(model, new Float32Array(0))).length, 0);
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { defaultBound, uniformInit } from "../../lib/models/init.ts";
import { Rng } from "../../lib/data/rng.ts";

Deno.test("defaultBound() is PyTorch's 1/sqrt(fan_in)", () => {
  assert.equal(defaultBound(1), 1);
  assert.equal(defaultBound(4), 0.5);
  assert.equal(defaultBound(64), 0.125);
  // nn.Conv2d(16, 32, 3): fan_in = 16 * 3 * 3 = 144.
  assert.equal(defaultBound(16 * 3 * 3), 1 / 12);
});

Deno.test("uniformInit() has the shape, dtype and bounds asked for", async () => {
  await selectBackend("cpu");
  const before = tf.memory().numTensors;
  const bound = defaultBound(9 * 4);
  const w = uniformInit(new Rng(0), [3, 3, 4, 8], bound);
  assert.deepEqual(w.shape, [3, 3, 4, 8]);
  assert.equal(w.dtype, "float32");
  const v = Array.from(w.dataSync());
  assert.equal(v.length, 3 * 3 * 4 * 8);
  assert.ok(v.every((x) => x >= -bound && x <= bound));
  // Spread over the whole interval, centred.
  assert.ok(Math.min(...v) < -0.8 * bound && Math.max(...v) > 0.8 * bound);
  assert.ok(Math.abs(v.reduce((a, b) => a + b, 0) / v.length) < 0.1 * bound);
  w.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("uniformInit() draws row-major from the Rng, so the seed fixes every value", async () => {
  await selectBackend("cpu");
  const rng = new Rng(11);
  const w = uniformInit(rng, [2, 3], 0.5);
  const ref = new Rng(11);
  const expected = Array.from({ length: 6 }, () => Math.fround((ref.float() * 2 - 1) * 0.5));
  assert.deepEqual([...w.dataSync()], expected);
  // It consumed exactly 6 draws.
  assert.deepEqual(rng.state(), ref.state());
  w.dispose();
});

Deno.test("uniformInit() handles a scalar and an empty shape", async () => {
  await selectBackend("cpu");
  const s = uniformInit(new Rng(0), [], 1);
  assert.deepEqual(s.shape, []);
  assert.equal(s.dataSync().length, 1);
  const e = uniformInit(new Rng(0), [0, 4], 1);
  assert.deepEqual(e.shape, [0, 4]);
  tf.dispose([s, e]);
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { resnetTrainingProbe, throughputProbe } from "../../lib/train/probe.ts";

Deno.test("throughputProbe() warms up untimed, then times at most `steps` steps", async () => {
  const durations = [50, 5, 5, 5, 5];
  let calls = 0;
  const rate = await throughputProbe(10, async () => {
    await new Promise((r) => setTimeout(r, durations[calls++]));
  }, { steps: 2 })();
  assert.equal(calls, 3, "one warm-up and two timed steps");
  // 20 units in two ~5 ms steps; the 50 ms warm-up would have made it < 400.
  assert.ok(rate > 400, `${rate}`);
});

Deno.test("throughputProbe() takes a warm-up over twice the budget as the measurement", async () => {
  let calls = 0;
  const rate = await throughputProbe(10, async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 30));
  }, { budgetMs: 10 })();
  assert.equal(calls, 1);
  assert.ok(rate > 100 && rate < 400, `${rate}`); // 10 units in ~30 ms
});

Deno.test({
  name: "resnetTrainingProbe() trains through the lab's step runner and frees what it made",
  ignore: !nativeAvailable().ok,
  async fn() {
    await selectBackend("native");
    const before = tf.memory().numTensors;
    const rate = await resnetTrainingProbe(4, { steps: 1 })();
    assert.ok(Number.isFinite(rate) && rate > 0, `${rate}`);
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  },
});

/**
 * The compiled WebGPU step against the same step run op by op: the same
 * losses, correct counts, weights, momentum and batch-norm statistics, bit
 * for bit (both run the same kernels in the same order), across a learning
 * rate change, a smaller last batch (a second recording) and weights loaded
 * between steps (a new recording); and with the batches built on the GPU
 * from the split's bytes (`deviceStep`) against eager steps on the host's
 * batches. Batches of 2 and 3: lavapipe computes a ResNet20 step in about a
 * second at that size.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { ResNet20 } from "../../lib/models/resnet20.ts";
import { Sgd } from "../../lib/train/sgd.ts";
import { CompiledStepRunner, EagerStepRunner, type StepRunner } from "../../lib/train/train_step.ts";
import { evaluate, Evaluator, trainEpoch } from "../../lib/train/train_epoch.ts";
import { drawAugmentParams, labelsOf, makeBatch } from "../../lib/data/batches.ts";
import type { CifarSplit } from "../../lib/data/cifar.ts";
import { sgdMomentumStep, stepCompiler } from "../../lib/ops/mod.ts";
import { countGpuCalls } from "../../lib/webgpu/gpu_calls.ts";
import { Rng } from "../../lib/data/rng.ts";
import { gpuTest } from "./helpers.ts";

interface Setup {
  model: ResNet20;
  sgd: Sgd;
  runner: StepRunner;
}

function setup(compiled: boolean): Setup {
  const model = new ResNet20({ seed: 0 });
  const sgd = new Sgd(model.trainable(), { lr: 0.1 });
  const runner = compiled
    ? new CompiledStepRunner(model, sgd, stepCompiler()!)
    : new EagerStepRunner(model, sgd);
  return { model, sgd, runner };
}

/** `count` random images with random labels. */
function randomSplit(rng: Rng, count: number): CifarSplit {
  return {
    images: Uint8Array.from({ length: count * 3072 }, () => rng.int(0, 255)),
    labels: Uint8Array.from({ length: count }, () => rng.int(0, 9)),
    count,
  };
}

function batch(rng: Rng, n: number): [Float32Array, Int32Array] {
  return [
    Float32Array.from({ length: n * 32 * 32 * 3 }, () => 2 * rng.float() - 1),
    Int32Array.from({ length: n }, () => rng.int(0, 9)),
  ];
}

/** Every model tensor, momentum buffer and counter, downloaded. */
async function stateOf(s: Setup): Promise<Map<string, Float32Array | number>> {
  const out = new Map<string, Float32Array | number>();
  for (const t of s.model.tensors) out.set(t.name, Float32Array.from(await t.variable.data()));
  for (const [name, h] of await s.sgd.state()) out.set(name, h.data as Float32Array);
  for (const [name, t] of s.model.tracked) out.set(name, t.value);
  return out;
}

function assertSameState(got: Map<string, Float32Array | number>, want: Map<string, Float32Array | number>) {
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [name, w] of want) assert.deepEqual(got.get(name), w, name);
}

function dispose(...ss: Setup[]): void {
  for (const s of ss) {
    s.runner.dispose();
    s.sgd.dispose();
    s.model.dispose();
  }
}

Deno.test(
  "compiled step: five steps equal five eager steps bit for bit, across an LR change",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const eager = setup(false), compiled = setup(true);
    const rng = new Rng(5);
    for (let step = 1; step <= 5; step++) {
      // The second stage of a schedule: a new learning rate, the same recording.
      if (step === 4) eager.sgd.lr = compiled.sgd.lr = 0.01;
      const [images, labels] = batch(rng, 2);
      eager.runner.step(images, labels);
      compiled.runner.step(images, labels);
      assert.deepEqual(
        await compiled.runner.totals(),
        await eager.runner.totals(),
        `sums after step ${step}`,
      );
    }
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 1);
    assertSameState(await stateOf(compiled), await stateOf(eager));
    dispose(eager, compiled);
  },
);

Deno.test(
  "compiled step: a smaller batch is a second recording; reset() zeroes the sums in place",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const eager = setup(false), compiled = setup(true);
    const rng = new Rng(6);
    for (const n of [3, 3, 2, 3, 2]) {
      const [images, labels] = batch(rng, n);
      eager.runner.step(images, labels);
      compiled.runner.step(images, labels);
    }
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 2);
    assert.deepEqual(await compiled.runner.totals(), await eager.runner.totals());
    compiled.runner.reset();
    eager.runner.reset();
    assert.deepEqual(await compiled.runner.totals(), { loss: 0, correct: 0 });
    const [images, labels] = batch(rng, 3);
    eager.runner.step(images, labels);
    compiled.runner.step(images, labels);
    assert.deepEqual(await compiled.runner.totals(), await eager.runner.totals());
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 2, "reset() does not re-record");
    assertSameState(await stateOf(compiled), await stateOf(eager));
    dispose(eager, compiled);
  },
);

Deno.test(
  "compiled step: weights loaded between steps are picked up by a new recording",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const eager = setup(false), compiled = setup(true);
    const rng = new Rng(7);
    const donor = new ResNet20({ seed: 3 });
    const weights = await donor.stateDict();
    donor.dispose();
    for (let step = 1; step <= 4; step++) {
      if (step === 3) {
        eager.model.loadStateDict(weights);
        compiled.model.loadStateDict(weights);
      }
      const [images, labels] = batch(rng, 2);
      eager.runner.step(images, labels);
      compiled.runner.step(images, labels);
    }
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 2);
    assert.deepEqual(await compiled.runner.totals(), await eager.runner.totals());
    assertSameState(await stateOf(compiled), await stateOf(eager));
    dispose(eager, compiled);
  },
);

Deno.test(
  "compiled step: a replay is one submit, no read-back, no buffer or bind group made",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const counter = countGpuCalls()!;
    const before = tf.memory().numTensors;
    const s = setup(true);
    const rng = new Rng(8);
    const [images, labels] = batch(rng, 2);
    s.runner.step(images, labels);
    s.runner.step(images, labels);
    counter.reset();
    s.runner.step(images, labels);
    const c = counter.snapshot();
    assert.equal(c.submit, 1);
    assert.equal(c.mapAsync, 0);
    assert.equal(c.createBuffer, 0);
    assert.equal(c.createBindGroup, 0);
    assert.equal(c.createPipeline, 0);
    assert.equal(
      c.writeBuffer,
      1,
      "the images (labels and learning rate unchanged: small inputs are compared first)",
    );
    assert.ok(c.dispatch > 100 && c.dispatch <= 810, `${c.dispatch} dispatches`);
    // Weights, momentum and running averages are updated in place: only the loss and count sums go home.
    assert.equal(c.copy, 2, "copies of a replay");
    dispose(s);
    assert.equal(tf.memory().numTensors, before, "the compiled step and its model leave no tensor behind");
  },
);

Deno.test(
  "compiled evaluation equals the op-by-op pass: predictions, loss, logits; one read-back a pass",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const model = new ResNet20({ seed: 2 });
    // 5 images in batches of 2: two recordings (2 and 1), replayed in the second pass.
    const split = randomSplit(new Rng(9), 5);
    const eager = await evaluate(model, split, { batchSize: 2, logits: true, compiled: false });
    // The images held on the GPU (the default) or each batch uploaded.
    for (const deviceBatches of [true, false]) {
      const evaluator = new Evaluator(model, { deviceBatches });
      const counter = countGpuCalls()!;
      for (const pass of [1, 2]) {
        counter.reset();
        const compiled = await evaluator.evaluate(split, { batchSize: 2, logits: true });
        const what = `pass ${pass}, device batches ${deviceBatches}`;
        assert.deepEqual(compiled.predictions, eager.predictions, `predictions, ${what}`);
        assert.deepEqual(compiled.logits, eager.logits, `logits, ${what}`);
        assert.equal(compiled.loss, eager.loss, `loss, ${what}`);
        assert.equal(compiled.acc, eager.acc);
        if (pass === 2) assert.equal(counter.snapshot().mapAsync, 3, "three collectors read once each");
      }
      const noLogits = await evaluator.evaluate(split, { batchSize: 2 });
      assert.equal(noLogits.logits, undefined);
      assert.deepEqual(noLogits.predictions, eager.predictions);
      evaluator.dispose();
    }
    model.dispose();
  },
);

Deno.test(
  "device batches: five compiled steps on batches built on the GPU equal five eager steps on the host's",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const eager = setup(false), compiled = setup(true);
    const split = randomSplit(new Rng(10), 7);
    const step = (compiled.runner as CompiledStepRunner).deviceStep(split)!;
    const rng = new Rng(11);
    const counter = countGpuCalls()!;
    // A smaller last batch (a second recording) and a new learning rate (none).
    const batches = [[6, 0], [3, 3], [5, 1], [2, 4], [0]].map((b) => Int32Array.from(b));
    let lastLabels = "";
    for (const [k, indices] of batches.entries()) {
      if (k === 3) eager.sgd.lr = compiled.sgd.lr = 0.01;
      const params = drawAugmentParams(indices.length, rng);
      const labels = labelsOf(split, indices);
      counter.reset();
      step(indices, params, labels);
      // A replay writes the plan, and the labels where they changed (the learning rate did not).
      const labelWrites = labels.join() === lastLabels ? 0 : 1;
      if (k === 2) assert.equal(counter.snapshot().writeBuffer, 1 + labelWrites, "writes of a replay");
      lastLabels = labels.join();
      eager.runner.step(makeBatch(split, indices, { augment: true, params }), labels);
      assert.deepEqual(
        await compiled.runner.totals(),
        await eager.runner.totals(),
        `sums after step ${k + 1}`,
      );
    }
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 2, "device batches of 2 and 1");
    assertSameState(await stateOf(compiled), await stateOf(eager));
    assert.equal(
      (compiled.runner as CompiledStepRunner).deviceStep(split),
      step,
      "the split stays on the GPU",
    );
    // The kernel profile times the step the runner runs: the device step, already recorded for 2.
    const times = await (compiled.runner as CompiledStepRunner).profile(2);
    assert.ok(times?.some((t) => t.kernel === "augmentBatch"), times?.map((t) => t.kernel).join());
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 2, "no new recording for the profile");
    dispose(eager, compiled);
  },
);

Deno.test(
  "device batches: trainEpoch on a compiled runner equals trainEpoch on an eager one",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const eager = setup(false), compiled = setup(true);
    const split = randomSplit(new Rng(12), 5);
    const results = [];
    for (const s of [eager, compiled]) {
      const r = await trainEpoch(s.model, s.sgd, split, new Rng(13), { batchSize: 2, runner: s.runner });
      results.push({ loss: r.loss, acc: r.acc, count: r.count });
    }
    assert.deepEqual(results[1], results[0]);
    assertSameState(await stateOf(compiled), await stateOf(eager));
    // The device path was taken: its recordings (batches of 2 and 1), not the host path's.
    assert.equal((compiled.runner as CompiledStepRunner).recordings, 2);
    dispose(eager, compiled);
  },
);

Deno.test(
  "compiled step: an update runs in place unless its old value is read after it",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const counter = countGpuCalls()!;
    for (const readAfter of [false, true]) {
      const lr = tf.scalar(0.5);
      const vars = () => [tf.tensor1d([1, 2, 3]), tf.zeros([3]), tf.zeros([3])].map((t) => tf.variable(t));
      // The step: SGD of w, and (readAfter) the weights read after the update's dispatch, which must see the old ones.
      const step = ([w, buf, seen]: tf.Variable[], g: tf.Tensor) => {
        const [p, b] = sgdMomentumStep(w, tf.reshape(g, [3]), buf, lr, { momentum: 0.9, weightDecay: 0 });
        if (readAfter) seen.assign(tf.mul(w, 2));
        w.assign(p);
        buf.assign(b);
      };
      const state = vars(), eager = vars();
      const compiled = stepCompiler()!({
        inputs: [{ shape: [1, 3], dtype: "float32" }],
        state,
        run: ([g]) => step(state, g),
      });
      for (const [k, g] of [[1, 2, 3], [-1, 0.5, 4], [0.25, -2, 1]].entries()) {
        counter.reset();
        compiled.run([Float32Array.from(g)]);
        if (k === 2) {
          assert.equal(counter.snapshot().copy, readAfter ? 3 : 0, `copies home, read after ${readAfter}`);
        }
        tf.tidy(() => step(eager, tf.tensor2d([g])));
        for (const [i, name] of ["weights", "buffer", "old weights read"].entries()) {
          assert.deepEqual(
            await state[i].data(),
            await eager[i].data(),
            `${name}, step ${k + 1}, read after ${readAfter}`,
          );
        }
      }
      assert.notDeepEqual(await state[0].data(), Float32Array.of(1, 2, 3), "the weights moved");
      compiled.dispose();
      tf.dispose([...state, ...eager, lr]);
    }
  },
);

Deno.test(
  "compiled step: constants are read where they are; a run after one was disposed is an error",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const constant = tf.tensor1d([1, 2, 3]);
    const sum = tf.variable(tf.zeros([3]));
    const compiled = stepCompiler()!({
      inputs: [{ shape: [1, 3], dtype: "float32" }],
      state: [sum],
      constants: [constant],
      run: ([x]) => {
        sum.assign(tf.add(sum, tf.mul(tf.reshape(x, [3]), constant)));
      },
    });
    compiled.run([Float32Array.of(1, 1, 1)]); // records
    compiled.run([Float32Array.of(10, 10, 10)]); // replays
    assert.deepEqual(await sum.data(), Float32Array.of(11, 22, 33));
    constant.dispose();
    assert.throws(() => compiled.run([Float32Array.of(1, 1, 1)]), /a constant of the step was disposed/);
    compiled.dispose();
    sum.dispose();
  },
);

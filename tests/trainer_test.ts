import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../lib/backend.ts";
import { nativeAvailable } from "../lib/native_backend.ts";
import { ResNet20 } from "../lib/resnet.ts";
import { decodeSafetensors } from "../lib/safetensors.ts";
import { Sgd } from "../lib/sgd.ts";
import { evaluate, trainEpoch, trainStep } from "../lib/trainer.ts";
import { Rng } from "../lib/rng.ts";
import type { CifarSplit } from "../lib/cifar.ts";

const native = nativeAvailable();
const FIX = new URL("./fixtures/", import.meta.url);

function load(path: string) {
  return decodeSafetensors(Deno.readFileSync(new URL(path, FIX)), { source: path }).state;
}

/** NCHW fixture inputs as NHWC floats. */
function inputsNhwc(): Float32Array {
  const t = load("weights/inputs16.safetensors").get("inputs")!;
  return tf.tidy(() =>
    tf.transpose(tf.tensor(t.data as Float32Array, t.shape), [0, 2, 3, 1]).dataSync() as Float32Array
  );
}

async function startBackend(): Promise<void> {
  await selectBackend("native");
}

Deno.test({
  name: "trainStep() reproduces two PyTorch SGD steps (weights, BN statistics, momentum)",
  ignore: !native.ok,
  async fn() {
    await startBackend();
    const step = JSON.parse(Deno.readTextFileSync(new URL("train_step/step.json", FIX)));
    const model = new ResNet20({ batchNormTrain: (await import("../lib/native_backend.ts")).batchNormTrain });
    model.loadStateDict(load("weights/resnet20.safetensors"), "resnet20.safetensors");
    const sgd = new Sgd(model.trainable(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const x = inputsNhwc();
    const labels = Int32Array.from(step.labels);
    const losses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const [loss, correct] = trainStep(model, sgd, x, labels);
      losses.push(loss.dataSync()[0] / labels.length);
      tf.dispose([loss, correct]);
    }
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(losses[i] - step.losses[i]) < 1e-4, `loss ${i}: ${losses[i]}`);
    const expected = load("train_step/after2.safetensors");
    const got = await model.stateDict();
    let worst = ["", 0] as [string, number];
    for (const [name, t] of got) {
      const e = expected.get(name)!;
      for (let i = 0; i < t.data.length; i++) {
        const d = Math.abs(Number(t.data[i]) - Number(e.data[i]));
        if (d > worst[1]) worst = [name, d];
      }
    }
    assert.ok(worst[1] < 1e-4, `largest difference ${worst[1]} in ${worst[0]}`);
    sgd.dispose();
    model.dispose();
  },
});

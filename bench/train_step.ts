/**
 * ResNet20 training-step throughput of the `native` backend beside PyTorch,
 * measured back to back in one run (the 2-core box is shared: only same-run
 * ratios mean anything). Reads no files; starts the PyTorch reference as a
 * subprocess.
 *
 * What is timed: `trainStep` (forward, backward, SGD with momentum 0.9 and
 * weight decay 1e-4, the loss read back) at batch `--batch` on random data,
 * with `batchNormTrain` from `lib/native_backend.ts`; `--warmup` steps are
 * excluded, then the mean of `--steps` steps. PyTorch:
 * `pytorch_resnet20.py bench --threads 2` with the same batch, warm-up and
 * steps. Native runs first, then PyTorch, then native again; the ratio uses
 * the mean of the two native runs.
 *
 * Run: deno run -A bench/train_step.ts [--batch 128] [--steps 10] [--warmup 2]
 *   [--threads 2] [--python /usr/bin/python3] [--no-torch]
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { batchNormTrain, registerNativeBackend } from "../lib/native_backend.ts";
import { ResNet20 } from "../lib/resnet.ts";
import { Sgd } from "../lib/sgd.ts";
import { trainStep } from "../lib/trainer.ts";
import { Rng } from "../lib/rng.ts";

const { values: flags } = parseArgs({
  options: {
    batch: { type: "string", default: "128" },
    steps: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
    python: { type: "string", default: "/usr/bin/python3" },
    "no-torch": { type: "boolean", default: false },
  },
});
const BATCH = Number(flags.batch), STEPS = Number(flags.steps), WARMUP = Number(flags.warmup);

/** Mean ms per native training step after the warm-up. */
function nativeStepMs(): number {
  const rng = new Rng(1);
  const images = Float32Array.from({ length: BATCH * 32 * 32 * 3 }, () => rng.float() * 2 - 1);
  const labels = Int32Array.from({ length: BATCH }, () => rng.int(0, 9));
  const model = new ResNet20({ seed: 0, batchNormTrain });
  const sgd = new Sgd(model.trainable(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const step = () => {
    const [loss, correct] = trainStep(model, sgd, images, labels);
    loss.dataSync();
    tf.dispose([loss, correct]);
  };
  for (let i = 0; i < WARMUP; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) step();
  const ms = (performance.now() - t0) / STEPS;
  sgd.dispose();
  model.dispose();
  return ms;
}

/** PyTorch's ms per step from its one CSV line. */
async function torchStepMs(): Promise<number> {
  const script = new URL("../../shared/reference/pytorch_resnet20.py", import.meta.url).pathname;
  const out = await new Deno.Command(flags.python, {
    args: [
      script,
      "bench",
      "--threads",
      flags.threads,
      "--batch-size",
      String(BATCH),
      "--steps",
      String(STEPS),
      "--warmup",
      String(WARMUP),
    ],
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const ms = Number(text.split("\n").at(-1)?.split(",")[3]);
  if (!out.success || !Number.isFinite(ms)) {
    throw new Error(`PyTorch bench failed: expected a CSV line with step_ms, got "${text}"`);
  }
  return ms;
}

const device = await registerNativeBackend();
await tf.setBackend("native");
const first = nativeStepMs();
const torchMs = flags["no-torch"] ? NaN : await torchStepMs();
const second = nativeStepMs();
const nativeMs = (first + second) / 2;
const ips = (ms: number) => (BATCH / ms * 1000).toFixed(1);
console.log("framework,batch_size,step_ms,images_per_second");
console.log(`native (${device}),${BATCH},${nativeMs.toFixed(1)},${ips(nativeMs)}`);
if (!flags["no-torch"]) {
  console.log(`pytorch (${flags.threads} threads),${BATCH},${torchMs.toFixed(1)},${ips(torchMs)}`);
}
console.error(
  `native runs: ${first.toFixed(1)} / ${second.toFixed(1)} ms per step` +
    (flags["no-torch"] ? "" : `; native / pytorch images/s: ${(torchMs / nativeMs).toFixed(2)}x`),
);

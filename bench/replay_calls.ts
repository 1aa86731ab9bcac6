/**
 * Where a compiled ResNet20 step's host time goes: every WebGPU call of a
 * replay timed (the call counter's timing, `lib/webgpu/gpu_calls.ts`), with
 * every dispatch emptied as in the host-only bench, for the compiled step on batches built on the GPU and on
 * host-built batches. Tells which calls a cheaper step must make fewer of.
 *
 *   deno run -A bench/replay_calls.ts [--batch 128] [--steps 20]
 *
 * Prints CSV: `batches,call,calls_per_step,ms_per_step` over the timed steps
 * (after hostOnlyStep's untimed warm-up steps), then each run's median
 * host-only step on stderr.
 *
 * @module
 */
import { selectBackend } from "../lib/runtime/backend.ts";
import { defineFlags, flag } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { createStepRunner, trainStep } from "../lib/train/train_epoch.ts";
import { countGpuCalls } from "../lib/webgpu/gpu_calls.ts";
import { median } from "./stats.ts";
import { hostOnlyStep, type StepModules } from "./webgpu_step.ts";

const cli = defineFlags("deno run -A bench/replay_calls.ts [flags]", {
  batch: flag.int("ResNet20 batch", { default: 128, min: 1, max: 4096 }),
  steps: flag.int("timed steps (after the warm-up)", { default: 20, min: 1, max: 10000 }),
}, { description: "Where a compiled ResNet20 step's host time goes, WebGPU call by call." });

async function main(): Promise<void> {
  const { values: o } = cli.parse(Deno.args);
  if (o.help) return console.log(cli.help());
  const counter = countGpuCalls();
  if (!counter) throw new Error("no WebGPU in this runtime");
  counter.timing = true;
  const modules = { selectBackend, ResNet20, Sgd, trainStep, createStepRunner } as StepModules;
  console.log("batches,call,calls_per_step,ms_per_step");
  for (const deviceBatches of [true, false]) {
    const r = await hostOnlyStep(counter, modules, o.batch, o.steps, true, deviceBatches);
    const name = deviceBatches ? "device" : "host";
    for (const [call, t] of Object.entries(r.callTimes ?? {})) {
      console.log(`${name},${call},${t.calls},${t.ms.toFixed(3)}`);
    }
    console.error(
      `replay_calls: ${name} batches: host-only step ${median(r.hostOnlyMs).toFixed(2)} ms (median)`,
    );
  }
}

if (import.meta.main) await runMain(main);

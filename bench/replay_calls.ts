/**
 * Where a compiled ResNet20 step's host time goes: every WebGPU call of a
 * replay timed (prototype wrappers), with every dispatch emptied as in the
 * host-only bench, for the compiled step on batches built on the GPU and on
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
import { parseArgs } from "node:util";
import { selectBackend } from "../lib/runtime/backend.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { createStepRunner, trainStep } from "../lib/train/train_epoch.ts";
import { countGpuCalls } from "../lib/webgpu/gpu_calls.ts";
import { median } from "./stats.ts";
import { hostOnlyStep, type StepModules } from "./webgpu_step.ts";

const { values } = parseArgs({
  options: { batch: { type: "string", default: "128" }, steps: { type: "string", default: "20" } },
});
const batch = Number(values.batch), steps = Number(values.steps);
for (const [flag, v] of [["--batch", batch], ["--steps", steps]] as const) {
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`${flag} must be a positive integer, got ${values[flag.slice(2) as "batch"]}`);
  }
}

const counter = countGpuCalls();
if (!counter) throw new Error("no WebGPU in this runtime");

/** Per step (hostOnlyStep resets the counter as each step starts), the durations of each wrapped call. */
let perStep: Map<string, number[]>[] = [];
const reset = counter.reset.bind(counter);
counter.reset = () => {
  perStep.push(new Map());
  reset();
};
function time(proto: object, method: string, name = method): void {
  const p = proto as Record<string, (...args: unknown[]) => unknown>;
  const original = p[method];
  p[method] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const step = perStep.at(-1);
      const ms = performance.now() - t0;
      if (step) {
        const list = step.get(name);
        if (list) list.push(ms);
        else step.set(name, [ms]);
      }
    }
  };
}
time(GPUQueue.prototype, "writeBuffer");
time(GPUQueue.prototype, "submit");
time(GPUDevice.prototype, "createCommandEncoder");
time(GPUCommandEncoder.prototype, "beginComputePass");
time(GPUCommandEncoder.prototype, "copyBufferToBuffer");
time(GPUCommandEncoder.prototype, "finish");
time(GPUComputePassEncoder.prototype, "setPipeline");
time(GPUComputePassEncoder.prototype, "setBindGroup");
time(GPUComputePassEncoder.prototype, "dispatchWorkgroups");
time(GPUComputePassEncoder.prototype, "end", "pass.end");

const modules = { selectBackend, ResNet20, Sgd, trainStep, createStepRunner } as StepModules;
console.log("batches,call,calls_per_step,ms_per_step");
for (const deviceBatches of [true, false]) {
  perStep = [];
  const r = await hostOnlyStep(counter, modules, batch, steps, true, deviceBatches);
  const name = deviceBatches ? "device" : "host";
  const timed = perStep.slice(-steps);
  for (const call of timed.at(-1)!.keys()) {
    const lists = timed.map((m) => m.get(call) ?? []);
    const calls = lists.reduce((a, l) => a + l.length, 0) / steps;
    const ms = lists.flat().reduce((a, b) => a + b, 0) / steps;
    console.log(`${name},${call},${calls},${ms.toFixed(3)}`);
  }
  console.error(
    `replay_calls: ${name} batches: host-only step ${median(r.hostOnlyMs).toFixed(2)} ms (median)`,
  );
}

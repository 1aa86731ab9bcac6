/**
 * One ResNet20 training step on WebGPU, measured from outside: the WebGPU
 * calls per step in steady state (dispatches, `writeBuffer`, `createBuffer`,
 * bind groups, submits, read-backs) and the host-only step time (every
 * dispatch emptied: the host's work alone, whatever the GPU). A compiled
 * step takes its batches as the lab does: built on the GPU from images held
 * there where the tree's runner can (`deviceStep`), so the host's work a
 * step includes drawing the crops and writing the plan.
 *
 * `deno task bench` calls {@linkcode hostOnlyStep} in its own process for
 * this tree. For another tree (a `git worktree` of an earlier commit, for
 * the ratio) it copies this file there and runs it with that tree's
 * deno.json; the step, model and optimizer then come from that tree (the
 * current layout, or the flat `lib/*.ts` one of commits before the
 * restructure). So this file imports nothing but tfjs-core:
 *
 *   deno run -A --config TREE/deno.json TREE/this-file.ts TREE COUNTER_MODULE [BATCH] [STEPS] [eager|compiled]
 *
 * which prints one JSON line, a {@linkcode HostStep}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The counter of lib/webgpu/gpu_calls.ts, as far as this file needs it. */
export interface Counter {
  snapshot(): object;
  reset(): void;
  hostOnly: boolean;
  /** While true (counters that time calls), {@linkcode Counter.times} gives each call's host time. */
  timing?: boolean;
  times?(): Record<string, { calls: number; ms: number }>;
}

/** A tree's ResNet20 training step, as far as this file needs it. */
export interface StepModules {
  selectBackend(choice: "webgpu"): Promise<unknown>;
  ResNet20: new (o: { seed: number }) => { trainable(): Map<string, unknown>; dispose(): void };
  Sgd: new (p: Map<string, unknown>, o: { lr: number }) => { dispose(): void };
  trainStep(model: unknown, sgd: unknown, images: Float32Array, labels: Int32Array): tf.Tensor[];
  /** Trees with compiled steps. */
  createStepRunner?(model: unknown, sgd: unknown, options: { compiled: boolean; deviceBatches?: boolean }): {
    step(images: Float32Array, labels: Int32Array): void;
    /** Trees that build batches on the device. */
    deviceStep?(split: Split): DeviceStep | null;
    dispose(): void;
  };
}

/** A CIFAR split, as a tree's `deviceStep` takes it. */
interface Split {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** A step on a batch of a split held on the device. */
type DeviceStep = (
  indices: Int32Array,
  params: { dx: number; dy: number; flip: boolean }[],
  labels: Int32Array,
) => void;

/** What one measurement gives: host-only times of the timed steps and the last step's calls. */
export interface HostStep {
  batch: number;
  /** Whether steps were compiled (recorded once, replayed). */
  compiled: boolean;
  /** Whether the batches were built on the device from indices and crops. */
  deviceBatches?: boolean;
  hostOnlyMs: number[];
  calls: Record<string, number>;
  /** Where the counter timed calls: each method's calls and milliseconds, per timed step (mean). */
  callTimes?: Record<string, { calls: number; ms: number }>;
}

/** Untimed steps before the host-only steps are timed. */
export const WARM_UP_STEPS = 10;

/**
 * Runs {@linkcode WARM_UP_STEPS} warm-up steps, then `steps` timed steps with
 * every dispatch emptied, each submitted at its end; `deviceBatches: false`
 * has a compiled step upload host-built batches.
 */
export async function hostOnlyStep(
  counter: Counter,
  m: StepModules,
  batch: number,
  steps: number,
  compiled = false,
  deviceBatches = true,
): Promise<HostStep> {
  await m.selectBackend("webgpu");
  const model = new m.ResNet20({ seed: 0 });
  const sgd = new m.Sgd(model.trainable(), { lr: 0.1 });
  if (compiled && !m.createStepRunner) throw new Error("this tree has no compiled steps");
  const runner = m.createStepRunner?.(model, sgd, { compiled, deviceBatches });
  const images = Float32Array.from({ length: batch * 32 * 32 * 3 }, (_, i) => Math.sin(i));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  // Four batches' worth of images for the device path, walked through in turn with fresh crops.
  const count = 4 * batch;
  const split: Split = {
    images: Uint8Array.from({ length: count * 3072 }, (_, i) => (i * 2654435761) >>> 24),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
  };
  const deviceStep = compiled ? runner?.deviceStep?.(split) ?? null : null;
  let seed = 1, first = 0;
  const draw = (k: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 16) % k;
  };
  const step = deviceStep
    ? (_x: Float32Array, y: Int32Array) => {
      const indices = Int32Array.from({ length: batch }, (_, i) => (first + i) % count);
      first = (first + batch) % count;
      const params = Array.from({ length: batch }, () => ({ dx: draw(9), dy: draw(9), flip: draw(2) === 1 }));
      deviceStep(indices, params, y);
    }
    : runner
    ? (x: Float32Array, y: Int32Array) => runner.step(x, y)
    : (x: Float32Array, y: Int32Array) => tf.dispose(m.trainStep(model, sgd, x, y));
  const be = tf.backend() as unknown as {
    commandEncoder: unknown;
    endComputePassEncoder(): void;
    submitQueue(): void;
  };
  const hostOnlyMs: number[] = [];
  let calls: Record<string, number> = {};
  const callTimes: Record<string, { calls: number; ms: number }> = {};
  counter.hostOnly = true;
  try {
    // Warm-up: pipelines compile, the buffer pool fills, and which pooled
    // buffer each op takes settles (bind groups are reused from then on).
    for (let s = -WARM_UP_STEPS; s < steps; s++) {
      counter.reset();
      const t0 = performance.now();
      step(images, labels);
      if (be.commandEncoder) {
        be.endComputePassEncoder();
        be.submitQueue();
      }
      const ms = performance.now() - t0;
      if (s >= 0) {
        hostOnlyMs.push(ms);
        calls = { ...counter.snapshot() } as Record<string, number>;
        if (counter.timing && counter.times) {
          for (const [method, t] of Object.entries(counter.times())) {
            const sum = callTimes[method] ??= { calls: 0, ms: 0 };
            sum.calls += t.calls;
            sum.ms += t.ms;
          }
        }
      }
    }
  } finally {
    counter.hostOnly = false;
    runner?.dispose();
    sgd.dispose();
    model.dispose();
  }
  // Sums over the timed steps, as means per step.
  for (const t of Object.values(callTimes)) [t.calls, t.ms] = [t.calls / steps, t.ms / steps];
  const timed = Object.keys(callTimes).length > 0 ? { callTimes } : {};
  return { batch, compiled, deviceBatches: deviceStep !== null, hostOnlyMs, calls, ...timed };
}

/** The first of `paths` (relative to `tree`) that exists, imported. */
async function load(tree: string, ...paths: string[]): Promise<Record<string, unknown>> {
  for (const p of paths) {
    try {
      Deno.statSync(`${tree}/${p}`);
    } catch {
      continue;
    }
    return await import(new URL(`file://${tree}/${p}`).href);
  }
  throw new Error(`none of ${paths.join(", ")} in ${tree}`);
}

if (import.meta.main) {
  const [tree, counterPath, batch = "128", steps = "5", compiled = "eager"] = Deno.args;
  const { countGpuCalls } = await import(new URL(`file://${counterPath}`).href);
  const counter = countGpuCalls() as Counter | null;
  if (!counter) throw new Error("no WebGPU in this runtime");
  const modules = {
    ...await load(tree, "lib/runtime/backend.ts", "lib/backend.ts"),
    ...await load(tree, "lib/models/resnet20.ts", "lib/resnet.ts"),
    ...await load(tree, "lib/train/sgd.ts", "lib/sgd.ts"),
    ...await load(tree, "lib/train/train_epoch.ts", "lib/trainer.ts"),
  } as unknown as StepModules;
  console.log(
    JSON.stringify(
      await hostOnlyStep(counter, modules, Number(batch), Number(steps), compiled === "compiled"),
    ),
  );
}

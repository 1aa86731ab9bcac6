/**
 * Short measured probes for `--backend auto`: a few steps of the lab's own
 * work on the active backend, timed, so that the choice between a hardware
 * GPU and the CPU is measured, never assumed.
 *
 * @module
 */
import { ResNet20 } from "../models/resnet20.ts";
import { Sgd } from "./sgd.ts";
import { createStepRunner, type StepRunnerOptions } from "./train_step.ts";

/** Options for {@linkcode throughputProbe}. */
export interface ThroughputProbeOptions {
  /** Timed steps at most. @default {3} */
  steps?: number;
  /** Stop timing after this long (the warm-up step is not counted). @default {1500} */
  budgetMs?: number;
}

/**
 * A probe for `selectBackend`'s `auto` choice: runs `step` once to warm up
 * (pipelines compile, buffers fill), then times up to `steps` more within
 * `budgetMs`, and returns `work` units per second. A warm-up that alone
 * takes more than twice the budget is taken as the measurement (the
 * backend is too slow to spend more time on).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { throughputProbe } from "./probe.ts";
 * const probe = throughputProbe(100, async () => await new Promise((r) => setTimeout(r, 10)), { steps: 2 });
 * const rate = await probe();
 * assert.ok(rate > 1000 && rate < 10000, `${rate}`); // 100 per ~10 ms
 * ```
 */
export function throughputProbe(
  work: number,
  step: () => Promise<void>,
  options: ThroughputProbeOptions = {},
): () => Promise<number> {
  const steps = options.steps ?? 3, budget = options.budgetMs ?? 1500;
  return async () => {
    const t0 = performance.now();
    await step();
    const warm = performance.now() - t0;
    if (warm > 2 * budget) return work / (warm / 1000);
    const t1 = performance.now();
    let done = 0;
    while (done < steps && (done === 0 || performance.now() - t1 < budget)) {
      await step();
      done++;
    }
    return done * work / ((performance.now() - t1) / 1000);
  };
}

/**
 * Images per second of ResNet20 training steps at `batchSize` on the
 * active backend, run as the lab runs them ({@linkcode createStepRunner}:
 * compiled where the backend compiles, unless `compiled` is false). Random
 * data; the sums are read back after every step, so queued GPU work is
 * inside the timing. Builds and frees its own model each call.
 *
 * @example
 * ```ts ignore
 * // Seconds of training on the active backend.
 * const info = await selectBackend("auto", { probe: resnetTrainingProbe(128) });
 * console.log(info.reason); // "auto: webgpu is faster (measured ...)"
 * ```
 */
export function resnetTrainingProbe(
  batchSize: number,
  options: ThroughputProbeOptions & StepRunnerOptions = {},
): () => Promise<number> {
  return async () => {
    const model = new ResNet20({ seed: 0 });
    const sgd = new Sgd(model.trainable(), { lr: 0.01 });
    const runner = createStepRunner(model, sgd, options);
    const images = Float32Array.from({ length: batchSize * 32 * 32 * 3 }, (_, i) => Math.sin(i));
    const labels = Int32Array.from({ length: batchSize }, (_, i) => i % 10);
    try {
      return await throughputProbe(batchSize, async () => {
        runner.step(images, labels);
        await runner.totals();
      }, options)();
    } finally {
      runner.dispose();
      sgd.dispose();
      model.dispose();
    }
  };
}

/**
 * Where a ResNet20 training step's time goes, op by op, and where a whole
 * epoch's goes (data pipeline included), beside PyTorch's own profile of its
 * step (`torch.profiler`, bench/torch_profile.py) measured in the same run:
 *
 *   deno task profile                          # step, ours and PyTorch's
 *   deno task profile --epoch-images 50000     # plus one real epoch (CIFAR10_DIR)
 *
 * What is timed:
 * - step: `--steps` training steps (forward, backward, SGD) at batch 128 on
 *   random data after `--warmup` steps, every kernel of the active backend
 *   wrapped in a timer: each kernel's calls and milliseconds per step, and
 *   what the step spent outside kernels (tfjs's engine: tape, tidy, saved
 *   tensors; our ops' JavaScript). The timers themselves cost ~1%.
 * - epoch: `trainEpoch` over the first `--epoch-images` shuffled training
 *   images, as `deno task exp2` runs it (augmentation, the step runner,
 *   progress reads every 20 steps): time assembling batches against time in
 *   steps, and the kernels over the whole pass.
 * - PyTorch: the same steps under `torch.profiler` (self CPU time per aten
 *   op), its step time without the profiler, and with `--epoch-images` its
 *   own training loop over as many images (augmentation against step).
 *
 * Prints CSV on stdout (`who,section,name,calls_per_step,ms_per_step,share`)
 * and a summary on stderr. Ratios mean something only within one run: the
 * box is shared and noisy.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { loadCifar10, resolveCifarDir } from "../lib/data/cifar_files.ts";
import { Rng } from "../lib/data/rng.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { BACKENDS, selectBackend } from "../lib/runtime/backend.ts";
import { defineFlags, flag, type FlagValues } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { createStepRunner, type EpochTimings, trainEpoch } from "../lib/train/train_epoch.ts";

const cli = defineFlags("deno task profile [flags]", {
  backend: flag.choice("the backend profiled", BACKENDS, { default: "native" }),
  steps: flag.int("timed steps", { default: 5, min: 1, max: 1000 }),
  warmup: flag.int("untimed steps first", { default: 2, min: 0, max: 1000 }),
  "batch-size": flag.int("images a step", { default: 128, min: 1, max: 4096 }),
  "epoch-images": flag.int("also profile an epoch over this many training images (0: none)", {
    default: 0,
    min: 0,
    max: 50000,
  }),
  "data-dir": flag.string("CIFAR-10 binary folder", { placeholder: "DIR", defaultText: "CIFAR10_DIR" }),
  reference: flag.string("folder of pytorch_resnet20.py", {
    default: "../shared/reference",
    placeholder: "DIR",
  }),
  python: flag.string("Python with PyTorch", { default: "/usr/bin/python3", placeholder: "PATH" }),
  "no-reference": flag.boolean("skip PyTorch"),
}, {
  description: "Per-op profile of a ResNet20 training step and epoch, beside PyTorch's in the same run.",
  examples: [
    "deno task profile",
    "CIFAR10_DIR=../shared/data/cifar-10-batches-bin deno task profile --epoch-images 50000",
  ],
});

type Options = FlagValues<typeof cli.table>;

/** Calls and milliseconds of one kernel. */
interface KernelTime {
  calls: number;
  ms: number;
}

/**
 * Wraps every kernel registered for `backendName` in a timer until
 * `restore()`; `times` fills as kernels run (`clear()` between phases).
 */
function timeKernels(backendName: string): { times: Map<string, KernelTime>; restore: () => void } {
  const times = new Map<string, KernelTime>();
  const originals = tf.getKernelsForBackend(backendName);
  for (const k of originals) {
    const run = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const t = performance.now();
        const out = run(args);
        const e = times.get(k.kernelName) ?? { calls: 0, ms: 0 };
        e.ms += performance.now() - t;
        e.calls++;
        times.set(k.kernelName, e);
        return out;
      },
    });
  }
  return {
    times,
    restore: () => {
      for (const k of originals) {
        tf.unregisterKernel(k.kernelName, backendName);
        tf.registerKernel(k);
      }
    },
  };
}

/** CSV rows for `times` over `per` units (steps), largest first, and the rest of `totalMs`. */
function kernelRows(section: string, times: Map<string, KernelTime>, per: number, totalMs: number): number {
  let sum = 0;
  for (const [name, t] of [...times].sort((a, b) => b[1].ms - a[1].ms)) {
    sum += t.ms;
    if (t.ms / per < 0.05) continue;
    console.log(
      `ours,${section},${name},${(t.calls / per).toFixed(1)},${(t.ms / per).toFixed(2)},${
        (t.ms / totalMs).toFixed(3)
      }`,
    );
  }
  console.log(
    `ours,${section},(outside kernels: engine and JS),,${((totalMs - sum) / per).toFixed(2)},${
      ((totalMs - sum) / totalMs).toFixed(3)
    }`,
  );
  return sum;
}

async function profileStep(o: Options): Promise<number> {
  const model = new ResNet20({ seed: 0 });
  const sgd = new Sgd(model.trainable(), { lr: 0.1 });
  const n = o.batchSize;
  const x = Float32Array.from({ length: n * 32 * 32 * 3 }, () => Math.random() * 2 - 1);
  const y = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 10));
  const runner = createStepRunner(model, sgd, { compiled: false });
  const { times, restore } = timeKernels(tf.getBackend());
  try {
    for (let i = 0; i < o.warmup; i++) runner.step(x, y);
    await runner.totals();
    times.clear();
    const t = performance.now();
    for (let i = 0; i < o.steps; i++) runner.step(x, y);
    await runner.totals();
    const ms = performance.now() - t;
    kernelRows("step", times, o.steps, ms);
    console.log(`ours,step,(step wall time),,${(ms / o.steps).toFixed(1)},1`);
    return ms / o.steps;
  } finally {
    restore();
    runner.dispose();
    sgd.dispose();
    model.dispose();
  }
}

async function profileEpoch(o: Options): Promise<number> {
  const dir = resolveCifarDir(o.dataDir);
  const { train } = await loadCifar10(dir, { limitTrain: 50000, limitTest: 0, download: false });
  const images = Math.min(o.epochImages, train.count);
  const subset = { ...train, count: images };
  const model = new ResNet20({ seed: 0 });
  const sgd = new Sgd(model.trainable(), { lr: 0.1 });
  const runner = createStepRunner(model, sgd, { compiled: false });
  const timings: EpochTimings = { batchMs: 0, stepMs: 0, readMs: 0 };
  const { times, restore } = timeKernels(tf.getBackend());
  try {
    const r = await trainEpoch(model, sgd, subset, new Rng(0), {
      batchSize: o.batchSize,
      runner,
      timings,
      onProgress: () => {},
    });
    const steps = Math.ceil(images / o.batchSize), total = r.seconds * 1000;
    for (const [name, ms] of Object.entries(timings)) {
      console.log(
        `ours,epoch,${name.replace("Ms", "")},1,${(ms / steps).toFixed(2)},${(ms / total).toFixed(3)}`,
      );
    }
    kernelRows("epoch kernels", times, steps, timings.stepMs + timings.readMs);
    console.log(`ours,epoch,(images per second),,${(images / r.seconds).toFixed(1)},`);
    return images / r.seconds;
  } finally {
    restore();
    runner.dispose();
    sgd.dispose();
    model.dispose();
  }
}

/** bench/torch_profile.py's rows, prefixed `pytorch`; null when it cannot run. */
async function torchProfile(o: Options): Promise<string[] | null> {
  const script = join(new URL(".", import.meta.url).pathname, "torch_profile.py");
  const args = [script, "--reference", o.reference, "--steps", String(o.steps), "--warmup", String(o.warmup)];
  args.push("--batch-size", String(o.batchSize));
  if (o.epochImages) {
    args.push("--epoch-images", String(o.epochImages), "--data-dir", resolveCifarDir(o.dataDir));
  }
  try {
    const out = await new Deno.Command(o.python, { args, stderr: "piped" }).output();
    if (!out.success) {
      console.error(
        `profile: ${script} failed: ${new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)}`,
      );
      return null;
    }
    return new TextDecoder().decode(out.stdout).trim().split("\n").slice(1);
  } catch (e) {
    console.error(`profile: cannot run ${o.python} (${(e as Error).message}); no PyTorch profile`);
    return null;
  }
}

async function main(): Promise<void> {
  const { values: o } = cli.parse(Deno.args);
  if (o.help) return console.log(cli.help());
  const info = await selectBackend(o.backend ?? "native");
  console.error(`profile: ${info.backend} on ${info.device}`);
  console.log("who,section,name,calls_per_step,ms_per_step,share");
  const stepMs = await profileStep(o);
  const rate = o.epochImages ? await profileEpoch(o) : null;
  const ref = o.noReference ? null : await torchProfile(o);
  for (const row of ref ?? []) {
    const parts = row.split(",");
    const [section, calls, ms, name] = [parts[0], parts.at(-2), parts.at(-1), parts.slice(1, -2).join(",")];
    console.log(`pytorch,${section},"${name}",${calls},${ms},`);
  }
  const torchStep = ref?.find((r) => r.includes("without the profiler"))?.split(",").at(-1);
  const torchRate = ref?.find((r) => r.startsWith("epoch,(images"))?.split(",").at(-1);
  console.error(
    `profile: step ${stepMs.toFixed(1)} ms` + (torchStep ? ` (PyTorch ${torchStep} ms)` : "") +
      (rate ? `; epoch ${rate.toFixed(1)} img/s` + (torchRate ? ` (PyTorch ${torchRate} img/s)` : "") : ""),
  );
}

export { cli };

if (import.meta.main) await runMain(main);

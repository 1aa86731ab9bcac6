/**
 * Benchmarks: training-step throughput of the project's backends beside the
 * PyTorch reference measured in the same run (the machines are noisy, so
 * only same-run ratios mean anything).
 *
 *   deno task bench                        # both labs, every usable backend
 *   deno task bench --lab exp1             # Lab 1's MLP: steps/s vs pytorch_fit.py
 *   deno task bench --lab exp2 --backend webgpu   # on a GPU machine
 *
 * What is timed:
 * - exp1: `fitFunction` with `--samples 1000 --batch-size 100 --hidden 64,64
 *   --optimizer adam --lr 0.01` (10 steps an epoch), after one warm-up
 *   epoch; evaluation excluded; PyTorch: `pytorch_fit.py` with the same flags
 *   (1 thread, its default), its own steps/s figure.
 * - exp2: ResNet20 training steps (forward, backward, SGD with momentum and
 *   weight decay) at batch 128 on random data, warm-up steps excluded, the
 *   last step's loss read back so queued GPU work is inside the timing;
 *   PyTorch: `pytorch_resnet20.py bench` (all cores).
 *
 * Prints CSV on stdout and ratios on stderr.
 *
 * @module
 */
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { compileExpr, DEFAULT_FN } from "../lib/data/expr.ts";
import { drawAugmentParams, labelsOf, makeBatch, planBatch } from "../lib/data/batches.ts";
import { Rng } from "../lib/data/rng.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import {
  type BackendChoice,
  type BackendInfo,
  BACKENDS,
  probeWebGpu,
  selectBackend,
} from "../lib/runtime/backend.ts";
import { choiceFlag, defineFlags, flag, type FlagValues, UsageError } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { FIT_DEFAULTS } from "../lib/train/defaults.ts";
import { fitFunction } from "../lib/train/fit_function.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { CompiledStepRunner, createStepRunner, trainStep } from "../lib/train/train_epoch.ts";
import { countGpuCalls } from "../lib/webgpu/gpu_calls.ts";
import { hostOnlyStep, type HostStep, type StepModules } from "./webgpu_step.ts";
import { median } from "./stats.ts";

const cli = defineFlags("deno task bench [flags]", {
  lab: flag.choice("which lab's training step", ["exp1", "exp2", "all"] as const, { default: "all" }),
  backend: flag.custom(
    "comma-separated backends",
    (text, name) => text.split(",").map((b) => choiceFlag(name, b.trim(), BACKENDS)),
    {
      placeholder: "LIST",
      defaultText: "native,wasm,cpu for exp1; native for exp2, plus webgpu where a hardware GPU exists",
    },
  ),
  steps: flag.int("timed ResNet20 steps", { default: 10, min: 1, max: 10000 }),
  warmup: flag.int("untimed ResNet20 steps first", { default: 3, min: 0, max: 10000 }),
  "batch-size": flag.int("ResNet20 batch", { default: 128, min: 1, max: 4096 }),
  epochs: flag.int("timed Lab 1 epochs of 10 steps", { default: 100, min: 1, max: 1e6 }),
  reference: flag.string("folder of pytorch_fit.py and pytorch_resnet20.py", {
    default: "../shared/reference",
    placeholder: "DIR",
  }),
  python: flag.string("Python with PyTorch", { default: "/usr/bin/python3", placeholder: "PATH" }),
  "torch-device": flag.string(
    "run the PyTorch ResNet20 reference on D (e.g. cuda) with bench/torch_bench.py instead of the reference's CPU-only bench",
    { placeholder: "D" },
  ),
  "no-reference": flag.boolean("skip PyTorch"),
  "host-only": flag.boolean(
    "exp2 on webgpu: only the host-path figures (calls per step, host-only step time), no timed GPU steps",
  ),
  eager: flag.boolean("exp2: run steps op by op even where the backend compiles them (WebGPU)"),
  profile: flag.boolean(
    "exp2 on webgpu: also the GPU time of each kernel over one compiled step (top 15; needs timestamp-query)",
  ),
  "conv-input-grad": flag.choice(
    "exp2 on webgpu: tfjs's kernel for a convolution's input gradient: naive (its default) or mm (its tiled " +
      "matrix-multiply variant; as exact, 1.6x slower on lavapipe, untried on a GPU)",
    ["naive", "mm"] as const,
    { default: "naive" },
  ),
  baseline: flag.string(
    "a git worktree of an earlier commit: its WebGPU host-only step is measured in the same run, for the ratio",
    { placeholder: "DIR" },
  ),
}, {
  description: "Training-step throughput beside the PyTorch reference measured in the same run.",
  examples: [
    "deno task bench --lab exp1",
    "deno task bench --lab exp2 --backend webgpu",
    "git worktree add /tmp/base HEAD~1 && deno task bench --lab exp2 --backend webgpu --host-only --baseline /tmp/base",
  ],
});

type Options = FlagValues<typeof cli.table>;

/** Runs a reference script and returns its last CSV line as an object. */
async function pytorch(o: Options, script: string, args: string[]): Promise<Record<string, string> | null> {
  if (o.noReference) return null;
  const path = join(o.reference, script);
  try {
    const out = await new Deno.Command(o.python, { args: [path, ...args], stderr: "piped" }).output();
    if (!out.success) {
      console.error(
        `bench: ${path} failed: ${new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)}`,
      );
      return null;
    }
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const [header, row] = [lines.at(-2)!.split(","), lines.at(-1)!.split(",")];
    return Object.fromEntries(header.map((h, i) => [h, row[i]]));
  } catch (e) {
    console.error(`bench: cannot run ${o.python} ${path} (${(e as Error).message}); no reference`);
    return null;
  }
}

/** Starts backend `b`, or says why it is skipped and returns null. */
async function tryBackend(lab: string, b: BackendChoice): Promise<BackendInfo | null> {
  try {
    return await selectBackend(b);
  } catch (e) {
    console.error(`bench ${lab}: ${b} skipped: ${(e as Error).message}`);
    return null;
  }
}

async function benchExp1(o: Options): Promise<void> {
  const backends = o.backend ?? ["native", "wasm", "cpu"];
  console.log("lab,backend,device,batch_size,steps,seconds,steps_per_second");
  const fn = compileExpr(DEFAULT_FN);
  const f = (x: number) => fn.evaluate(x);
  const rates: [string, number][] = [];
  for (const b of backends) {
    const info = await tryBackend("exp1", b);
    if (!info) continue;
    (await fitFunction(f, { ...FIT_DEFAULTS, epochs: 1 })).model.dispose(); // warm-up
    const { model, result } = await fitFunction(f, { ...FIT_DEFAULTS, epochs: o.epochs });
    model.dispose();
    const rate = result.steps / result.seconds;
    rates.push([info.backend, rate]);
    console.log(
      `exp1,${info.backend},"${info.device}",100,${result.steps},${result.seconds.toFixed(2)},${
        rate.toFixed(1)
      }`,
    );
  }
  const ref = await pytorch(o, "pytorch_fit.py", [
    "--epochs",
    String(o.epochs),
    "--lr",
    "0.01",
    "--samples",
    "1000",
    "--batch-size",
    "100",
    "--hidden",
    "64,64",
    "--optimizer",
    "adam",
  ]);
  if (ref) {
    const refRate = Number(ref.steps_per_second);
    console.log(`exp1,${ref.framework},"cpu (1 thread)",100,,${ref.seconds},${refRate}`);
    for (const [b, r] of rates) {
      console.error(
        `bench exp1: ${b} ${r.toFixed(0)} steps/s = ${(r / refRate).toFixed(2)}x PyTorch (${refRate})`,
      );
    }
  }
}

async function benchExp2(o: Options): Promise<void> {
  let backends: BackendChoice[] | undefined = o.backend;
  if (!backends) {
    backends = ["native"];
    const gpu = await probeWebGpu();
    if (gpu && !gpu.software) backends.unshift("webgpu");
    console.error(
      "bench exp2: cpu and wasm are left out by default (cpu: one conv backward takes ~49 s; " +
        "wasm: no Conv2DBackpropFilter kernel); name them with --backend to try",
    );
  }
  if (backends.includes("webgpu")) await benchWebGpuHost(o);
  if (o.hostOnly) backends = backends.filter((b) => b !== "webgpu");
  if (backends.length === 0) return;
  console.log("backend,device,step,batch_size,step_ms,images_per_second");
  const rates: [string, number][] = [];
  for (const b of backends) {
    const info = await tryBackend("exp2", b);
    if (!info) continue;
    // Read by tfjs's webgpu Conv2DBackpropInput at every call (registered with that backend).
    if (info.backend === "webgpu") {
      tf.env().set("WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE", o.convInputGrad === "naive");
    }
    const model = new ResNet20({ seed: 0 });
    const sgd = new Sgd(model.trainable(), { lr: 0.1 });
    const n = o.batchSize;
    const x = Float32Array.from({ length: n * 32 * 32 * 3 }, () => Math.random() * 2 - 1);
    const y = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 10));
    // Compiled where the backend compiles steps (WebGPU), unless --eager; then, as exp2 trains, on
    // batches built on the GPU from images held there (8 batches' worth, fresh crops each step).
    const runner = createStepRunner(model, sgd, { compiled: !o.eager });
    const split = {
      images: Uint8Array.from({ length: 8 * n * 3072 }, () => Math.floor(Math.random() * 256)),
      labels: new Uint8Array(8 * n),
      count: 8 * n,
    };
    const deviceStep = runner.deviceStep?.(split) ?? null;
    const rng = new Rng(0);
    const step = (i: number) => {
      if (!deviceStep) return runner.step(x, y);
      const indices = Int32Array.from({ length: n }, (_, k) => ((i % 8) * n + k));
      deviceStep(indices, drawAugmentParams(n, rng), y);
    };
    const run = async (steps: number) => {
      runner.reset();
      for (let i = 0; i < steps; i++) step(i);
      // One read at the end: queued GPU work is inside the timing.
      return (await runner.totals()).loss / (steps * n);
    };
    try {
      await run(o.warmup);
      const t = performance.now();
      const loss = await run(o.steps);
      const ms = (performance.now() - t) / o.steps;
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss}`);
      rates.push([info.backend, n / ms * 1000]);
      if (o.profile && runner instanceof CompiledStepRunner) await printProfile(runner, n);
      const kind = (runner instanceof CompiledStepRunner
        ? (deviceStep ? "compiled" : "compiled-host-batches")
        : "eager") + (info.backend === "webgpu" && o.convInputGrad === "mm" ? "+mm-input-grad" : "");
      console.log(
        `${info.backend},"${info.device}",${kind},${n},${ms.toFixed(1)},${(n / ms * 1000).toFixed(1)}`,
      );
    } finally {
      runner.dispose();
      sgd.dispose();
      model.dispose();
    }
  }
  const common = [
    "--batch-size",
    String(o.batchSize),
    "--steps",
    String(o.steps),
    "--warmup",
    String(o.warmup),
  ];
  const ref = o.torchDevice
    ? await pytorch(
      { ...o, reference: new URL(".", import.meta.url).pathname },
      "torch_bench.py",
      ["--device", o.torchDevice, "--reference", o.reference, ...common],
    )
    : await pytorch(o, "pytorch_resnet20.py", ["bench", ...common]);
  if (ref) {
    const refRate = Number(ref.images_per_second);
    console.log(
      `${ref.framework},"${ref.threads} threads",eager,${ref.batch_size},${ref.step_ms},${refRate}`,
    );
    for (const [b, r] of rates) {
      console.error(
        `bench exp2: ${b} ${r.toFixed(1)} img/s = ${(r / refRate).toFixed(2)}x PyTorch (${refRate} img/s)`,
      );
    }
  }
}

/**
 * The host-only step of `tree` (`compiled`: recorded once, replayed): in
 * this process for this tree; for another tree, bench/webgpu_step.ts copied
 * there and run with its deno.json.
 */
async function hostStep(o: Options, tree: string, compiled = false, deviceBatches = true): Promise<HostStep> {
  const steps = Math.max(3, o.steps);
  const here = new URL(".", import.meta.url).pathname;
  if (tree === join(here, "..")) {
    const counter = countGpuCalls();
    if (!counter) throw new Error("this runtime has no WebGPU");
    const modules = { selectBackend, ResNet20, Sgd, trainStep, createStepRunner } as StepModules;
    return await hostOnlyStep(counter, modules, o.batchSize, steps, compiled, deviceBatches);
  }
  const script = join(tree, `.bench_webgpu_step_${Deno.pid}.ts`);
  await Deno.copyFile(join(here, "webgpu_step.ts"), script);
  try {
    const counterModule = join(here, "../lib/webgpu/gpu_calls.ts");
    const args = [
      script,
      tree,
      counterModule,
      String(o.batchSize),
      String(steps),
      compiled ? "compiled" : "eager",
    ];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", "--config", join(tree, "deno.json"), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
      throw new Error(
        `host-only step in ${tree} failed: ${lines.findLast((l) => l.includes("rror")) ?? out.code}`,
      );
    }
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!) as HostStep;
  } finally {
    await Deno.remove(script).catch(() => {});
  }
}

/**
 * The WebGPU host path per ResNet20 training step in steady state: calls and
 * host-only time (every dispatch emptied), op by op, compiled with the
 * batches built on the GPU (as exp2 runs), and compiled with host-built
 * batches uploaded, for this tree; and op by op for `--baseline`.
 */
async function benchWebGpuHost(o: Options): Promise<void> {
  const repo = join(new URL(".", import.meta.url).pathname, "..");
  const runs: { name: string; tree: string; compiled: boolean; deviceBatches: boolean }[] = [
    { name: "eager", tree: repo, compiled: false, deviceBatches: false },
    { name: "compiled", tree: repo, compiled: true, deviceBatches: true },
    { name: "compiled+host-batches", tree: repo, compiled: true, deviceBatches: false },
  ];
  if (o.baseline) runs.push({ name: "baseline", tree: o.baseline, compiled: false, deviceBatches: false });
  console.log(
    "tree,step,batch_size,host_only_ms,dispatches,write_buffers,create_buffers,bind_groups,submits,read_backs",
  );
  const ms = new Map<string, number>();
  for (const run of runs) {
    const r = await hostStep(o, run.tree, run.compiled, run.deviceBatches);
    const m = median(r.hostOnlyMs);
    ms.set(run.name, m);
    const c = r.calls;
    const step = !run.compiled
      ? "eager"
      : r.deviceBatches
      ? "compiled (device batches)"
      : "compiled (host batches)";
    console.log(
      `"${run.tree}",${step},${r.batch},${m.toFixed(2)},${c.dispatch},${c.writeBuffer},` +
        `${c.createBuffer},${c.createBindGroup},${c.submit},${c.mapAsync}`,
    );
  }
  const eager = ms.get("eager")!, baseline = ms.get("baseline");
  const ratio = (x: number) => (x / (baseline ?? eager)).toFixed(3);
  const against = baseline === undefined ? `this tree's eager ${eager.toFixed(1)} ms` : (
    `the baseline's eager ${baseline.toFixed(1)} ms (${o.baseline}); this tree's eager ${
      eager.toFixed(1)
    } ms = ` +
    `${ratio(eager)}x`
  );
  const compiled = ms.get("compiled")!, hostBatches = ms.get("compiled+host-batches")!;
  console.error(
    `bench exp2: webgpu host-only step: compiled ${compiled.toFixed(2)} ms = ${ratio(compiled)}x, ` +
      `with host batches ${hostBatches.toFixed(2)} ms = ${ratio(hostBatches)}x, against ${against}`,
  );
  const prep = batchAssembly(o.batchSize);
  console.error(
    `bench exp2: assembling a batch on the host (labels, crops, and for host batches the floats): ` +
      `device batches ${prep.device.toFixed(3)} ms, host batches ${prep.host.toFixed(3)} ms; ` +
      `with the step: compiled ${(compiled + prep.device).toFixed(2)} ms, ` +
      `with host batches ${(hostBatches + prep.host).toFixed(2)} ms`,
  );
}

/**
 * The host's batch work a step of trainEpoch does besides the step, in
 * milliseconds (median of 5 rounds of 50 batches from a 50,000-image
 * split): the labels and crops, plus the plan for a batch built on the
 * device, or plus the normalised floats (`makeBatch`) for one built here.
 */
function batchAssembly(batch: number): { host: number; device: number } {
  const count = 50_000;
  const split = {
    // The values do not change the work (a table lookup each); filled, so every page is real memory.
    images: new Uint8Array(count * 3072).fill(7),
    labels: new Uint8Array(count),
    count,
  };
  const rng = new Rng(0);
  const order = rng.permutation(count);
  const floats = new Float32Array(batch * 3072), plan = new Int32Array(4 * batch);
  const time = (assemble: (idx: Int32Array) => void) => {
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t = performance.now();
      for (let b = 0; b < 50; b++) {
        const at = ((r * 50 + b) * batch) % (count - batch);
        const idx = order.subarray(at, at + batch);
        labelsOf(split, idx);
        assemble(idx);
      }
      rounds.push((performance.now() - t) / 50);
    }
    return median(rounds);
  };
  return {
    host: time((idx) => makeBatch(split, idx, { augment: true, rng, out: floats })),
    device: time((idx) => planBatch(split, idx, { params: drawAugmentParams(idx.length, rng), out: plan })),
  };
}

/** The GPU time per kernel of one compiled step, top 15, as CSV on stdout. */
async function printProfile(runner: CompiledStepRunner, batch: number): Promise<void> {
  const times = await runner.profile(batch)?.catch((e: Error) => {
    console.error(`bench exp2: no kernel profile: ${e.message}`);
    return undefined;
  });
  if (!times) return;
  const total = times.reduce((s, t) => s + t.ms, 0);
  console.log("kernel,dispatches,gpu_ms,share");
  for (const t of times.slice(0, 15)) {
    console.log(`${t.kernel},${t.count},${t.ms.toFixed(3)},${(t.ms / total).toFixed(3)}`);
  }
  console.error(
    `bench exp2: one compiled step spends ${total.toFixed(2)} ms on the GPU over ${times.length} kernels`,
  );
}

async function main(): Promise<void> {
  const { values: o } = cli.parse(Deno.args);
  if (o.help) return console.log(cli.help());
  if (o.lab === "all" && o.backend) throw new UsageError(`--backend needs --lab exp1 or --lab exp2`);
  if (o.lab !== "exp2") await benchExp1(o);
  if (o.lab !== "exp1") await benchExp2(o);
}

export { cli };

if (import.meta.main) await runMain(main);

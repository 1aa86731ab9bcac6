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
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import {
  type BackendChoice,
  type BackendInfo,
  BACKENDS,
  probeWebGpu,
  selectBackend,
} from "../lib/runtime/backend.ts";
import { choiceFlag, numberFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { compileExpr, DEFAULT_FN } from "../lib/data/expr.ts";
import { FIT_DEFAULTS, fitFunction } from "../lib/train/fit_function.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { trainStep } from "../lib/train/train_epoch.ts";

const HELP = `Usage: deno task bench [flags]

  --lab NAME        exp1 | exp2 | all (default all)
  --backend LIST    comma-separated backends (default: native,wasm,cpu for exp1;
                    native for exp2, plus webgpu where a hardware GPU exists)
  --steps N         timed ResNet20 steps (default 10)
  --warmup N        untimed ResNet20 steps first (default 3)
  --batch-size N    ResNet20 batch (default 128)
  --epochs N        timed Lab 1 epochs of 10 steps (default 100)
  --reference DIR   folder of pytorch_fit.py and pytorch_resnet20.py (default ../shared/reference)
  --python PATH     Python with PyTorch (default /usr/bin/python3)
  --torch-device D  run the PyTorch ResNet20 reference on D (e.g. cuda) with
                    bench/torch_bench.py instead of the reference's CPU-only bench
  --no-reference    skip PyTorch
`;

interface Options {
  lab: "exp1" | "exp2" | "all";
  backends: BackendChoice[] | null;
  steps: number;
  warmup: number;
  batchSize: number;
  epochs: number;
  reference: string;
  python: string;
  noReference: boolean;
  torchDevice: string | null;
}

function parse(args: string[]): Options | null {
  const { values: v } = parseFlags(args, {
    lab: { type: "string" },
    backend: { type: "string" },
    steps: { type: "string" },
    warmup: { type: "string" },
    "batch-size": { type: "string" },
    epochs: { type: "string" },
    reference: { type: "string" },
    python: { type: "string" },
    "no-reference": { type: "boolean" },
    "torch-device": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return null;
  return {
    lab: v.lab !== undefined ? choiceFlag("lab", v.lab, ["exp1", "exp2", "all"] as const) : "all",
    backends: v.backend ? v.backend.split(",").map((b) => choiceFlag("backend", b.trim(), BACKENDS)) : null,
    steps: v.steps ? numberFlag("steps", v.steps, { integer: true, min: 1 }) : 10,
    warmup: v.warmup ? numberFlag("warmup", v.warmup, { integer: true, min: 0 }) : 3,
    batchSize: v["batch-size"] ? numberFlag("batch-size", v["batch-size"], { integer: true, min: 1 }) : 128,
    epochs: v.epochs ? numberFlag("epochs", v.epochs, { integer: true, min: 1 }) : 100,
    reference: v.reference ?? "../shared/reference",
    python: v.python ?? "/usr/bin/python3",
    noReference: v["no-reference"] ?? false,
    torchDevice: v["torch-device"] ?? null,
  };
}

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
  const backends = o.backends ?? ["native", "wasm", "cpu"];
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
  let backends = o.backends;
  if (!backends) {
    backends = ["native"];
    const gpu = await probeWebGpu();
    if (gpu && !gpu.software) backends.unshift("webgpu");
    console.error(
      "bench exp2: cpu and wasm are left out by default (cpu: one conv backward takes ~49 s; " +
        "wasm: no Conv2DBackpropFilter kernel); name them with --backend to try",
    );
  }
  console.log("backend,device,batch_size,step_ms,images_per_second");
  const rates: [string, number][] = [];
  for (const b of backends) {
    const info = await tryBackend("exp2", b);
    if (!info) continue;
    const model = new ResNet20({ seed: 0 });
    const sgd = new Sgd(model.trainable(), { lr: 0.1 });
    const n = o.batchSize;
    const x = Float32Array.from({ length: n * 32 * 32 * 3 }, () => Math.random() * 2 - 1);
    const y = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 10));
    const vars = [...model.trainable().values()];
    const run = async (steps: number) => {
      let last = 0;
      for (let i = 0; i < steps; i++) {
        const [loss, correct] = trainStep(model, sgd, x, y, vars);
        if (i === steps - 1) last = (await loss.data())[0];
        tf.dispose([loss, correct]);
      }
      return last;
    };
    try {
      await run(o.warmup);
      const t = performance.now();
      const loss = await run(o.steps);
      const ms = (performance.now() - t) / o.steps;
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss}`);
      rates.push([info.backend, n / ms * 1000]);
      console.log(`${info.backend},"${info.device}",${n},${ms.toFixed(1)},${(n / ms * 1000).toFixed(1)}`);
    } finally {
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
    console.log(`${ref.framework},"${ref.threads} threads",${ref.batch_size},${ref.step_ms},${refRate}`);
    for (const [b, r] of rates) {
      console.error(
        `bench exp2: ${b} ${r.toFixed(1)} img/s = ${(r / refRate).toFixed(2)}x PyTorch (${refRate} img/s)`,
      );
    }
  }
}

async function main(): Promise<void> {
  const o = parse(Deno.args);
  if (!o) return console.log(HELP);
  if (o.lab === "all" && o.backends) throw new UsageError(`--backend needs --lab exp1 or --lab exp2`);
  if (o.lab !== "exp2") await benchExp1(o);
  if (o.lab !== "exp1") await benchExp2(o);
}

if (import.meta.main) await runMain(main);

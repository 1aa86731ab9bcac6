/**
 * Lab 2: train ResNet20 on the 50,000 CIFAR-10 training images with the
 * lab's staged schedule (LR 0.1 for 5 epochs, then 0.01 for 5), from epoch 1
 * to the end with no manual step, reporting train and test accuracy every
 * epoch (`--help` lists the flags).
 *
 * Writes into `--out`: run.json, metrics.csv (one row per epoch),
 * steps.csv (while training), accuracy.svg, checkpoints/epoch-NNN.safetensors
 * (full state, after every epoch, written atomically), final.pth (the
 * hand-in: `torch.load(p)['net']`, with `acc` and `epoch`), final.safetensors
 * (the same weights), and the final model's per_class.csv and confusion.csv
 * on the test set. Ctrl-C stops cleanly and prints how to continue.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { CLASS_NAMES } from "../lib/data/cifar.ts";
import {
  CIFAR_TARBALL_BYTES,
  type CifarProgress,
  DEFAULT_CIFAR_DIR,
  loadCifar10,
  resolveCifarDir,
} from "../lib/data/cifar_files.ts";
import { Rng } from "../lib/data/rng.ts";
import { encodeCheckpoint, type MetricsRow } from "../lib/formats/checkpoint.ts";
import { decodeCifarPython } from "../lib/formats/cifar_python.ts";
import { handInPth } from "../lib/formats/hand_in_pth.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import type { StateDict } from "../lib/formats/state_dict.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { accuracyChart } from "../lib/report/accuracy_chart.ts";
import { epochMetrics, INHERITED_COLUMN, METRICS_COLUMNS } from "../lib/report/columns.ts";
import { confusionCsvs } from "../lib/report/confusion.ts";
import { type Row, toCsv } from "../lib/report/csv.ts";
import { StepLog } from "../lib/report/step_log.ts";
import { startWatchInWorker } from "../lib/report/watch_worker.ts";
import { type BackendChoice, selectBackend, slowBackendNotice } from "../lib/runtime/backend.ts";
import { displayPath, shellQuote, userPath } from "../lib/runtime/env.ts";
import { exists, removeStaleTemps, writeFileAtomic, writeJsonAtomic } from "../lib/runtime/files.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { quote } from "../lib/runtime/quote.ts";
import { untilInterrupted, watchInterrupts } from "../lib/runtime/interrupt.ts";
import { runMain } from "../lib/runtime/main.ts";
import { clock, Progress } from "../lib/runtime/progress.ts";
import { continuedRunInfo, runInfo } from "../lib/runtime/run_info.ts";
import {
  backendFlag,
  batchSizeFlag,
  outFlag,
  seedFlag,
  timeStamp,
  watchFlags,
  watchRequest,
} from "../lib/runtime/shared_flags.ts";
import { LAB2_DEFAULTS } from "../lib/train/defaults.ts";
import { DivergedError, firstNonFinite } from "../lib/train/divergence.ts";
import { checkpointName } from "../lib/train/resume.ts";
import { type Lab2Config, planLab2Run } from "../lib/train/run_plan.ts";
import { formatSchedule, lrAt, parseSchedule, type Stage, totalEpochs } from "../lib/train/schedule.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { createStepRunner, type EvalResult, Evaluator, trainEpoch } from "../lib/train/train_epoch.ts";
import { fitsOnDevice } from "../lib/train/device_batches.ts";
import { resnetTrainingProbe } from "../lib/train/probe.ts";
import { stepCompiler } from "../lib/ops/mod.ts";

const cli = defineFlags("deno task exp2 [flags]", {
  schedule: flag.custom("LR:EPOCHS stages, run from epoch 1 through every stage", parseScheduleFlag, {
    default: parseSchedule(LAB2_DEFAULTS.schedule),
    defaultText: LAB2_DEFAULTS.schedule,
    placeholder: "S",
  }),
  "batch-size": batchSizeFlag(LAB2_DEFAULTS.batchSize, 4096, "images per SGD step"),
  seed: seedFlag(LAB2_DEFAULTS.seed),
  "data-dir": flag.path(
    "the CIFAR-10 files (binary, or torchvision's cifar-10-batches-py), or their parent",
    {
      placeholder: "DIR",
      defaultText: "$CIFAR10_DIR, else data/cifar-10-batches-bin",
    },
  ),
  download: flag.boolean("download CIFAR-10 (170 MB, md5-checked) into --data-dir when it has no files"),
  "limit-train": flag.int("use the first N training images (smoke runs)", { min: 1, max: 50000 }),
  "limit-test": flag.int("evaluate on the first N test images", { min: 1, max: 10000 }),
  backend: backendFlag(),
  out: outFlag("runs/exp2-<time>"),
  resume: flag.string(
    "continue a run: auto, its latest checkpoint in --out (or the one unfinished run under runs/); " +
      "or FILE, a checkpoint",
    { placeholder: "auto|FILE" },
  ),
  init: flag.path("start from weights (.safetensors or PyTorch .pth); epochs they record continue", {
    placeholder: "FILE",
  }),
  ...watchFlags(),
  eager: flag.boolean(
    "run every step op by op through tfjs, even where the backend compiles steps (WebGPU): for comparison",
  ),
}, {
  description: "Lab 2: ResNet20 on CIFAR-10, train and test accuracy every epoch.",
  examples: [
    "deno task exp2 --limit-train 2000 --limit-test 500 --schedule 0.1:1,0.01:1   # a one-minute smoke run",
    "deno task exp2                                   # the lab's full recipe",
    "deno task exp2 --resume auto                     # continue the run that stopped",
    "deno task exp2 --init weights/resnet20-stage1.safetensors --schedule 0.01:5   # epochs 6-10",
  ],
});

function parseScheduleFlag(text: string, name: string): Stage[] {
  try {
    return parseSchedule(text);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
}

/** Config keys set by flags of the same name. */
const FLAG_KEYS: Record<string, keyof Lab2Config> = {
  schedule: "schedule",
  "batch-size": "batchSize",
  seed: "seed",
  "data-dir": "dataDir",
  "limit-train": "limitTrain",
  "limit-test": "limitTest",
  init: "init",
  backend: "backend",
};

function resolveRequest(args: string[]) {
  const { values: v, given } = cli.parse(args);
  if (v.resume !== undefined && v.init !== undefined) {
    throw new UsageError(`--resume and --init exclude each other: a checkpoint already holds the weights`);
  }
  if (v.backend === "wasm") {
    throw new UsageError(
      `--backend "wasm" cannot train ResNet20: tfjs's wasm backend has no Conv2DBackpropFilter kernel ` +
        `(the convolutions' weight gradient); use native, cpu or webgpu`,
    );
  }
  const watch = watchRequest(v);
  const config: Lab2Config = {
    schedule: formatSchedule(v.schedule),
    batchSize: v.batchSize,
    seed: v.seed,
    dataDir: resolveCifarDir(v.dataDir),
    limitTrain: v.limitTrain ?? null,
    limitTest: v.limitTest ?? null,
    momentum: LAB2_DEFAULTS.momentum,
    weightDecay: LAB2_DEFAULTS.weightDecay,
    backend: v.backend,
    out: v.out ?? "",
    resume: v.resume === undefined ? null : v.resume === "auto" ? "auto" : userPath(v.resume),
    init: v.init ?? null,
    inherited: 0,
  };
  return {
    request: {
      config,
      given: new Set([...given].map((f) => FLAG_KEYS[f]).filter(Boolean)),
      out: v.out ?? null,
      newOut: `runs/exp2-${timeStamp()}`,
    },
    download: v.download,
    watch,
    eager: v.eager,
    help: v.help,
  };
}

async function main(): Promise<void> {
  const { request, download, watch, eager, help } = resolveRequest(Deno.args);
  if (help) return console.log(cli.help());

  // Decide where training starts, and check every input, before writing anything.
  const plan = await planLab2Run(request);
  const { config, stages } = plan;
  const out = config.out;
  const epochs = totalEpochs(stages);
  for (const line of plan.notices) console.error(`exp2: ${line}`);
  const resumeCommand = `deno task exp2 --resume auto --out ${shellQuote(displayPath(out))}`;
  if (plan.start > epochs && await finished(out)) {
    console.error(
      `exp2: ${out} has already trained the ${epochs} epochs of its schedule ${quote(config.schedule)}: ` +
        `nothing to do (to train longer, give a longer --schedule that starts the same)`,
    );
    return;
  }

  // auto measures a few training steps on each candidate when a hardware GPU is present.
  const backend = await selectBackend(config.backend as BackendChoice, {
    probe: resnetTrainingProbe(config.batchSize, { compiled: !eager }),
  });
  console.error(`exp2: backend ${backend.backend} on ${backend.device} (${backend.reason})`);
  if (backend.slow) {
    // Said before the data loads: the estimate is from the images asked for.
    const images = Math.min(config.limitTrain ?? 50_000, 50_000);
    const steps = (epochs - plan.start + 1) * Math.ceil(images / config.batchSize);
    // Measured on a 2-core box: ~20 s per 128-image step on cpu, ~370 images/s on native.
    const cpu = steps * 20 * config.batchSize / 128;
    const native = steps * config.batchSize / 370;
    for (
      const line of slowBackendNotice(
        "exp2",
        `about ${clock(cpu)} for this run (native: about ${clock(native)})`,
      )
    ) {
      console.error(line);
    }
  }
  const data = await loadCifar10(config.dataDir, {
    limitTrain: config.limitTrain ?? undefined,
    limitTest: config.limitTest ?? undefined,
    download: download || config.dataDir === DEFAULT_CIFAR_DIR,
    downloadHint: `add --download to fetch the official archive (170 MB) into it`,
    onProgress: downloadProgress(),
    decodePython: decodeCifarPython,
  });
  console.error(
    `exp2: ${data.train.count} training and ${data.test.count} test images from ${data.dir}` +
      (data.format === "py" ? " (torchvision's python files)" : ""),
  );
  const model = new ResNet20({ seed: config.seed });
  const sgd = new Sgd(model.trainable(), {
    lr: stages[0].lr,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
  });
  let rng = new Rng(config.seed);
  const metrics: Row[] = [...plan.metrics];
  const start = plan.start;
  if (plan.checkpoint) {
    const { path, value } = plan.checkpoint;
    model.loadStateDict(value.model, path);
    sgd.loadState(value.optimizer, path);
    rng = Rng.fromState(value.rng);
    console.error(`exp2: resumed from ${path} after epoch ${value.epoch}`);
  } else if (plan.init) {
    model.loadStateDict(plan.init.state, config.init!);
    console.error(`exp2: initial weights from ${config.init} (${plan.init.note})`);
  }

  // From here on the run folder is written.
  for (const dir of [out, join(out, "checkpoints")]) {
    for (const name of await removeStaleTemps(dir)) {
      console.error(`exp2: removed ${join(dir, name)}, left by a kill`);
    }
  }
  const info = {
    ...runInfo("exp2", config, backend),
    parameters: model.parameterCount(),
    trainImages: data.train.count,
    testImages: data.test.count,
    startEpoch: start,
    // Steps recorded once and replayed (WebGPU), or run op by op.
    compiledStep: !eager && stepCompiler() !== undefined,
    // Compiled steps' batches built on the GPU from the images held there (the same batches).
    deviceBatches: !eager && stepCompiler() !== undefined && fitsOnDevice(data.train.count),
    status: "running",
  };
  const runJson = join(out, "run.json");
  const record = plan.continues ? continuedRunInfo(await readJson(runJson), info) : info;
  await writeJsonAtomic(runJson, record);
  console.error(`exp2: writing ${out}/; to continue it after a stop: ${resumeCommand}`);
  const columns = metrics.some((r) => r[INHERITED_COLUMN] !== undefined)
    ? [...METRICS_COLUMNS, INHERITED_COLUMN]
    : [...METRICS_COLUMNS];
  if (metrics.length) await writeMetrics(out, columns, metrics, stages);

  const log = await StepLog.open(join(out, "steps.csv"), plan.checkpoint ? { resumeEpoch: start } : {});
  const server = watch ? await startWatchInWorker([out], { port: watch.port }) : null;
  if (server) console.error(`exp2: watch the run at ${server.url}`);
  const stop = watchInterrupts({
    notice: `exp2: stopping after the current step (Ctrl-C again stops at once)`,
  });
  // Steps and evaluation passes recorded once and replayed where the backend compiles them (WebGPU).
  const runner = createStepRunner(model, sgd, { compiled: !eager });
  const evaluator = new Evaluator(model, { compiled: !eager });
  let lastTest: EvalResult | null = null;
  let done = start - 1;
  const stopped = (during: number) => () => {
    const kept = done >= 1 ? `${join(out, "checkpoints", checkpointName(done))} (epoch ${done})` : "none yet";
    return `exp2: stopped during epoch ${during}; last checkpoint: ${kept}.\n` +
      `exp2: continue with: ${resumeCommand}`;
  };
  try {
    // The CSV on stdout: header, the rows so far, then one row per epoch.
    console.log(toCsv(columns, metrics).trimEnd());
    const stepsPerEpoch = Math.ceil(data.train.count / config.batchSize);
    for (let epoch = start; epoch <= epochs; epoch++) {
      sgd.lr = lrAt(stages, epoch);
      const bar = new Progress(`epoch ${epoch}/${epochs}`, data.train.count, {
        unit: "img",
        stepSize: config.batchSize,
        run: { done: (epoch - start) * data.train.count, total: (epochs - start + 1) * data.train.count },
      });
      // steps.csv rows are means over the steps since the previous row: the running means differenced.
      let prev = { done: 0, loss: 0, correct: 0, at: performance.now() };
      const onProgress = (images: number, runningLoss: number, runningAcc: number) => {
        bar.update(images, `loss ${runningLoss.toFixed(4)}`);
        const now = performance.now();
        const [loss, correct] = [runningLoss * images, runningAcc * images];
        const n = images - prev.done;
        log.append({
          step: (epoch - 1) * stepsPerEpoch + Math.ceil(images / config.batchSize),
          epoch,
          lr: sgd.lr,
          loss: (loss - prev.loss) / n,
          acc: (correct - prev.correct) / n,
          imagesPerSecond: n / Math.max((now - prev.at) / 1000, 1e-9),
        });
        prev = { done: images, loss, correct, at: now };
        if (!Number.isFinite(runningLoss)) {
          throw new DivergedError(epoch, `the training loss is ${runningLoss}`);
        }
        stop.throwIfRequested(stopped(epoch));
      };
      const startedAt = performance.now();
      let train;
      try {
        train = await trainEpoch(model, sgd, data.train, rng, {
          batchSize: config.batchSize,
          progressEvery: 5,
          runner,
          onProgress,
        });
      } catch (e) {
        bar.done();
        if (!(e instanceof DivergedError)) throw e;
        const seconds = (performance.now() - startedAt) / 1000;
        const pass = {
          count: prev.done,
          seconds,
          loss: prev.done ? prev.loss / prev.done : NaN,
          acc: prev.done ? prev.correct / prev.done : NaN,
        };
        return await diverged(out, runJson, record, columns, metrics, stages, epoch, sgd.lr, pass, e);
      }
      bar.done();
      const test = await evaluator.evaluate(data.test);
      lastTest = test;
      const row: Row = epochMetrics(epoch, sgd.lr, train, test);
      const state = await model.stateDict();
      const momentum = await sgd.state();
      const bad = firstNonFinite(state) ?? firstNonFinite(momentum);
      if (!Number.isFinite(train.loss) || !Number.isFinite(test.loss) || bad) {
        const what = bad
          ? `weight ${bad.name} holds ${bad.value} at index ${bad.index}`
          : `the ${Number.isFinite(train.loss) ? "test" : "training"} loss is ${
            Number.isFinite(train.loss) ? test.loss : train.loss
          }`;
        const pass = { ...train, testLoss: bad ? NaN : test.loss, testAcc: bad ? NaN : test.acc };
        return await diverged(
          out,
          runJson,
          record,
          columns,
          metrics,
          stages,
          epoch,
          sgd.lr,
          pass,
          new DivergedError(epoch, what),
        );
      }
      metrics.push(row);
      // Checkpoint first: metrics.csv is rebuilt from it on resume.
      await writeFileAtomic(
        join(out, "checkpoints", checkpointName(epoch)),
        encodeCheckpoint(state, momentum, {
          epoch,
          rng: rng.state(),
          config: { ...config },
          metrics: metrics as unknown as MetricsRow[],
        }),
      );
      done = epoch;
      await writeMetrics(out, columns, metrics, stages);
      console.log(toCsv(columns, [row]).trimEnd().split("\n")[1]);
      stop.throwIfRequested(() =>
        `exp2: stopped after epoch ${epoch} (checkpoint ${
          join(out, "checkpoints", checkpointName(epoch))
        }).\n` +
        `exp2: continue with: ${resumeCommand}`
      );
    }
    log.close();

    const state = await model.stateDict();
    const final = lastTest ?? await evaluator.evaluate(data.test);
    const last = metrics.at(-1);
    const testAcc = Number(last?.test_acc ?? final.acc);
    await writeFileAtomic(join(out, "final.safetensors"), finalSafetensors(state, config, metrics));
    await writeFileAtomic(
      join(out, "final.pth"),
      // Here `epoch` counts the epochs done.
      handInPth(state, { acc: testAcc, epoch: metrics.length, schedule: config.schedule, metrics }),
    );
    const { perClass, confusion } = confusionCsvs(data.test.labels, final.predictions, CLASS_NAMES);
    await writeFileAtomic(join(out, "per_class.csv"), perClass);
    await writeFileAtomic(join(out, "confusion.csv"), confusion);
    await writeJsonAtomic(runJson, { ...record, status: "finished" });
    console.error(
      `exp2: test accuracy ${(100 * testAcc).toFixed(2)}% after epoch ${metrics.length}; wrote ` +
        `${join(out, "final.pth")} (the hand-in: torch.load(p)['net']) and final.safetensors`,
    );
  } finally {
    log.close();
    stop.dispose();
    evaluator.dispose();
    runner.dispose();
    if (server && !(watch?.stay)) await server.close();
  }
  sgd.dispose();
  model.dispose();
  tf.disposeVariables();
  if (server && watch?.stay) {
    console.error(`exp2: the run is over; serving ${server.url} until Ctrl-C`);
    await untilInterrupted();
    await server.close();
  }
}

/** Whether the run in `out` wrote its results (a no-op resume must not rewrite them). */
async function finished(out: string): Promise<boolean> {
  for (const f of ["final.safetensors", "final.pth", "per_class.csv", "confusion.csv"]) {
    if (!(await exists(join(out, f)))) return false;
  }
  return true;
}

/**
 * Ends a diverged run: its last row (losses not finite) in metrics.csv,
 * run.json marked, no checkpoint or weights for the epoch; exits 1.
 */
async function diverged(
  out: string,
  runJson: string,
  record: Record<string, unknown>,
  columns: string[],
  metrics: Row[],
  stages: Stage[],
  epoch: number,
  lr: number,
  pass: { count: number; seconds: number; loss: number; acc: number; testLoss?: number; testAcc?: number },
  error: DivergedError,
): Promise<void> {
  // The test pass's loss and accuracy where it ran, NaN where not; the row takes no more of it.
  const test = { loss: pass.testLoss ?? NaN, acc: pass.testAcc ?? NaN, count: 0, seconds: 0 };
  metrics.push(epochMetrics(epoch, lr, pass, test));
  await writeMetrics(out, columns, metrics, stages);
  await writeJsonAtomic(runJson, { ...record, status: "diverged", divergedEpoch: epoch });
  console.log(toCsv(columns, metrics.slice(-1)).trimEnd().split("\n")[1]);
  throw new Error(
    `${error.message} at LR ${lr}: the run stopped, marked diverged in ${join(out, "metrics.csv")} and ` +
      `run.json; no weights were written for it (lower the learning rate in --schedule)`,
  );
}

function finalSafetensors(state: StateDict, config: Lab2Config, metrics: Row[]): Uint8Array {
  return encodeSafetensors(state, {
    metadata: {
      format: "pt",
      model: "resnet20",
      // What a later --init continues from: the epochs done and their rows.
      epoch: String(metrics.length),
      epochs: String(metrics.length),
      schedule: config.schedule,
      test_acc: String(metrics.at(-1)?.test_acc ?? ""),
      metrics: JSON.stringify(metrics),
    },
  });
}

async function writeMetrics(out: string, columns: string[], metrics: Row[], stages: Stage[]): Promise<void> {
  await writeFileAtomic(join(out, "metrics.csv"), toCsv(columns, metrics));
  const rows = metrics.map((r) => ({
    epoch: Number(r.epoch),
    train_acc: Number(r.train_acc),
    test_acc: Number(r.test_acc),
  }));
  await writeFileAtomic(join(out, "accuracy.svg"), accuracyChart(rows, stages));
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

function downloadProgress(): (p: CifarProgress) => void {
  let bar: Progress | null = null;
  return (p) => {
    if (p.stage === "write") return console.error(`exp2: wrote ${p.file}`);
    const total = (p.total ?? CIFAR_TARBALL_BYTES) / 1e6;
    bar ??= new Progress("download CIFAR-10", Number(total.toFixed(1)), { unit: "MB", intervalMs: 5000 });
    bar.update(Number((p.loaded / 1e6).toFixed(1)));
  };
}

export { cli };

if (import.meta.main) await runMain(main);

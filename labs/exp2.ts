/**
 * Lab 2: train ResNet20 on the 50,000 CIFAR-10 training images with the
 * lab's staged schedule (LR 0.1 for 5 epochs, then 0.01 for 5), from epoch 1
 * to the end with no manual step, reporting train and test accuracy every
 * epoch.
 *
 *   deno task exp2                                   # the lab's full recipe
 *   deno task exp2 --limit-train 512 --limit-test 256 --schedule 0.1:1,0.01:1
 *   deno task exp2 --out runs/a --resume auto         # continue where runs/a stopped
 *   deno task exp2 --init weights/resnet20-stage1.safetensors --schedule 0.01:5
 *
 * Writes into `--out`: run.json, metrics.csv (one row per epoch),
 * accuracy.svg, checkpoints/epoch-NNN.safetensors (full state, after every
 * epoch, written atomically), final.safetensors (weights only, PyTorch
 * state_dict names and layouts), and the final model's per_class.csv and
 * confusion.csv on the test set.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { type BackendChoice, BACKENDS, selectBackend } from "../lib/runtime/backend.ts";
import { choiceFlag, numberFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { type CifarProgress, loadCifar10, resolveCifarDir } from "../lib/data/cifar_files.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../lib/formats/checkpoint.ts";
import { CLASS_NAMES } from "../lib/data/cifar.ts";
import { confusionCsvs } from "../lib/report/confusion.ts";
import { lineChart } from "../lib/report/line_chart.ts";
import { toCsv } from "../lib/report/csv.ts";
import { exists, readFileNamed, writeFileAtomic, writeJsonAtomic } from "../lib/runtime/files.ts";
import { Progress } from "../lib/runtime/progress.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { Rng } from "../lib/data/rng.ts";
import { runInfo } from "../lib/runtime/run_info.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import {
  formatSchedule,
  LAB_SCHEDULE,
  lrAt,
  parseSchedule,
  type Stage,
  stageStarts,
  totalEpochs,
} from "../lib/train/schedule.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { type EpochMetrics, METRICS_COLUMNS } from "../lib/report/columns.ts";
import { type EvalResult, evaluate, trainEpoch } from "../lib/train/train_epoch.ts";
import { decodeWeights } from "../lib/formats/weights.ts";

const HELP = `Usage: deno task exp2 [flags]

  --schedule S        LR:EPOCHS stages (default ${LAB_SCHEDULE})
  --batch-size N      images per step (default 128)
  --seed N            seed for initial weights, shuffling and augmentation (default 0)
  --data-dir DIR      CIFAR-10 binary files (default: $CIFAR10_DIR, else data/cifar-10-batches-bin;
                      downloaded there when absent)
  --limit-train N     use the first N training images (smoke runs)
  --limit-test N      evaluate on the first N test images
  --backend NAME      ${BACKENDS.join(" | ")} (default auto)
  --out DIR           run folder (default runs/exp2-<time>)
  --resume auto|FILE  continue from the latest checkpoint in --out, or from FILE
  --init FILE         start from weights only (.safetensors or PyTorch .pth)
`;

/** What defines a Lab 2 run; saved in run.json and every checkpoint. */
interface Exp2Config {
  schedule: string;
  batchSize: number;
  seed: number;
  dataDir: string;
  limitTrain: number | null;
  limitTest: number | null;
  momentum: number;
  weightDecay: number;
  backend: BackendChoice;
  out: string;
  resume: string | null;
  init: string | null;
}

/** Config keys that must match the checkpoint for an exact resume. */
const RESUME_MUST_MATCH = [
  "batchSize",
  "seed",
  "limitTrain",
  "limitTest",
  "momentum",
  "weightDecay",
] as const;

function resolveConfig(args: string[]): { config: Exp2Config; stages: Stage[]; help: boolean } {
  const { values: v } = parseFlags(args, {
    schedule: { type: "string" },
    "batch-size": { type: "string" },
    seed: { type: "string" },
    "data-dir": { type: "string" },
    "limit-train": { type: "string" },
    "limit-test": { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    resume: { type: "string" },
    init: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  const schedule = v.schedule ?? LAB_SCHEDULE;
  let stages: Stage[];
  try {
    stages = parseSchedule(schedule);
  } catch (e) {
    throw new UsageError(`--schedule: ${(e as Error).message}`);
  }
  if (v.resume !== undefined && v.init !== undefined) {
    throw new UsageError(`--resume and --init exclude each other: a checkpoint already holds the weights`);
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const config: Exp2Config = {
    schedule: formatSchedule(stages),
    batchSize: v["batch-size"] !== undefined
      ? numberFlag("batch-size", v["batch-size"], { integer: true, min: 1, max: 4096 })
      : 128,
    seed: v.seed !== undefined ? numberFlag("seed", v.seed, { integer: true, min: 0, max: 2 ** 31 - 1 }) : 0,
    dataDir: resolveCifarDir(v["data-dir"]),
    limitTrain: v["limit-train"] !== undefined
      ? numberFlag("limit-train", v["limit-train"], { integer: true, min: 1, max: 50000 })
      : null,
    limitTest: v["limit-test"] !== undefined
      ? numberFlag("limit-test", v["limit-test"], { integer: true, min: 1, max: 10000 })
      : null,
    momentum: 0.9,
    weightDecay: 1e-4,
    backend: v.backend !== undefined ? choiceFlag("backend", v.backend, BACKENDS) : "auto",
    out: v.out ?? `runs/exp2-${stamp}`,
    resume: v.resume ?? null,
    init: v.init ?? null,
  };
  return { config, stages, help: v.help ?? false };
}

/** The latest `checkpoints/epoch-NNN.safetensors` in `out`, or null. */
async function latestCheckpoint(out: string): Promise<string | null> {
  const dir = join(out, "checkpoints");
  if (!(await exists(dir))) return null;
  let best: [number, string] | null = null;
  for await (const e of Deno.readDir(dir)) {
    const m = e.name.match(/^epoch-(\d+)\.safetensors$/);
    if (e.isFile && m && (!best || Number(m[1]) > best[0])) best = [Number(m[1]), join(dir, e.name)];
  }
  return best?.[1] ?? null;
}

async function main(): Promise<void> {
  const { config, stages, help } = resolveConfig(Deno.args);
  if (help) return console.log(HELP);
  const epochs = totalEpochs(stages);
  const checkpointDir = join(config.out, "checkpoints");

  // Decide where training starts before touching anything on disk.
  let resumeFrom: string | null = null;
  if (config.resume === "auto") {
    resumeFrom = await latestCheckpoint(config.out);
    if (!resumeFrom) console.error(`exp2: no checkpoint in ${checkpointDir}/, starting from epoch 1`);
  } else if (config.resume !== null) {
    resumeFrom = config.resume;
  }
  if (!resumeFrom && (await exists(join(config.out, "metrics.csv")))) {
    throw new UsageError(
      `--out ${config.out} already holds a run (metrics.csv): continue it with --resume auto, ` +
        `or choose another --out`,
    );
  }
  const checkpoint = resumeFrom
    ? decodeCheckpoint(await readFileNamed(resumeFrom, "checkpoint"), resumeFrom)
    : null;
  if (checkpoint) {
    for (const key of RESUME_MUST_MATCH) {
      if (checkpoint.config[key] !== config[key]) {
        throw new UsageError(
          `${resumeFrom} was trained with ${key} ${JSON.stringify(checkpoint.config[key])}, ` +
            `this run asks for ${JSON.stringify(config[key])}: an exact resume needs the same value`,
        );
      }
    }
  }
  const initWeights = config.init
    ? decodeWeights(await readFileNamed(config.init, "weights"), config.init)
    : null;

  const backend = await selectBackend(config.backend);
  console.error(`exp2: backend ${backend.backend} on ${backend.device} (${backend.reason})`);
  const data = await loadCifar10(config.dataDir, {
    limitTrain: config.limitTrain ?? undefined,
    limitTest: config.limitTest ?? undefined,
    onProgress: downloadProgress(),
  });
  console.error(
    `exp2: ${data.train.count} training and ${data.test.count} test images from ${config.dataDir}`,
  );

  const model = new ResNet20({ seed: config.seed });
  const sgd = new Sgd(model.trainable(), {
    lr: stages[0].lr,
    momentum: config.momentum,
    weightDecay: config.weightDecay,
  });
  let rng = new Rng(config.seed);
  let metrics: EpochMetrics[] = [];
  let start = 1;
  if (checkpoint) {
    model.loadStateDict(checkpoint.model, resumeFrom!);
    sgd.loadState(checkpoint.optimizer, resumeFrom!);
    rng = Rng.fromState(checkpoint.rng);
    metrics = checkpoint.metrics as EpochMetrics[];
    start = checkpoint.epoch + 1;
    console.error(`exp2: resumed from ${resumeFrom} after epoch ${checkpoint.epoch}`);
  } else if (initWeights) {
    model.loadStateDict(initWeights.state, config.init!);
    console.error(`exp2: initial weights from ${config.init} (${initWeights.note})`);
  }
  await writeJsonAtomic(join(config.out, "run.json"), {
    ...runInfo("exp2", config, backend),
    parameters: model.parameterCount(),
    trainImages: data.train.count,
    testImages: data.test.count,
    startEpoch: start,
  });
  if (start > epochs) console.error(`exp2: the schedule's ${epochs} epochs are already done`);
  if (metrics.length) await writeMetrics(config.out, metrics, stages);

  let lastTest: EvalResult | null = null;
  console.error(METRICS_COLUMNS.join(","));
  for (let epoch = start; epoch <= epochs; epoch++) {
    sgd.lr = lrAt(stages, epoch);
    const bar = new Progress(`epoch ${epoch}/${epochs}`, data.train.count, { unit: "img" });
    const train = await trainEpoch(model, sgd, data.train, rng, {
      batchSize: config.batchSize,
      onProgress: (done, loss) => bar.update(done, `loss ${loss.toFixed(4)}`),
    });
    bar.done();
    const test = await evaluate(model, data.test);
    lastTest = test;
    const row: EpochMetrics = {
      epoch,
      lr: sgd.lr,
      train_loss: round(train.loss),
      train_acc: round(train.acc),
      test_loss: round(test.loss),
      test_acc: round(test.acc),
      epoch_seconds: Number(train.seconds.toFixed(1)),
      images_per_second: Number((train.count / train.seconds).toFixed(1)),
    };
    metrics.push(row);
    // Checkpoint first: metrics.csv is rebuilt from it on resume.
    await writeFileAtomic(
      join(checkpointDir, `epoch-${String(epoch).padStart(3, "0")}.safetensors`),
      encodeCheckpoint(await model.stateDict(), await sgd.state(), {
        epoch,
        rng: rng.state(),
        config: { ...config },
        metrics,
      }),
    );
    await writeMetrics(config.out, metrics, stages);
    console.log(METRICS_COLUMNS.map((c) => row[c]).join(","));
  }
  await writeFileAtomic(
    join(config.out, "final.safetensors"),
    encodeSafetensors(await model.stateDict(), {
      metadata: {
        format: "pt",
        model: "resnet20",
        epochs: String(metrics.length),
        schedule: config.schedule,
        test_acc: String(metrics.at(-1)?.test_acc ?? ""),
      },
    }),
  );
  const final = lastTest ?? await evaluate(model, data.test);
  await writeConfusion(config.out, data.test.labels, final.predictions);
  const last = metrics.at(-1);
  if (last) {
    console.error(
      `exp2: test accuracy ${(100 * last.test_acc).toFixed(2)}% after epoch ${last.epoch}; ` +
        `wrote ${config.out}/final.safetensors`,
    );
  }
  sgd.dispose();
  model.dispose();
  tf.disposeVariables();
}

/** Writes `per_class.csv` and `confusion.csv` of test-set predictions into `out`. */
async function writeConfusion(
  out: string,
  labels: ArrayLike<number>,
  predictions: Int32Array,
): Promise<void> {
  const { perClass, confusion } = confusionCsvs(labels, predictions, CLASS_NAMES);
  await writeFileAtomic(join(out, "per_class.csv"), perClass);
  await writeFileAtomic(join(out, "confusion.csv"), confusion);
}

async function writeMetrics(out: string, metrics: EpochMetrics[], stages: Stage[]): Promise<void> {
  await writeFileAtomic(join(out, "metrics.csv"), toCsv(METRICS_COLUMNS, metrics));
  const x = metrics.map((m) => m.epoch);
  await writeFileAtomic(
    join(out, "accuracy.svg"),
    lineChart({
      title: `ResNet20 on CIFAR-10: accuracy per epoch (LR ${stages[0].lr} from epoch 1)`,
      xLabel: "epoch",
      yLabel: "accuracy",
      yRange: [0, 1],
      xRange: [1, Math.max(totalEpochs(stages), 2)],
      integerX: true,
      series: [
        { name: "test", x, y: metrics.map((m) => m.test_acc), dots: true },
        { name: "train", x, y: metrics.map((m) => m.train_acc), dots: true },
      ],
      // Between the last epoch of a stage and the first of the next.
      markers: stageStarts(stages).slice(1).map((s) => ({ x: s.epoch - 0.5, label: `LR ${s.lr}` })),
    }),
  );
}

function downloadProgress(): (p: CifarProgress) => void {
  let bar: Progress | null = null;
  return (p) => {
    if (p.stage === "write") return console.error(`exp2: wrote ${p.file}`);
    bar ??= new Progress("download CIFAR-10", p.total ?? 170_052_098, { unit: "B" });
    bar.update(p.loaded);
  };
}

function round(v: number): number {
  return Number(v.toFixed(4));
}

if (import.meta.main) await runMain(main);

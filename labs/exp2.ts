/**
 * Lab 2: train ResNet20 on the 50,000 CIFAR-10 training images with the
 * lab's staged schedule (LR 0.1 for 5 epochs, then 0.01 for 5), from epoch 1
 * to the end with no manual step, reporting train and test accuracy every
 * epoch (`--help` lists the flags).
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
import { CLASS_NAMES } from "../lib/data/cifar.ts";
import { type CifarProgress, loadCifar10, resolveCifarDir } from "../lib/data/cifar_files.ts";
import { Rng } from "../lib/data/rng.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../lib/formats/checkpoint.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES } from "../lib/formats/weights.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { accuracyChart } from "../lib/report/accuracy_chart.ts";
import { type EpochMetrics, epochMetrics, METRICS_COLUMNS } from "../lib/report/columns.ts";
import { confusionCsvs } from "../lib/report/confusion.ts";
import { toCsv } from "../lib/report/csv.ts";
import { type BackendChoice, selectBackend } from "../lib/runtime/backend.ts";
import { exists, readFileNamed, writeFileAtomic, writeJsonAtomic } from "../lib/runtime/files.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { Progress } from "../lib/runtime/progress.ts";
import { runInfo } from "../lib/runtime/run_info.ts";
import { backendFlag, batchSizeFlag, outFlag, seedFlag, timeStamp } from "../lib/runtime/shared_flags.ts";
import { LAB2_DEFAULTS } from "../lib/train/defaults.ts";
import { checkpointName, checkResumable, latestCheckpoint } from "../lib/train/resume.ts";
import { formatSchedule, lrAt, parseSchedule, type Stage, totalEpochs } from "../lib/train/schedule.ts";
import { resnetTrainingProbe } from "../lib/train/probe.ts";
import { Sgd } from "../lib/train/sgd.ts";
import { createStepRunner, type EvalResult, Evaluator, trainEpoch } from "../lib/train/train_epoch.ts";
import { stepCompiler } from "../lib/ops/mod.ts";

const cli = defineFlags("deno task exp2 [flags]", {
  schedule: flag.custom("LR:EPOCHS stages, run from epoch 1 through every stage", parseScheduleFlag, {
    default: parseSchedule(LAB2_DEFAULTS.schedule),
    defaultText: LAB2_DEFAULTS.schedule,
    placeholder: "S",
  }),
  "batch-size": batchSizeFlag(LAB2_DEFAULTS.batchSize, 4096, "images per SGD step"),
  seed: seedFlag(LAB2_DEFAULTS.seed),
  "data-dir": flag.string("the CIFAR-10 binary files; downloaded (md5-checked) there when absent", {
    placeholder: "DIR",
    defaultText: "$CIFAR10_DIR, else data/cifar-10-batches-bin",
  }),
  "limit-train": flag.int("use the first N training images (smoke runs)", { min: 1, max: 50000 }),
  "limit-test": flag.int("evaluate on the first N test images", { min: 1, max: 10000 }),
  backend: backendFlag(),
  out: outFlag("runs/exp2-<time>"),
  resume: flag.string("continue from the latest checkpoint in --out (auto), or from FILE", {
    placeholder: "auto|FILE",
  }),
  init: flag.string("start from weights only (.safetensors or PyTorch .pth)", { placeholder: "FILE" }),
  eager: flag.boolean(
    "run every step op by op through tfjs, even where the backend compiles steps (WebGPU): for comparison",
  ),
}, {
  description: "Lab 2: ResNet20 on CIFAR-10, train and test accuracy every epoch.",
  examples: [
    "deno task exp2                                   # the lab's full recipe",
    "deno task exp2 --limit-train 512 --limit-test 256 --schedule 0.1:1,0.01:1",
    "deno task exp2 --out runs/a --resume auto         # continue where runs/a stopped",
    "deno task exp2 --init weights/resnet20-stage1.safetensors --schedule 0.01:5",
  ],
});

function parseScheduleFlag(text: string, name: string): Stage[] {
  try {
    return parseSchedule(text);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
}

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
  /** Never compile steps (--eager). */
  eager: boolean;
}

function resolveConfig(args: string[]): { config: Exp2Config; stages: Stage[]; help: boolean } {
  const { values: v } = cli.parse(args);
  if (v.resume !== undefined && v.init !== undefined) {
    throw new UsageError(`--resume and --init exclude each other: a checkpoint already holds the weights`);
  }
  const config: Exp2Config = {
    schedule: formatSchedule(v.schedule),
    batchSize: v.batchSize,
    seed: v.seed,
    dataDir: resolveCifarDir(v.dataDir),
    limitTrain: v.limitTrain ?? null,
    limitTest: v.limitTest ?? null,
    momentum: LAB2_DEFAULTS.momentum,
    weightDecay: LAB2_DEFAULTS.weightDecay,
    backend: v.backend,
    out: v.out ?? `runs/exp2-${timeStamp()}`,
    resume: v.resume ?? null,
    init: v.init ?? null,
    eager: v.eager,
  };
  return { config, stages: v.schedule, help: v.help };
}

async function main(): Promise<void> {
  const { config, stages, help } = resolveConfig(Deno.args);
  if (help) return console.log(cli.help());
  const epochs = totalEpochs(stages);

  // Decide where training starts before touching anything on disk.
  let resumeFrom: string | null = null;
  if (config.resume === "auto") {
    resumeFrom = await latestCheckpoint(config.out);
    if (!resumeFrom) {
      console.error(`exp2: no checkpoint in ${join(config.out, "checkpoints")}/, starting from epoch 1`);
    }
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
    ? decodeCheckpoint(
      await readFileNamed(resumeFrom, "checkpoint", { maxBytes: MAX_WEIGHTS_BYTES }),
      resumeFrom,
    )
    : null;
  if (checkpoint) checkResumable(checkpoint.config, { ...config }, resumeFrom!);
  const initWeights = config.init
    ? decodeWeights(await readFileNamed(config.init, "weights", { maxBytes: MAX_WEIGHTS_BYTES }), config.init)
    : null;

  // auto measures a few training steps on each candidate when a hardware GPU is present.
  const backend = await selectBackend(config.backend, { probe: resnetTrainingProbe(config.batchSize) });
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
    compiledStep: !config.eager && stepCompiler() !== undefined,
    parameters: model.parameterCount(),
    trainImages: data.train.count,
    testImages: data.test.count,
    startEpoch: start,
  });
  if (start > epochs) console.error(`exp2: the schedule's ${epochs} epochs are already done`);
  if (metrics.length) await writeMetrics(config.out, metrics, stages);

  // Steps recorded once and replayed where the backend compiles them (WebGPU).
  const runner = createStepRunner(model, sgd, { compiled: !config.eager });
  const evaluator = new Evaluator(model, { compiled: !config.eager });
  let lastTest: EvalResult | null = null;
  console.error(METRICS_COLUMNS.join(","));
  for (let epoch = start; epoch <= epochs; epoch++) {
    sgd.lr = lrAt(stages, epoch);
    const bar = new Progress(`epoch ${epoch}/${epochs}`, data.train.count, { unit: "img" });
    const train = await trainEpoch(model, sgd, data.train, rng, {
      batchSize: config.batchSize,
      runner,
      onProgress: (done, loss) => bar.update(done, `loss ${loss.toFixed(4)}`),
    });
    bar.done();
    const test = await evaluator.evaluate(data.test);
    lastTest = test;
    const row = epochMetrics(epoch, sgd.lr, train, test);
    metrics.push(row);
    // Checkpoint first: metrics.csv is rebuilt from it on resume.
    await writeFileAtomic(
      join(config.out, "checkpoints", checkpointName(epoch)),
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
  const final = lastTest ?? await evaluator.evaluate(data.test);
  const { perClass, confusion } = confusionCsvs(data.test.labels, final.predictions, CLASS_NAMES);
  await writeFileAtomic(join(config.out, "per_class.csv"), perClass);
  await writeFileAtomic(join(config.out, "confusion.csv"), confusion);
  const last = metrics.at(-1);
  if (last) {
    console.error(
      `exp2: test accuracy ${(100 * last.test_acc).toFixed(2)}% after epoch ${last.epoch}; ` +
        `wrote ${config.out}/final.safetensors`,
    );
  }
  evaluator.dispose();
  runner.dispose();
  sgd.dispose();
  model.dispose();
  tf.disposeVariables();
}

async function writeMetrics(out: string, metrics: EpochMetrics[], stages: Stage[]): Promise<void> {
  await writeFileAtomic(join(out, "metrics.csv"), toCsv(METRICS_COLUMNS, metrics));
  await writeFileAtomic(join(out, "accuracy.svg"), accuracyChart(metrics, stages));
}

function downloadProgress(): (p: CifarProgress) => void {
  let bar: Progress | null = null;
  return (p) => {
    if (p.stage === "write") return console.error(`exp2: wrote ${p.file}`);
    bar ??= new Progress("download CIFAR-10", p.total ?? 170_052_098, { unit: "B" });
    bar.update(p.loaded);
  };
}

export { cli };

if (import.meta.main) await runMain(main);

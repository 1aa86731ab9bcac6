/**
 * Evaluates ResNet20 weights (.safetensors or PyTorch .pth) on the CIFAR-10
 * test set in eval mode: test accuracy, per-class accuracy and the confusion
 * matrix; optionally the raw logits of the first N test images.
 *
 * Prints the accuracy lines on stderr and the confusion matrix CSV on stdout;
 * with --out, also writes per_class.csv and confusion.csv there.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { dirname, join } from "node:path";
import { CLASS_NAMES, NUM_CLASSES } from "../lib/data/cifar.ts";
import { loadCifar10, resolveCifarDir } from "../lib/data/cifar_files.ts";
import { decodeCifarPython } from "../lib/formats/cifar_python.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES } from "../lib/formats/weights.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { confusionMatrix, matrixCsvs, perClassRows } from "../lib/report/confusion.ts";
import { type Row, toCsv } from "../lib/report/csv.ts";
import { selectBackend } from "../lib/runtime/backend.ts";
import { exists, readFileNamed, sameFile, writeFileAtomic } from "../lib/runtime/files.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { quote } from "../lib/runtime/quote.ts";
import { checkFreshOut, inspectOutFolder } from "../lib/train/run_folder_policy.ts";
import { runMain } from "../lib/runtime/main.ts";
import { backendFlag } from "../lib/runtime/shared_flags.ts";
import { evaluate } from "../lib/train/train_epoch.ts";

const cli = defineFlags("deno task eval --weights FILE [flags]", {
  weights: flag.path("ResNet20 weights: .safetensors or PyTorch .pth", {
    placeholder: "FILE",
    required: true,
  }),
  "data-dir": flag.path(
    "the CIFAR-10 files (binary, or torchvision's cifar-10-batches-py), or their parent",
    {
      placeholder: "DIR",
      defaultText: "$CIFAR10_DIR, else data/cifar-10-batches-bin",
    },
  ),
  "limit-test": flag.int("evaluate the first N test images only", { min: 1, max: 10000 }),
  "logits-csv": flag.path("write image,label,logit0..logit9 of the evaluated images", {
    placeholder: "FILE",
  }),
  out: flag.path("also write per_class.csv and confusion.csv there (a new or empty folder)", {
    placeholder: "DIR",
  }),
  backend: backendFlag(),
}, {
  description: "Test accuracy, per-class accuracy and the confusion matrix of ResNet20 weights on CIFAR-10.",
  examples: [
    "deno task eval --weights runs/a/final.safetensors",
    "deno task eval --weights pretrain_model.pth --out runs/eval-pretrained",
    "deno task eval --weights w.safetensors --logits-csv logits.csv --limit-test 16",
  ],
});

async function main(): Promise<void> {
  const { values: v } = cli.parse(Deno.args);
  if (v.help) return console.log(cli.help());
  const limitTest = v.limitTest;
  // Outputs never replace an input or a run's results.
  if (v.logitsCsv && (await sameFile(v.logitsCsv, v.weights) || v.logitsCsv === v.weights)) {
    throw new UsageError(`--logits-csv ${quote(v.logitsCsv)} is the --weights file: give another name`);
  }
  if (v.logitsCsv && /\.(safetensors|pth|pt|bin)$/i.test(v.logitsCsv)) {
    throw new UsageError(`--logits-csv ${quote(v.logitsCsv)} is not a .csv name: it would hold CSV text`);
  }
  if (
    v.logitsCsv && (await inspectOutFolder(dirname(v.logitsCsv))).kind === "run" && await exists(v.logitsCsv)
  ) {
    throw new UsageError(`--logits-csv ${quote(v.logitsCsv)} is a file of a run folder: give a new file`);
  }
  if (v.out) checkFreshOut(await inspectOutFolder(v.out), "eval");
  const weights = decodeWeights(
    await readFileNamed(v.weights, "weights", { maxBytes: MAX_WEIGHTS_BYTES }),
    v.weights,
  );
  const backend = await selectBackend(v.backend);
  console.error(`eval: backend ${backend.backend} on ${backend.device}`);
  const model = new ResNet20();
  model.loadStateDict(weights.state, v.weights);
  console.error(`eval: ${v.weights} (${weights.note})`);
  const dataDir = resolveCifarDir(v.dataDir);
  const { test } = await loadCifar10(dataDir, {
    limitTrain: 0,
    limitTest,
    download: false,
    downloadHint: "fetch them with deno task exp2 --download (eval never downloads: its task has no " +
      "network permission)",
    decodePython: decodeCifarPython,
  });
  const result = await evaluate(model, test, { logits: Boolean(v.logitsCsv) });
  model.dispose();
  tf.disposeVariables();

  console.error(
    `eval: test accuracy ${(100 * result.acc).toFixed(2)}% (${
      Math.round(result.acc * test.count)
    }/${test.count}), ` +
      `loss ${result.loss.toFixed(4)}`,
  );
  const matrix = confusionMatrix(test.labels, result.predictions, CLASS_NAMES.length);
  const { perClass, confusion } = matrixCsvs(matrix, CLASS_NAMES);
  for (const { name, correct, total, accuracy } of perClassRows(matrix, CLASS_NAMES)) {
    console.error(
      `  ${String(name).padEnd(10)} ${
        (100 * Number(accuracy)).toFixed(1).padStart(5)
      }%  (${correct}/${total})`,
    );
  }
  console.log(confusion.trimEnd());
  if (v.out) {
    await writeFileAtomic(join(v.out, "per_class.csv"), perClass);
    await writeFileAtomic(join(v.out, "confusion.csv"), confusion);
  }
  if (v.logitsCsv) {
    const columns = ["image", "label", ...Array.from({ length: NUM_CLASSES }, (_, k) => `logit${k}`)];
    const rows: Row[] = Array.from({ length: test.count }, (_, i) => {
      const row: Row = { image: i, label: test.labels[i] };
      for (let k = 0; k < NUM_CLASSES; k++) row[`logit${k}`] = result.logits![i * NUM_CLASSES + k].toFixed(6);
      return row;
    });
    await writeFileAtomic(v.logitsCsv, toCsv(columns, rows));
    console.error(`eval: wrote ${v.logitsCsv}`);
  }
}

export { cli };

if (import.meta.main) await runMain(main);

/**
 * Evaluates ResNet20 weights (.safetensors or PyTorch .pth) on the CIFAR-10
 * test set in eval mode: test accuracy, per-class accuracy and the confusion
 * matrix; optionally the raw logits of the first N test images.
 *
 *   deno task eval --weights runs/a/final.safetensors
 *   deno task eval --weights pretrain_model.pth --out runs/eval-pretrained
 *   deno task eval --weights w.safetensors --logits-csv logits.csv --limit-test 16
 *
 * Prints the accuracy lines on stderr and the confusion matrix CSV on stdout;
 * with --out, also writes per_class.csv and confusion.csv there.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { BACKENDS, selectBackend } from "../lib/runtime/backend.ts";
import { CLASS_NAMES, NUM_CLASSES } from "../lib/data/cifar.ts";
import { loadCifar10, resolveCifarDir } from "../lib/data/cifar_files.ts";
import { choiceFlag, numberFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { confusionMatrix, matrixCsvs, perClassRows } from "../lib/report/confusion.ts";
import { type Row, toCsv } from "../lib/report/csv.ts";
import { readFileNamed, writeFileAtomic } from "../lib/runtime/files.ts";
import { ResNet20 } from "../lib/models/resnet20.ts";
import { evaluate } from "../lib/train/train_epoch.ts";
import { decodeWeights } from "../lib/formats/weights.ts";

const HELP = `Usage: deno task eval --weights FILE [flags]

  --weights FILE      ResNet20 weights: .safetensors or PyTorch .pth (required)
  --data-dir DIR      CIFAR-10 binary files (default: $CIFAR10_DIR, else data/cifar-10-batches-bin)
  --limit-test N      evaluate the first N test images only
  --logits-csv PATH   write image,label,logit0..logit9 for the evaluated images
  --out DIR           also write per_class.csv and confusion.csv there
  --backend NAME      ${BACKENDS.join(" | ")} (default auto)
`;

async function main(): Promise<void> {
  const { values: v } = parseFlags(Deno.args, {
    weights: { type: "string" },
    "data-dir": { type: "string" },
    "limit-test": { type: "string" },
    "logits-csv": { type: "string" },
    out: { type: "string" },
    backend: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return console.log(HELP);
  if (!v.weights) throw new UsageError(`--weights FILE is required (a .safetensors or .pth file)`);
  const limitTest = v["limit-test"] !== undefined
    ? numberFlag("limit-test", v["limit-test"], { integer: true, min: 1, max: 10000 })
    : undefined;
  const weights = decodeWeights(await readFileNamed(v.weights, "weights"), v.weights);
  const backend = await selectBackend(
    v.backend !== undefined ? choiceFlag("backend", v.backend, BACKENDS) : "auto",
  );
  console.error(`eval: backend ${backend.backend} on ${backend.device}`);
  const model = new ResNet20();
  model.loadStateDict(weights.state, v.weights);
  console.error(`eval: ${v.weights} (${weights.note})`);
  const dataDir = resolveCifarDir(v["data-dir"]);
  const { test } = await loadCifar10(dataDir, { limitTrain: 0, limitTest });
  const result = await evaluate(model, test, { logits: Boolean(v["logits-csv"]) });
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
  if (v["logits-csv"]) {
    const columns = ["image", "label", ...Array.from({ length: NUM_CLASSES }, (_, k) => `logit${k}`)];
    const rows: Row[] = Array.from({ length: test.count }, (_, i) => {
      const row: Row = { image: i, label: test.labels[i] };
      for (let k = 0; k < NUM_CLASSES; k++) row[`logit${k}`] = result.logits![i * NUM_CLASSES + k].toFixed(6);
      return row;
    });
    await writeFileAtomic(v["logits-csv"], toCsv(columns, rows));
    console.error(`eval: wrote ${v["logits-csv"]}`);
  }
}

if (import.meta.main) await runMain(main);

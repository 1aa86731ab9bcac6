// Touches the disk: reads a run folder written by `deno task exp1` or `deno task exp2`.
/**
 * A run folder as data for the lab report: `run.json` and the CSVs, which
 * are the source of truth (the run's own SVGs and models are not read).
 * Detects which lab wrote the folder from `run.json`'s `lab` and validates
 * every file it reads, with errors that name the file and line.
 *
 * @module
 */
import { join } from "node:path";
import { CLASS_NAMES } from "../data/cifar.ts";
import { CsvError, parseCsv, parseCsvTable } from "./csv.ts";
import { parseSchedule, type Stage } from "../train/schedule.ts";
import { PER_CLASS_COLUMNS } from "./confusion.ts";
import { EPOCH_LOSS_COLUMNS, INHERITED_COLUMN, METRICS_COLUMNS, SUMMARY_COLUMNS } from "./columns.ts";

/**
 * Raised for a missing, malformed or inconsistent run folder; the message names the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRunFolder, RunFolderError } from "./run_folder.ts";
 * const dir = await Deno.makeTempDir(); // a folder with no run.json
 * await assert.rejects(readRunFolder(dir), RunFolderError);
 * await Deno.remove(dir);
 * ```
 */
export class RunFolderError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RunFolderError";
  }
}

/** The `run.json` fields the report shows; the rest is kept as it is. */
export interface RunJson {
  /** Which lab wrote the folder. */
  lab: "exp1" | "exp2";
  /** ISO time the run (or its last resume) started. */
  started?: string;
  /** The command line that started the run. */
  command?: string;
  /** The tfjs backend it ran on, e.g. `cpu`. */
  backend?: string;
  /** The device, in words. */
  device?: string;
  /** Why that backend was chosen. */
  backendReason?: string;
  /** Versions of the toolkit, Deno, tfjs and the OS. */
  versions?: Record<string, unknown>;
  /** The resolved config, as the lab saved it. */
  config: Record<string, unknown>;
  /** Whatever else the lab recorded, e.g. exp2's `parameters`, `trainImages`, `startEpoch`. */
  [key: string]: unknown;
}

/** One Lab 1 run: a row of `summary.csv` with its `<run>.csv` loss and `fit.csv` column. */
export interface Exp1Run {
  /** The run's name, e.g. `lr-0.1`, also its CSV's name. */
  name: string;
  /** Epochs asked for. */
  epochs: number;
  /** Learning rate per step. */
  lr: number;
  /** `adam` or `sgd`. */
  optimizer: string;
  /** NaN when the run diverged. */
  trainMse: number;
  /** NaN when the run diverged. */
  testMse: number;
  /** Training wall time, seconds. */
  seconds: number;
  /** 1-based epoch whose loss was not finite, or null. */
  divergedEpoch: number | null;
  /** Mean training MSE per epoch, epoch 1 first (stops before a divergence). */
  loss: number[];
  /** The model's f(x) on {@linkcode Exp1Folder.grid}, null when diverged. */
  fit: number[] | null;
}

/** A Lab 1 run folder. */
export interface Exp1Folder {
  /** Written by `deno task exp1`. */
  lab: "exp1";
  /** The folder as given. */
  dir: string;
  /** Its `run.json`. */
  info: RunJson;
  /** The target function's text, e.g. `x^2 + 2*sin(x) + cos(x - 1) - 5`. */
  fn: string;
  /** Which study, or null for a single run. */
  study: "epochs" | "lr" | null;
  /** The rows of `summary.csv`, in order. */
  runs: Exp1Run[];
  /** The x of `fit.csv`. */
  grid: number[];
  /** The true f on the grid. */
  truth: number[];
}

/** One `metrics.csv` row: learning rate per step, accuracies in [0, 1]. */
export interface Exp2Epoch {
  /** 1-based. */
  epoch: number;
  /** Learning rate per step during the epoch. */
  lr: number;
  /** Mean cross-entropy per image over the epoch's batches. */
  trainLoss: number;
  /** Over the epoch's augmented batches. */
  trainAcc: number;
  /** Mean cross-entropy per test image after the epoch. */
  testLoss: number;
  /** On the test images after the epoch. */
  testAcc: number;
  /** Training pass only, evaluation excluded. */
  epochSeconds: number;
  /** Training images per second. */
  imagesPerSecond: number;
  /** The weights file this epoch was inherited from (`inherited_from`), null for the run's own epochs. */
  inheritedFrom?: string | null;
}

/**
 * The {@linkcode Exp2Epoch} of a checked `metrics.csv` row (its text values).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { epochFromRow } from "./run_folder.ts";
 * const row = { epoch: "2", lr: "0.1", train_loss: "0.9", train_acc: "0.7", test_loss: "1", test_acc: "0.65",
 *   epoch_seconds: "60", images_per_second: "833.3", inherited_from: "" };
 * assert.deepEqual(epochFromRow(row), { epoch: 2, lr: 0.1, trainLoss: 0.9, trainAcc: 0.7, testLoss: 1,
 *   testAcc: 0.65, epochSeconds: 60, imagesPerSecond: 833.3 });
 * ```
 */
export function epochFromRow(r: Record<string, string>): Exp2Epoch {
  return {
    epoch: Number(r.epoch),
    lr: Number(r.lr),
    trainLoss: Number(r.train_loss),
    trainAcc: Number(r.train_acc),
    testLoss: Number(r.test_loss),
    testAcc: Number(r.test_acc),
    epochSeconds: Number(r.epoch_seconds),
    imagesPerSecond: Number(r.images_per_second),
    ...(r[INHERITED_COLUMN] ? { inheritedFrom: r[INHERITED_COLUMN] } : {}),
  };
}

/** One `per_class.csv` row. */
export interface ClassAccuracy {
  /** CIFAR-10 label, 0-9. */
  index: number;
  /** Its name, e.g. `cat`. */
  name: string;
  /** Test images of the class predicted right. */
  correct: number;
  /** Test images of the class. */
  total: number;
  /** `correct / total`, in [0, 1]. */
  accuracy: number;
}

/** A Lab 2 run folder. */
export interface Exp2Folder {
  /** Written by `deno task exp2`. */
  lab: "exp2";
  /** The folder as given. */
  dir: string;
  /** Its `run.json`. */
  info: RunJson;
  /** From `config.schedule`. */
  stages: Stage[];
  /** The rows of `metrics.csv`, epoch 1 first. */
  epochs: Exp2Epoch[];
  /** Null when the folder has no `per_class.csv`. */
  perClass: ClassAccuracy[] | null;
  /** `[true][predicted]` counts in CIFAR-10 label order; null when there is no `confusion.csv`. */
  confusion: number[][] | null;
  /** The epoch in which training diverged (its row's losses are not finite), or null. */
  divergedEpoch?: number | null;
}

/** What {@linkcode readRunFolder} returns. */
export type RunFolder = Exp1Folder | Exp2Folder;

const EXPECTED = `expected a run folder written by "deno task exp1" or "deno task exp2"`;

/**
 * Reads and validates the run folder `dir`, detecting Lab 1 or Lab 2 from
 * its `run.json`. Reads `run.json`, then for Lab 1 `summary.csv`, every
 * `<run>.csv` and `fit.csv`; for Lab 2 `metrics.csv` and, when present,
 * `per_class.csv` and `confusion.csv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRunFolder } from "./run_folder.ts";
 * // The smallest Lab 2 folder: run.json and a one-epoch metrics.csv
 * // (a finished exp2 run also writes per_class.csv and confusion.csv).
 * const dir = await Deno.makeTempDir();
 * const runJson = { lab: "exp2", config: { schedule: "0.1:1" } };
 * await Deno.writeTextFile(`${dir}/run.json`, JSON.stringify(runJson));
 * await Deno.writeTextFile(
 *   `${dir}/metrics.csv`,
 *   "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second\n" +
 *     "1,0.1,1.62,0.41,1.35,0.52,95.1,525.8\n",
 * );
 * const folder = await readRunFolder(dir);
 * assert.equal(folder.lab, "exp2");
 * if (folder.lab === "exp2") {
 *   assert.deepEqual(folder.stages, [{ lr: 0.1, epochs: 1 }]);
 *   assert.equal(folder.epochs.at(-1)?.testAcc, 0.52);
 *   assert.equal(folder.perClass, null);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readRunFolder(dir: string): Promise<RunFolder> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new RunFolderError(`Run folder "${dir}" does not exist: ${EXPECTED}`);
    }
    throw e;
  }
  if (!stat.isDirectory) throw new RunFolderError(`"${dir}" is not a folder: ${EXPECTED}`);
  const runJsonPath = join(dir, "run.json");
  const text = await readText(runJsonPath);
  if (text === null) {
    throw new RunFolderError(`"${dir}" is not a run folder: it has no run.json, ${EXPECTED}`);
  }
  const info = parseRunJson(text, runJsonPath);
  return info.lab === "exp1" ? await readExp1(dir, info) : await readExp2(dir, info);
}

/** A file's text, or null when it does not exist. */
async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function requireText(path: string, what: string): Promise<string> {
  const text = await readText(path);
  if (text === null) throw new RunFolderError(`Cannot read "${path}": no such file (${what})`);
  return text;
}

/**
 * Parses and checks a `run.json`'s text; `path` names it in errors.
 *
 * @example
 * ```ts
 * import { parseRunJson } from "./run_folder.ts";
 * const info = parseRunJson('{"lab":"exp2","config":{"schedule":"0.1:1"}}', "run.json");
 * console.assert(info.lab === "exp2");
 * ```
 */
export function parseRunJson(text: string, path: string): RunJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RunFolderError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new RunFolderError(`${path}: expected a JSON object, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  const info = value as Record<string, unknown>;
  if (info.lab !== "exp1" && info.lab !== "exp2") {
    throw new RunFolderError(`${path}: lab is ${JSON.stringify(info.lab)}, expected "exp1" or "exp2"`);
  }
  if (typeof info.config !== "object" || info.config === null || Array.isArray(info.config)) {
    throw new RunFolderError(`${path}: "config" is ${JSON.stringify(info.config)}, expected an object`);
  }
  for (const key of ["started", "command", "backend", "device", "backendReason"]) {
    if (info[key] !== undefined && typeof info[key] !== "string") {
      throw new RunFolderError(`${path}: "${key}" is ${JSON.stringify(info[key])}, expected a string`);
    }
  }
  if (info.versions !== undefined && (typeof info.versions !== "object" || info.versions === null)) {
    throw new RunFolderError(`${path}: "versions" is ${JSON.stringify(info.versions)}, expected an object`);
  }
  return info as RunJson;
}

async function readExp1(dir: string, info: RunJson): Promise<Exp1Folder> {
  const runJson = join(dir, "run.json");
  const config = info.config;
  if (typeof config.fn !== "string") {
    throw new RunFolderError(
      `${runJson}: "config.fn" is ${JSON.stringify(config.fn)}, expected the f(x) text`,
    );
  }
  const study = config.study ?? null;
  if (study !== null && study !== "epochs" && study !== "lr") {
    throw new RunFolderError(
      `${runJson}: "config.study" is ${JSON.stringify(study)}, expected "epochs", "lr" or null`,
    );
  }
  const what = "an exp1 run folder holds run.json, summary.csv, fit.csv and one <run>.csv per run";

  const summaryPath = join(dir, "summary.csv");
  const { rows: summary, lines: summaryLines } = parseCsvTable(await requireText(summaryPath, what), {
    source: summaryPath,
    required: SUMMARY_COLUMNS,
    numeric: ["epochs", "lr", "seconds"],
  });
  if (summary.length === 0) throw new RunFolderError(`${summaryPath}: no runs (only a header line)`);
  const names = new Set<string>();
  const runs: Exp1Run[] = [];
  for (const [i, row] of summary.entries()) {
    const at = `${summaryPath}, line ${summaryLines[i]}`;
    // The name becomes a file name: no paths, no surprises.
    if (!/^[\w.+-]+$/.test(row.run) || row.run.startsWith(".")) {
      throw new RunFolderError(
        `${at}: run is "${row.run}", expected a name of letters, digits, ".", "+", "-", "_"`,
      );
    }
    if (names.has(row.run)) throw new RunFolderError(`${at}: run "${row.run}" appears twice`);
    names.add(row.run);
    const epochs = Number(row.epochs);
    if (!Number.isInteger(epochs) || epochs < 1) {
      throw new RunFolderError(`${at}: column "epochs" is "${row.epochs}", expected a whole number >= 1`);
    }
    const m = row.status.match(/^(?:ok|diverged at epoch (\d+))$/);
    if (!m) {
      throw new RunFolderError(
        `${at}: column "status" is "${row.status}", expected "ok" or "diverged at epoch N"`,
      );
    }
    const divergedEpoch = m[1] === undefined ? null : Number(m[1]);
    const trainMse = mse(row.train_mse, `${at}: column "train_mse"`, divergedEpoch);
    const testMse = mse(row.test_mse, `${at}: column "test_mse"`, divergedEpoch);

    const lossPath = join(dir, `${row.run}.csv`);
    const { rows: lossRows, lines: lossLines } = parseCsvTable(
      await requireText(lossPath, `the per-epoch loss of run "${row.run}" in summary.csv`),
      { source: lossPath, required: EPOCH_LOSS_COLUMNS, numeric: EPOCH_LOSS_COLUMNS },
    );
    lossRows.forEach((r, k) => {
      if (Number(r.epoch) !== k + 1) {
        throw new RunFolderError(
          `${lossPath}, line ${lossLines[k]}: epoch is "${r.epoch}", expected ${k + 1}`,
        );
      }
    });
    const expectedRows = divergedEpoch === null ? epochs : divergedEpoch - 1;
    if (lossRows.length !== expectedRows) {
      throw new RunFolderError(
        `${lossPath}: ${lossRows.length} epochs of loss, expected ${expectedRows} ` +
          `(summary.csv says ${row.epochs} epochs, status "${row.status}")`,
      );
    }
    runs.push({
      name: row.run,
      epochs,
      lr: Number(row.lr),
      optimizer: row.optimizer,
      trainMse,
      testMse,
      seconds: Number(row.seconds),
      divergedEpoch,
      loss: lossRows.map((r) => Number(r.train_loss)),
      fit: null,
    });
  }

  const fitPath = join(dir, "fit.csv");
  const fitRows = parseCsv(await requireText(fitPath, what), {
    source: fitPath,
    required: ["x", "true f(x)", ...runs.map((r) => r.name)],
    numeric: ["x", "true f(x)", ...runs.filter((r) => r.divergedEpoch === null).map((r) => r.name)],
  });
  if (fitRows.length < 2) {
    throw new RunFolderError(`${fitPath}: ${fitRows.length} points, expected at least 2`);
  }
  for (const run of runs) {
    if (run.divergedEpoch === null) run.fit = fitRows.map((r) => Number(r[run.name]));
  }
  return {
    lab: "exp1",
    dir,
    info,
    fn: config.fn,
    study,
    runs,
    grid: fitRows.map((r) => Number(r.x)),
    truth: fitRows.map((r) => Number(r["true f(x)"])),
  };
}

/** An MSE cell: a number, or NaN for a diverged run. */
function mse(text: string, at: string, divergedEpoch: number | null): number {
  const v = text === "" ? NaN : Number(text);
  if (Number.isFinite(v) && v >= 0) return v;
  if (divergedEpoch !== null && (text === "NaN" || text === "")) return NaN;
  throw new RunFolderError(
    `${at} is "${text}", expected a number >= 0${divergedEpoch === null ? "" : " or NaN"}`,
  );
}

async function readExp2(dir: string, info: RunJson): Promise<Exp2Folder> {
  const runJson = join(dir, "run.json");
  if (typeof info.config.schedule !== "string") {
    throw new RunFolderError(
      `${runJson}: "config.schedule" is ${JSON.stringify(info.config.schedule)}, expected LR:EPOCHS stages`,
    );
  }
  let stages: Stage[];
  try {
    stages = parseSchedule(info.config.schedule);
  } catch (e) {
    throw new RunFolderError(`${runJson}: "config.schedule": ${(e as Error).message}`);
  }

  const metricsPath = join(dir, "metrics.csv");
  const { rows, lines } = parseCsvTable(
    await requireText(metricsPath, "an exp2 run folder holds run.json and metrics.csv, one row per epoch"),
    { source: metricsPath, required: METRICS_COLUMNS, numeric: ["epoch", "lr", "epoch_seconds"] },
  );
  if (rows.length === 0) throw new RunFolderError(`${metricsPath}: no epochs (only a header line)`);
  let divergedEpoch: number | null = null;
  const epochs = rows.map((r, k): Exp2Epoch => {
    const at = `${metricsPath}, line ${lines[k]}`;
    if (Number(r.epoch) !== k + 1) {
      throw new RunFolderError(`${at}: epoch is "${r.epoch}", expected ${k + 1}`);
    }
    // A diverged run's last row holds the losses that were not finite.
    for (const c of ["train_loss", "train_acc", "test_loss", "test_acc", "images_per_second"]) {
      const finite = r[c] !== "" && Number.isFinite(Number(r[c]));
      if (finite) continue;
      if (k === rows.length - 1 && /^(NaN|-?Infinity)$/.test(r[c])) {
        divergedEpoch = k + 1;
        continue;
      }
      throw new CsvError(`${at}: column "${c}" is "${r[c]}", expected a number`);
    }
    for (const c of ["train_acc", "test_acc"]) {
      const v = Number(r[c]);
      if (v < 0 || v > 1) {
        throw new RunFolderError(`${at}: column "${c}" is "${r[c]}", expected an accuracy in [0, 1]`);
      }
    }
    return epochFromRow(r);
  });

  const perClassPath = join(dir, "per_class.csv");
  const perClassText = await readText(perClassPath);
  const perClass = perClassText === null ? null : parsePerClass(perClassText, perClassPath);
  const confusionPath = join(dir, "confusion.csv");
  const confusionText = await readText(confusionPath);
  const confusion = confusionText === null ? null : parseConfusion(confusionText, confusionPath);
  if (perClass && confusion) {
    for (const c of perClass) {
      const row = confusion[c.index];
      const total = row.reduce((a, b) => a + b, 0);
      if (row[c.index] !== c.correct || total !== c.total) {
        throw new RunFolderError(
          `${confusionPath}: row "${c.name}" has ${row[c.index]} correct of ${total}, ` +
            `but ${perClassPath} says ${c.correct} of ${c.total}: expected both from the same evaluation`,
        );
      }
    }
  }
  return { lab: "exp2", dir, info, stages, epochs, perClass, confusion, divergedEpoch };
}

/** Parses and checks a `per_class.csv`'s text (one row per CIFAR-10 class); `path` names it in errors. */
export function parsePerClass(text: string, path: string): ClassAccuracy[] {
  const { rows, lines } = parseCsvTable(text, {
    source: path,
    required: PER_CLASS_COLUMNS,
    numeric: ["class", "correct", "total", "accuracy"],
  });
  if (rows.length !== CLASS_NAMES.length) {
    throw new RunFolderError(
      `${path}: ${rows.length} classes, expected ${CLASS_NAMES.length} (one row per CIFAR-10 class)`,
    );
  }
  return rows.map((r, k) => {
    const at = `${path}, line ${lines[k]}`;
    const [index, correct, total, accuracy] = [r.class, r.correct, r.total, r.accuracy].map(Number);
    if (index !== k) throw new RunFolderError(`${at}: class is "${r.class}", expected ${k}`);
    if (r.name !== CLASS_NAMES[k]) {
      throw new RunFolderError(`${at}: name is "${r.name}", expected "${CLASS_NAMES[k]}" for class ${k}`);
    }
    if (
      !Number.isInteger(total) || total < 0 || !Number.isInteger(correct) || correct < 0 || correct > total
    ) {
      throw new RunFolderError(
        `${at}: correct is "${r.correct}" and total "${r.total}", expected whole numbers with correct <= total`,
      );
    }
    // Written with 6 significant digits; allow for that rounding.
    const exact = total === 0 ? 0 : correct / total;
    if (Math.abs(accuracy - exact) > 1e-4) {
      throw new RunFolderError(
        `${at}: accuracy is "${r.accuracy}", expected correct / total = ${exact.toPrecision(6)}`,
      );
    }
    return { index, name: r.name, correct, total, accuracy: exact };
  });
}

/**
 * Parses and checks a `confusion.csv`'s text into `[true][predicted]` counts
 * in CIFAR-10 label order; `path` names it in errors.
 */
export function parseConfusion(text: string, path: string): number[][] {
  const columns = ["label", ...CLASS_NAMES];
  const { header, rows, lines } = parseCsvTable(text, {
    source: path,
    required: columns,
    numeric: [...CLASS_NAMES],
  });
  if (header.join(",") !== columns.join(",")) {
    throw new RunFolderError(
      `${path}, line 1: header is "${header.join(",")}", expected "${columns.join(",")}"`,
    );
  }
  if (rows.length !== CLASS_NAMES.length) {
    throw new RunFolderError(
      `${path}: ${rows.length} rows, expected ${CLASS_NAMES.length} (one per true class)`,
    );
  }
  return rows.map((r, k) => {
    const at = `${path}, line ${lines[k]}`;
    if (r.label !== CLASS_NAMES[k]) {
      throw new RunFolderError(`${at}: label is "${r.label}", expected "${CLASS_NAMES[k]}"`);
    }
    return CLASS_NAMES.map((name) => {
      const v = Number(r[name]);
      if (!Number.isInteger(v) || v < 0) {
        throw new RunFolderError(
          `${at}: column "${name}" is "${r[name]}", expected a count (a whole number >= 0)`,
        );
      }
      return v;
    });
  });
}

/**
 * Per-class accuracy and the confusion matrix of a classifier's predictions,
 * as `metrics`-style rows ready for CSV. Pure.
 *
 * @module
 */
import { type Row, toCsv } from "./csv.ts";

/** Counts `[true class][predicted class]`. */
export type ConfusionMatrix = number[][];

/**
 * The confusion matrix of `predictions` against `labels` over `classes` classes.
 *
 * @example
 * ```ts
 * import { confusionMatrix } from "./confusion.ts";
 * const m = confusionMatrix(Uint8Array.of(0, 1, 1), Int32Array.of(0, 0, 1), 2);
 * console.assert(JSON.stringify(m) === "[[1,0],[1,1]]");
 * ```
 */
export function confusionMatrix(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  classes: number,
): ConfusionMatrix {
  if (labels.length !== predictions.length) {
    throw new RangeError(`Got ${labels.length} labels but ${predictions.length} predictions`);
  }
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const [t, p] = [labels[i], predictions[i]];
    if (!(Number.isInteger(t) && Number.isInteger(p) && t >= 0 && t < classes && p >= 0 && p < classes)) {
      throw new RangeError(`Example ${i} has label ${t} and prediction ${p}: expected 0..${classes - 1}`);
    }
    m[t][p]++;
  }
  return m;
}

/** `per_class.csv` columns. */
export const PER_CLASS_COLUMNS = ["class", "name", "correct", "total", "accuracy"] as const;

/**
 * One row per class: correct, total and accuracy (NaN-free: 0 when a class
 * has no examples).
 *
 * @example
 * ```ts
 * import { perClassRows } from "./confusion.ts";
 * const rows = perClassRows([[1, 0], [1, 1]], ["cat", "dog"]);
 * console.assert(rows[1].accuracy === 0.5);
 * ```
 */
export function perClassRows(m: ConfusionMatrix, names: readonly string[]): Row[] {
  return m.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return { class: c, name: names[c], correct: row[c], total, accuracy: total ? row[c] / total : 0 };
  });
}

/** `confusion.csv` rows: `label` (true class name) then one count column per predicted class. */
export function confusionRows(m: ConfusionMatrix, names: readonly string[]): Row[] {
  return m.map((row, c) => Object.fromEntries([["label", names[c]], ...row.map((v, p) => [names[p], v])]));
}

/**
 * `per_class.csv` and `confusion.csv` texts for predictions against labels,
 * with class `names` (one per class).
 *
 * @example
 * ```ts
 * import { confusionCsvs } from "./confusion.ts";
 * const { perClass } = confusionCsvs(Uint8Array.of(0, 1), Int32Array.of(0, 0), ["cat", "dog"]);
 * console.assert(perClass.startsWith("class,name,correct,total,accuracy"));
 * ```
 */
export function confusionCsvs(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  names: readonly string[],
): { perClass: string; confusion: string } {
  return matrixCsvs(confusionMatrix(labels, predictions, names.length), names);
}

/**
 * {@linkcode confusionCsvs} of a matrix already computed.
 *
 * @example
 * ```ts
 * import { matrixCsvs } from "./confusion.ts";
 * const { confusion } = matrixCsvs([[1, 0], [1, 1]], ["cat", "dog"]);
 * console.assert(confusion.split("\n")[1] === "cat,1,0");
 * ```
 */
export function matrixCsvs(
  m: ConfusionMatrix,
  names: readonly string[],
): { perClass: string; confusion: string } {
  return {
    perClass: toCsv(PER_CLASS_COLUMNS, perClassRows(m, names)),
    confusion: toCsv(["label", ...names], confusionRows(m, names)),
  };
}

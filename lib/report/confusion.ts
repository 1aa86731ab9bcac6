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
 * import assert from "node:assert/strict";
 * import { confusionMatrix } from "./confusion.ts";
 * const m = confusionMatrix(Uint8Array.of(0, 1, 1), Int32Array.of(0, 0, 1), 2);
 * assert.deepEqual(m, [[1, 0], [1, 1]]); // one class-1 example taken for class 0
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
 * import assert from "node:assert/strict";
 * import { perClassRows } from "./confusion.ts";
 * const rows = perClassRows([[1, 0], [1, 1]], ["cat", "dog"]);
 * assert.deepEqual(rows[1], { class: 1, name: "dog", correct: 1, total: 2, accuracy: 0.5 });
 * ```
 */
export function perClassRows(m: ConfusionMatrix, names: readonly string[]): Row[] {
  return m.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return { class: c, name: names[c], correct: row[c], total, accuracy: total ? row[c] / total : 0 };
  });
}

/**
 * `confusion.csv` rows: `label` (true class name) then one count column per predicted class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confusionRows } from "./confusion.ts";
 * const rows = confusionRows([[1, 0], [1, 1]], ["cat", "dog"]);
 * assert.deepEqual(rows, [{ label: "cat", cat: 1, dog: 0 }, { label: "dog", cat: 1, dog: 1 }]);
 * ```
 */
export function confusionRows(m: ConfusionMatrix, names: readonly string[]): Row[] {
  return m.map((row, c) => Object.fromEntries([["label", names[c]], ...row.map((v, p) => [names[p], v])]));
}

/**
 * `per_class.csv` and `confusion.csv` texts for predictions against labels,
 * with class `names` (one per class).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confusionCsvs } from "./confusion.ts";
 * const { perClass, confusion } = confusionCsvs(Uint8Array.of(0, 1), Int32Array.of(0, 0), ["cat", "dog"]);
 * assert.equal(perClass, "class,name,correct,total,accuracy\n0,cat,1,1,1\n1,dog,0,1,0\n");
 * assert.equal(confusion, "label,cat,dog\ncat,1,0\ndog,1,0\n");
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
 * import assert from "node:assert/strict";
 * import { matrixCsvs } from "./confusion.ts";
 * const { confusion } = matrixCsvs([[1, 0], [1, 1]], ["cat", "dog"]);
 * assert.equal(confusion, "label,cat,dog\ncat,1,0\ndog,1,1\n");
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

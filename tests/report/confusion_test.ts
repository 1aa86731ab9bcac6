import assert from "node:assert/strict";
import {
  confusionCsvs,
  confusionMatrix,
  confusionRows,
  PER_CLASS_COLUMNS,
  perClassRows,
} from "../../lib/report/confusion.ts";

// 3 classes; true labels against predictions:
//   class 0: 0->0, 0->0, 0->2        class 1: 1->1        class 2: 2->0, 2->1
const LABELS = Uint8Array.of(0, 0, 0, 1, 2, 2);
const PREDS = Int32Array.of(0, 0, 2, 1, 0, 1);
const M = [[2, 0, 1], [0, 1, 0], [1, 1, 0]];
const NAMES = ["cat", "dog", "eel"];

Deno.test("confusionMatrix() counts [true class][predicted class]", () => {
  assert.deepEqual(confusionMatrix(LABELS, PREDS, 3), M);
  assert.deepEqual(confusionMatrix([1, 1], [1, 1], 2), [[0, 0], [0, 2]]);
  assert.deepEqual(confusionMatrix([], [], 2), [[0, 0], [0, 0]]);
  // Rows are independent arrays.
  const m = confusionMatrix([0], [0], 2);
  m[0][0] = 9;
  assert.equal(m[1][0], 0);
});

Deno.test("confusionMatrix() rejects mismatched lengths", () => {
  assert.throws(() => confusionMatrix(Uint8Array.of(0, 1, 2), Int32Array.of(0, 1), 3), {
    name: "RangeError",
    message: "Got 3 labels but 2 predictions",
  });
});

Deno.test("confusionMatrix() names the example with an out-of-range label or prediction", () => {
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), {
    name: "RangeError",
    message: "Example 1 has label 3 and prediction 1: expected 0..2",
  });
  assert.throws(() => confusionMatrix([0, 1], [-1, 1], 3), {
    name: "RangeError",
    message: "Example 0 has label 0 and prediction -1: expected 0..2",
  });
  assert.throws(() => confusionMatrix([NaN], [0], 3), {
    name: "RangeError",
    message: "Example 0 has label NaN and prediction 0: expected 0..2",
  });
});

Deno.test("confusionMatrix() rejects fractional labels and predictions as out of range", () => {
  assert.throws(() => confusionMatrix([0.5], [0], 3), {
    name: "RangeError",
    message: "Example 0 has label 0.5 and prediction 0: expected 0..2",
  });
  assert.throws(() => confusionMatrix([0], [1.5], 3), {
    name: "RangeError",
    message: "Example 0 has label 0 and prediction 1.5: expected 0..2",
  });
});

Deno.test("perClassRows() gives correct, total and accuracy per class, 0 for an empty class", () => {
  assert.deepEqual(perClassRows(M, NAMES), [
    { class: 0, name: "cat", correct: 2, total: 3, accuracy: 2 / 3 },
    { class: 1, name: "dog", correct: 1, total: 1, accuracy: 1 },
    { class: 2, name: "eel", correct: 0, total: 2, accuracy: 0 },
  ]);
  assert.deepEqual(perClassRows([[0, 0], [0, 4]], ["a", "b"])[0], {
    class: 0,
    name: "a",
    correct: 0,
    total: 0,
    accuracy: 0,
  });
});

Deno.test("confusionRows() gives the true class name then one count per predicted class", () => {
  assert.deepEqual(confusionRows(M, NAMES), [
    { label: "cat", cat: 2, dog: 0, eel: 1 },
    { label: "dog", cat: 0, dog: 1, eel: 0 },
    { label: "eel", cat: 1, dog: 1, eel: 0 },
  ]);
});

Deno.test("confusionCsvs() writes per_class.csv and confusion.csv texts", () => {
  const { perClass, confusion } = confusionCsvs(LABELS, PREDS, NAMES);
  assert.equal(PER_CLASS_COLUMNS.join(","), "class,name,correct,total,accuracy");
  assert.equal(
    perClass,
    "class,name,correct,total,accuracy\n0,cat,2,3,0.666667\n1,dog,1,1,1\n2,eel,0,2,0\n",
  );
  assert.equal(confusion, "label,cat,dog,eel\ncat,2,0,1\ndog,0,1,0\neel,1,1,0\n");
});

Deno.test("confusionCsvs() checks labels against the number of names", () => {
  assert.throws(() => confusionCsvs([0, 2], [0, 0], ["a", "b"]), {
    name: "RangeError",
    message: "Example 1 has label 2 and prediction 0: expected 0..1",
  });
  assert.throws(() => confusionCsvs([0], [], ["a", "b"]), {
    name: "RangeError",
    message: "Got 1 labels but 0 predictions",
  });
});

import assert from "node:assert/strict";
import { XMLValidator } from "fast-xml-parser";
import { type RunSnapshot, runState } from "../../lib/report/run_state.ts";
import { isServedName, type RunView, watchView } from "../../lib/report/watch_view.ts";
import { exp1Files, exp2Files, type FolderFiles, liveExp2Files } from "./run_folder_fixtures.ts";

const T0 = Date.parse("2025-01-02T03:04:05.000Z");

function view(files: FolderFiles, options: { extra?: string[]; now?: number; index?: number } = {}): RunView {
  const texts: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) if (text !== null) texts[name] = text;
  const names = [...Object.keys(texts), ...(options.extra ?? [])];
  const snapshot: RunSnapshot = {
    names,
    texts,
    mtimes: Object.fromEntries(names.map((n) => [n, T0 + 60_000])),
  };
  return watchView(runState(snapshot, { now: options.now ?? T0 + 61_000 }), {
    index: options.index ?? 0,
    dir: "runs/x",
  });
}

/** The hover titles of a chart's dots, in drawing order. */
const dotTitles = (svg: string) =>
  [...svg.matchAll(/<circle [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);
/** Points of the curve titled `name`. */
const curvePoints = (svg: string, name: string) => {
  const m = svg.match(new RegExp(`<path d="([^"]*)"[^>]*><title>${name}</title>`));
  return m ? m[1].split(/[ML]/).filter(Boolean).length : -1;
};

Deno.test("watchView() shows a running exp2 run: figures, progress, charts and the epoch table", () => {
  const v = view(liveExp2Files({ done: 2, step: 26, started: new Date(T0).toISOString() }));
  assert.equal(v.title, "Lab 2 · ResNet20 on CIFAR-10");
  assert.equal(v.status, "running");
  assert.deepEqual(v.figures.map((f) => [f.label, f.value, f.note]), [
    ["Epoch", "3 / 4", "LR 0.01 (stage 2/2)"],
    ["Test accuracy", "35.00%", "after epoch 2"],
    ["Train loss", "1.16", "step 26"],
    ["Train accuracy", "53.33%", "step 26"],
    ["Speed", "100 img/s", "epoch 2: 6 s"],
  ]);
  assert.deepEqual(v.bars.map((b) => b.label), ["Epoch 3 of 4", "Whole run: 4 epochs"]);
  assert.ok(Math.abs(v.bars[0].fraction! - 0.6) < 1e-12);
  assert.equal(v.bars[1].fraction, 26 / 40);
  assert.equal(v.etaAt, T0 + 60_000 + 60_000 / 26 * 14);
  assert.deepEqual(v.charts.map((c) => c.id), ["run0-loss", "run0-accuracy"]);
  for (const c of v.charts) assert.equal(XMLValidator.validate(c.svg), true, c.id);
  const acc = v.charts[1].svg;
  assert.deepEqual(dotTitles(acc), [
    "test, per epoch: epoch 1, accuracy (%) 25",
    "test, per epoch: epoch 2, accuracy (%) 35",
    "train, per epoch: epoch 1, accuracy (%) 30",
    "train, per epoch: epoch 2, accuracy (%) 40",
  ]);
  assert.equal(curvePoints(acc, "train, per step"), 13);
  assert.equal(curvePoints(v.charts[0].svg, "train, per step"), 13);
  // The LR stages are marked where they start.
  assert.ok(acc.includes(">LR 0.1</text>") && acc.includes(">LR 0.01</text>"));
  assert.deepEqual(v.tables[0].rows, [
    ["1", "0.1", "1.7000", "30.00%", "1.8000", "25.00%", "6.4", "100"],
    ["2", "0.1", "1.4000", "40.00%", "1.5000", "35.00%", "6.4", "100"],
  ]);
  assert.equal(v.tables[0].highlight, 1);
  assert.equal(v.matrix, null);
  assert.deepEqual(v.files.map((f) => f.href), [
    "/runs/0/metrics.csv",
    "/runs/0/run.json",
    "/runs/0/steps.csv",
  ]);
  assert.deepEqual(v.details.slice(0, 2), [
    ["started", "2025-01-02 03:04:05 UTC"],
    ["command", "deno task exp2 --schedule 0.1:2,0.01:2 --limit-train 640 --limit-test 100 --batch-size 64"],
  ]);
  assert.ok(v.config.some(([k, val]) => k === "schedule" && val === "0.1:2,0.01:2"));
});

Deno.test("watchView() says when an epoch's steps are done and the test set is being evaluated", () => {
  const v = view(liveExp2Files({ done: 1, step: 20 }));
  assert.equal(v.bars[0].label, "Epoch 2 of 4: evaluating on the test set");
});

Deno.test("watchView() shows a finished exp2 run with per-class accuracy and the confusion matrix", () => {
  const v = view(exp2Files(), { extra: ["final.safetensors", "checkpoints"], index: 2 });
  assert.equal(v.status, "finished");
  assert.equal(v.bars[0].label, "All 3 epochs done");
  assert.deepEqual(v.charts.map((c) => c.id), ["run2-loss", "run2-accuracy", "run2-per-class"]);
  assert.equal(v.matrix?.labels[0], "airplane");
  assert.equal(v.matrix?.values[0][0], 1);
  assert.ok(!v.files.some((f) => f.name === "final.safetensors" || f.name === "checkpoints"));
});

Deno.test("watchView() shows an exp1 study: runs, loss per epoch and the fitted curves", () => {
  const v = view(exp1Files());
  assert.equal(v.title, "Lab 1 · learning-rate study, f(x) = x^2");
  assert.deepEqual(v.charts.map((c) => c.id), ["run0-loss", "run0-fit"]);
  const fit = v.charts[1].svg;
  // The diverged run has no curve; the others do.
  assert.ok(fit.includes("<title>lr-0.1</title>") && !fit.includes("<title>lr-1</title>"));
  assert.deepEqual(v.tables[0].rows.slice(0, 3).map((r) => [r[0], r[5], r[7]]), [
    ["lr-1", "–", "diverged at epoch 2"],
    ["lr-0.1", "0.03", "ok"],
    ["lr-0.01", "0.25", "ok"],
  ]);
  assert.equal(v.tables[0].highlight, 1);
  assert.deepEqual(v.figures.find((f) => f.label === "Best test MSE"), {
    label: "Best test MSE",
    value: "0.03",
    note: "lr-0.1",
  });
});

Deno.test("watchView() of a folder with nothing yet has a reason and no charts", () => {
  const v = view({});
  assert.equal(v.status, "waiting");
  assert.equal(v.charts.length, 0);
  assert.match(v.reason!, /^no run\.json yet/);
});

Deno.test("isServedName() allows the run's text files and images, nothing hidden, binary or temporary", () => {
  for (const name of ["metrics.csv", "run.json", "fit.svg", "notes.md", "a.png", "lr-0.1.csv"]) {
    assert.ok(isServedName(name), name);
  }
  for (
    const name of [
      ".env",
      "final.safetensors",
      "model.pth",
      "metrics.csv.tmp-12-abcd1234",
      "run.JSON",
      "checkpoints",
      "a/b.csv",
      "",
    ]
  ) {
    assert.ok(!isServedName(name), name);
  }
});

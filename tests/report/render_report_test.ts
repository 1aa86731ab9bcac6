import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { CLASS_NAMES } from "../../lib/data/cifar.ts";
import { runColor } from "../../lib/report/line_chart.ts";
import { chartSlugs, renderReport, thin } from "../../lib/report/render_report.ts";
import type { Exp1Folder, Exp2Folder } from "../../lib/report/run_folder.ts";
import { exp1Run } from "./run_folder_fixtures.ts";

type Node = Record<string, unknown>;
const asList = (v: unknown): Node[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]) as Node[];

/** Checks that `svg` is well-formed XML and returns its root `<svg>` element. */
function parseSvg(svg: string): Node {
  assert.equal(XMLValidator.validate(svg), true);
  return new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(svg).svg as Node;
}
const texts = (svg: string) => asList(parseSvg(svg).text).map((t) => String(t["#text"] ?? ""));
const pathCount = (svg: string) => asList(parseSvg(svg).path).length;

/** Asserts that `text` contains each of `parts`. */
function assertIncludes(text: string, parts: string[]) {
  for (const part of parts) assert.ok(text.includes(part), `missing: ${part}`);
}

const VERSIONS = { toolkit: "0.1.0", deno: "2.9.6", tfjs: "4.22.0" };

function exp1(over: Partial<Exp1Folder> = {}): Exp1Folder {
  return {
    lab: "exp1",
    dir: "runs/lr",
    info: {
      lab: "exp1",
      started: "2025-01-02T03:04:05.000Z",
      command: "deno task exp1 --study lr",
      backend: "cpu",
      device: "cpu: test",
      backendReason: "auto: small model",
      versions: VERSIONS,
      config: { fit: { epochs: 2, hidden: [3] }, fn: "x^2", study: "lr" },
    },
    fn: "x^2",
    study: "lr",
    runs: [
      exp1Run("lr-1", {
        lr: 1,
        trainMse: NaN,
        testMse: NaN,
        divergedEpoch: 2,
        loss: [50],
        fit: null,
        seconds: 0.5,
      }),
      exp1Run("lr-0.1"),
      exp1Run("lr-0.01", {
        lr: 0.01,
        trainMse: 0.2,
        testMse: 0.25,
        loss: [0.9, 0.2],
        fit: [0.5, 0.3, 0.6],
        seconds: 1.5,
      }),
    ],
    grid: [-1, 0, 1],
    truth: [1, 0, 1],
    ...over,
  };
}

function exp2(over: Partial<Exp2Folder> = {}): Exp2Folder {
  const epoch = (e: number, lr: number, trainAcc: number, testAcc: number) => ({
    epoch: e,
    lr,
    trainLoss: 2 - e / 2,
    trainAcc,
    testLoss: 2.1 - e / 2,
    testAcc,
    epochSeconds: 10,
    imagesPerSecond: 5000,
  });
  return {
    lab: "exp2",
    dir: "runs/full",
    info: {
      lab: "exp2",
      started: "2025-01-02T03:04:05.000Z",
      command: "deno task exp2",
      backend: "native",
      device: "cpu: test",
      versions: VERSIONS,
      config: { schedule: "0.1:2,0.01:1", batchSize: 128, momentum: 0.9, weightDecay: 0.0001 },
      parameters: 269722,
      trainImages: 100,
      testImages: 20,
      startEpoch: 1,
    },
    stages: [{ lr: 0.1, epochs: 2 }, { lr: 0.01, epochs: 1 }],
    epochs: [epoch(1, 0.1, 0.3, 0.35), epoch(2, 0.1, 0.45, 0.6), epoch(3, 0.01, 0.55, 0.5)],
    perClass: CLASS_NAMES.map((name, index) => ({ index, name, correct: 1, total: 2, accuracy: 0.5 })),
    // Class k's wrong image is taken for class (k + 1) % 10; cat's both for dog.
    confusion: CLASS_NAMES.map((_, i) => CLASS_NAMES.map((_, j) => (j === i || j === (i + 1) % 10 ? 1 : 0))),
    ...over,
  };
}

Deno.test("renderReport() writes Lab 1's summary table, divergence line and three charts", () => {
  const { markdown, charts } = renderReport([exp1()]);
  assert.ok(markdown.startsWith("# Lab report\n"));
  assertIncludes(markdown, [
    "## Lab 1: fitting f(x) with a small MLP",
    "### Learning-rate study: `runs/lr`",
    "Learning-rate study: LR 1, 0.1, 0.01, fitting f(x) = `x^2`.",
    "| lr-1 | 2 | 1 | adam | n/a | n/a | 0.5 | diverged at epoch 2 |",
    "| lr-0.1 | 2 | 0.1 | adam | 0.02 | 0.03 | 1.3 | ok |",
    "Diverged (loss not finite): lr-1 at epoch 2.",
    "Lowest test MSE: lr-0.1 (0.03).",
    "| Lab 1 | `runs/lr` | Learning-rate study: LR 1, 0.1, 0.01 | " +
    "lowest test MSE 0.03 (lr-0.1); diverged: lr-1 |",
    "Not drawn in the fitted curves: lr-1 (diverged, no model to evaluate).",
  ]);
  assert.deepEqual(charts.map((c) => c.path), [
    "report-files/lr-fit.svg",
    "report-files/lr-error.svg",
    "report-files/lr-loss.svg",
  ]);
  for (const c of charts) assert.ok(markdown.includes(`](${c.path})`), c.path);
  const [fit, error, loss] = charts.map((c) => c.svg);
  // The true f and the two runs that did not diverge.
  assert.equal(pathCount(fit), 3);
  assert.ok(texts(fit).includes("true f(x)") && !texts(fit).includes("lr-1"));
  assert.equal(pathCount(error), 2);
  // A diverged run is named as such: a note in the fit chart, "(diverged)" on its loss curve.
  assert.ok(texts(fit).includes("lr-1: diverged at epoch 2, no fit"));
  assert.ok(texts(loss).includes("lr-1 (diverged)") && texts(loss).includes("training MSE (log scale)"));
  assert.ok(texts(loss).includes("epoch"));
  // One colour per run across the study's charts: run k is runColor(k) everywhere.
  for (const svg of [fit, error, loss]) {
    assert.ok(svg.includes(`stroke="${runColor(1)}"`), "lr-0.1 in its colour");
    assert.ok(svg.includes(`stroke="${runColor(2)}"`), "lr-0.01 in its colour");
  }
  assert.ok(loss.includes(`stroke="${runColor(0)}"`) && !fit.includes(`stroke="${runColor(0)}"`));
});

Deno.test("renderReport() says when no run diverged", () => {
  const runs = [exp1Run("lr-0.1"), exp1Run("lr-0.01")];
  assert.ok(renderReport([exp1({ runs })]).markdown.includes("None of the 2 runs diverged."));
  const one = renderReport([exp1({ runs: [exp1Run("e2-lr0.1")], study: null })]).markdown;
  assert.ok(one.includes("### Single run: `runs/lr`"));
  assert.ok(one.includes("The run did not diverge."));
  assert.ok(one.includes("| Lab 1 | `runs/lr` | Single run: 2 epochs at LR 0.1 | test MSE 0.03 |"));
  assert.ok(!one.includes("Lowest test MSE"));
});

Deno.test("renderReport() puts runs of very different lengths on a log10 epoch axis", () => {
  const runs = [
    exp1Run("epochs-2"),
    exp1Run("epochs-40", { epochs: 40, loss: Array.from({ length: 40 }, (_, i) => 1 / (i + 1)) }),
  ];
  const { charts } = renderReport([exp1({ runs, study: "epochs" })]);
  const loss = charts.find((c) => c.path.endsWith("-loss.svg"))!.svg;
  assert.ok(texts(loss).includes("epoch, log10 scale (0 = epoch 1, 2 = 100, 4 = 10,000)"));
});

Deno.test("renderReport() shows each run's config, backend, device, versions and wall time", () => {
  const md = renderReport([exp1()]).markdown;
  assertIncludes(md, [
    "| folder | `runs/lr` |",
    "| started | 2025-01-02T03:04:05.000Z |",
    "| wall time | 3.3 s (training time, the sum of `seconds` over 3 runs in `summary.csv`) |",
    "| command | `deno task exp1 --study lr` |",
    "| backend | cpu (auto: small model) |",
    "| device | cpu: test |",
    "| versions | toolkit 0.1.0, deno 2.9.6, tfjs 4.22.0 |",
    "| `fit.hidden` | `[3]` |",
    "| `study` | `lr` |",
  ]);
  const bare = renderReport([exp1({ info: { lab: "exp1", config: {} } })]).markdown;
  assert.ok(bare.includes("| device | not recorded |"));
});

Deno.test("renderReport() writes Lab 2's epochs, accuracy chart with LR stages, per-class accuracy and confusion", () => {
  const { markdown, charts } = renderReport([exp2()]);
  assertIncludes(markdown, [
    "## Lab 2: ResNet20 on CIFAR-10",
    "**Final test accuracy: 50.00%** after epoch 3 of 3 (best 60.00% at epoch 2).",
    "Schedule `0.1:2,0.01:1`: LR 0.1 for epochs 1-2, then LR 0.01 for epoch 3. 100 training and 20 test images, " +
    "269,722 parameters, batch size 128, SGD momentum 0.9, weight decay 0.0001.",
    "| 3 | 0.01 | 0.5000 | 55.00% | 0.6000 | 50.00% | 10.0 | 5000 |",
    "| cat | 1 | 2 | 50.00% |",
    "| **all** | 10 | 20 | 50.00% |",
    `| true \\ predicted | ${CLASS_NAMES.join(" | ")} |`,
    "| **truck** | 1 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | **1** |",
    "Most frequent mistake: airplane taken for automobile (1 of 2 airplane images).",
    "| wall time | 30.0 s (training passes only, the sum of `epoch_seconds` over 3 epochs) |",
  ]);
  assert.deepEqual(charts.map((c) => c.path), [
    "report-files/full-accuracy.svg",
    "report-files/full-per-class.svg",
  ]);
  const acc = texts(charts[0].svg);
  assert.ok(acc.includes("Train and test accuracy per epoch (LR 0.1 from epoch 1)"));
  assert.ok(acc.includes("LR 0.01") && acc.includes("accuracy (%)"));
  const bars = texts(charts[1].svg);
  for (const name of CLASS_NAMES) assert.ok(bars.includes(name), name);
});

Deno.test("renderReport() notes a Lab 2 run without per-class accuracy or confusion matrix", () => {
  const { markdown, charts } = renderReport([
    exp2({ perClass: null, confusion: null, epochs: exp2().epochs.slice(0, 2) }),
  ]);
  assertIncludes(markdown, [
    "Not available: `runs/full` has no `per_class.csv`",
    "Not available: `runs/full` has no `confusion.csv`",
    "The run stopped after epoch 2 of the schedule's 3.",
  ]);
  assert.deepEqual(charts.map((c) => c.path), ["report-files/full-accuracy.svg"]);
});

Deno.test("renderReport() puts Lab 1 before Lab 2 and names charts uniquely per folder", () => {
  const { markdown, charts } = renderReport(
    [exp2(), exp1({ dir: "a/run" }), exp1({ dir: "b/run" })],
    { filesDir: "out-files/", generated: "2025-02-03T00:00:00Z" },
  );
  assert.ok(markdown.includes("Made by `deno task report` on 2025-02-03T00:00:00Z from 3 run folders."));
  assert.ok(markdown.indexOf("## Lab 1") < markdown.indexOf("## Lab 2"));
  const paths = charts.map((c) => c.path);
  assert.equal(new Set(paths).size, paths.length);
  assert.ok(paths.includes("out-files/run-fit.svg") && paths.includes("out-files/run-2-fit.svg"));
  assert.ok(paths.includes("out-files/full-accuracy.svg"));
});

Deno.test("renderReport() escapes pipes in table cells", () => {
  const md = renderReport([exp1({ dir: "runs/a|b", runs: [exp1Run("lr-0.1")] })]).markdown;
  assert.ok(md.includes("| folder | `runs/a\\|b` |"));
  assert.ok(md.includes("### Learning-rate study: `runs/a|b`"));
});

Deno.test("chartSlugs() makes file-name-safe, unique names from folder paths", () => {
  assert.deepEqual(chartSlugs(["runs/a/", "b/a", "x y", ".", "../..", "c\\d", "a"]), [
    "a",
    "a-2",
    "x-y",
    "run",
    "run-2",
    "d",
    "a-3",
  ]);
});

Deno.test("thin() keeps short curves and cuts long ones, keeping extremes and the last point", () => {
  assert.deepEqual(thin([1, 2, 3], [3, 2, 1], { maxPoints: 10 }), [[1, 2, 3], [3, 2, 1]]);
  const n = 10_000;
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const y = x.map((v) => 1 / v);
  y[5000] = 99; // a spike
  y[7000] = -1; // a dip
  const [tx, ty] = thin(x, y, { maxPoints: 300 });
  assert.ok(tx.length <= 301, String(tx.length));
  assert.equal(tx.length, ty.length);
  assert.equal(tx[0], 1);
  assert.equal(tx.at(-1), n);
  assert.ok(ty.includes(99) && ty.includes(-1));
  for (let i = 1; i < tx.length; i++) assert.ok(tx[i] > tx[i - 1]);
  for (let i = 0; i < tx.length; i++) assert.equal(ty[i], y[tx[i] - 1]);
});

/**
 * The lab report: one Markdown document over any number of run folders, Lab
 * 1's studies (summary table, fitted curves over the true f(x), loss curves,
 * which runs diverged) and Lab 2's runs (per-epoch table, accuracy trend with
 * the learning-rate stages marked, final and per-class test accuracy, the
 * confusion matrix), each with its config, backend, device, versions and wall
 * time. Charts are redrawn from the CSVs, never copied. Pure: parsed run
 * folders in, Markdown and SVG text out.
 *
 * @module
 */
import { accuracyChart } from "./accuracy_chart.ts";
import { barChart } from "./bar_chart.ts";
import { lineChart, runColor, type Series } from "./line_chart.ts";
import { CLASS_NAMES } from "../data/cifar.ts";
import type { Exp1Folder, Exp1Run, Exp2Folder, RunFolder, RunJson } from "./run_folder.ts";
import { formatSchedule, stageStarts, totalEpochs } from "../train/schedule.ts";

/** A chart file of the report. */
export interface ReportChart {
  /** Where it goes, relative to the report, e.g. `report-files/r_lr-fit.svg`. */
  path: string;
  /** The SVG document. */
  svg: string;
}

/** The report: its Markdown and the charts it links to. */
export interface Report {
  /** The report's text. */
  markdown: string;
  /** The charts it links to, to be written next to it. */
  charts: ReportChart[];
}

/** Options for {@linkcode renderReport}. */
export interface RenderReportOptions {
  /** Folder of the charts, relative to the report. @default {"report-files"} */
  filesDir?: string;
  /** When the report was made, shown in its header; left out when absent. */
  generated?: string;
  /** Most points drawn per curve; longer curves keep each stretch's minimum and maximum. @default {1500} */
  maxPoints?: number;
}

const STUDY_TITLES = {
  epochs: "Epochs study",
  lr: "Learning-rate study",
  single: "Single run",
} as const;

/**
 * Renders the report for `folders` (as read by `readRunFolder`), Lab 1 first,
 * each lab's folders in the order given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderReport } from "./render_report.ts";
 * // One Lab 2 folder as readRunFolder() returns it.
 * const { markdown, charts } = renderReport([{
 *   lab: "exp2", dir: "runs/a",
 *   info: { lab: "exp2", config: { schedule: "0.1:1" } },
 *   stages: [{ lr: 0.1, epochs: 1 }],
 *   epochs: [{
 *     epoch: 1, lr: 0.1, trainLoss: 2, trainAcc: 0.3, testLoss: 1.9, testAcc: 0.35,
 *     epochSeconds: 10, imagesPerSecond: 5000,
 *   }],
 *   perClass: null, confusion: null,
 * }]);
 * assert.match(markdown, /final test accuracy 35\.00%/);
 * assert.deepEqual(charts.map((c) => c.path), ["report-files/a-accuracy.svg"]);
 * assert.match(markdown, /!\[.*\]\(report-files\/a-accuracy\.svg\)/); // the link to it
 * ```
 */
export function renderReport(folders: readonly RunFolder[], options: RenderReportOptions = {}): Report {
  const filesDir = (options.filesDir ?? "report-files").replace(/\/+$/, "");
  const maxPoints = options.maxPoints ?? 1500;
  const slugs = chartSlugs(folders.map((f) => f.dir));
  const charts: ReportChart[] = [];
  const chart = (slug: string, kind: string, svg: string, alt: string): string => {
    const path = `${filesDir}/${slug}-${kind}.svg`;
    charts.push({ path, svg });
    return `![${alt}](${encodeURI(path)})`;
  };

  const lab1 = folders.map((f, i) => ({ f, slug: slugs[i] })).filter((e) => e.f.lab === "exp1");
  const lab2 = folders.map((f, i) => ({ f, slug: slugs[i] })).filter((e) => e.f.lab === "exp2");
  const md: string[] = ["# Lab report", ""];
  md.push(
    `Made by \`deno task report\`${options.generated ? ` on ${options.generated}` : ""} from ` +
      `${plural(folders.length, "run folder")}. Tables and charts are redrawn from each folder's ` +
      "`run.json` and CSV files.",
    "",
  );
  md.push("| lab | run folder | what | result |", "| --- | --- | --- | --- |");
  for (const { f } of [...lab1, ...lab2]) {
    md.push(
      `| ${f.lab === "exp1" ? "Lab 1" : "Lab 2"} | ${code(f.dir)} | ${cell(what(f))} | ${
        cell(headline(f))
      } |`,
    );
  }
  md.push("");

  if (lab1.length) {
    md.push("## Lab 1: fitting f(x) with a small MLP", "");
    for (const { f, slug } of lab1) md.push(...exp1Section(f as Exp1Folder, slug, chart, maxPoints));
  }
  if (lab2.length) {
    md.push("## Lab 2: ResNet20 on CIFAR-10", "");
    for (const { f, slug } of lab2) md.push(...exp2Section(f as Exp2Folder, slug, chart));
  }
  return { markdown: md.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n", charts };
}

type ChartFn = (slug: string, kind: string, svg: string, alt: string) => string;

function exp1Section(f: Exp1Folder, slug: string, chart: ChartFn, maxPoints: number): string[] {
  const md: string[] = [`### ${STUDY_TITLES[f.study ?? "single"]}: ${code(f.dir, false)}`, ""];
  md.push(`${what(f)}, fitting f(x) = ${code(f.fn, false)}.`, "");
  md.push(
    "| run | epochs | LR | optimizer | train MSE | test MSE | time (s) | status |",
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |",
  );
  for (const r of f.runs) {
    md.push(
      `| ${cell(r.name)} | ${r.epochs} | ${r.lr} | ${cell(r.optimizer)} | ${num(r.trainMse)} | ` +
        `${num(r.testMse)} | ${r.seconds.toFixed(1)} | ${
          r.divergedEpoch === null ? "ok" : `diverged at epoch ${r.divergedEpoch}`
        } |`,
    );
  }
  md.push(
    "",
    "Train MSE is over the training samples after the last epoch; test MSE over the dense grid of `fit.csv`.",
    "",
  );
  md.push(divergence(f), "");
  const best = bestRun(f);
  if (best && f.runs.length > 1) md.push(`Lowest test MSE: ${cell(best.name)} (${num(best.testMse)}).`, "");

  const names = f.runs.map((r) => r.name).join(", ");
  const fitted = f.runs.filter((r) => r.fit !== null);
  // One colour per run in every chart of the study; a diverged run is named as such, never an empty entry.
  const color = (r: Exp1Run) => runColor(f.runs.indexOf(r));
  const notes = f.runs.filter((r) => r.fit === null).map((r) =>
    `${r.name}: diverged at epoch ${r.divergedEpoch}, no fit`
  );
  md.push(
    chart(
      slug,
      "fit",
      lineChart({
        title: `Fitted curves over the true f(x)`,
        xLabel: "x",
        yLabel: "f(x)",
        series: [
          { name: "true f(x)", x: f.grid, y: f.truth, dashed: true, color: "#000000" },
          ...fitted.map((r) => ({ name: r.name, x: f.grid, y: r.fit!, color: color(r) })),
        ],
        notes,
      }),
      `Fitted curves of ${names} over the true f(x)`,
    ),
    "",
  );
  if (fitted.length) {
    // Good fits hide each other in the chart above; their errors do not.
    md.push(
      chart(
        slug,
        "error",
        lineChart({
          title: "Error of each fit, |model(x) - f(x)|",
          xLabel: "x",
          yLabel: "absolute error",
          logY: true,
          series: fitted.map((r) => {
            const [x, y] = thin(f.grid, r.fit!.map((v, i) => Math.abs(v - f.truth[i])), { maxPoints });
            return { name: r.name, x, y, color: color(r) };
          }),
          notes,
        }),
        `Absolute error of ${fitted.map((r) => r.name).join(", ")} against the true f(x), log scale`,
      ),
      "",
    );
  }
  // Runs of 100 to 50,000 epochs share a chart only on a log epoch axis.
  const lengths = f.runs.map((r) => r.loss.length).filter((n) => n > 0);
  const logX = lengths.length > 1 && Math.max(...lengths) >= 10 * Math.min(...lengths);
  const losses: Series[] = f.runs.filter((r) => r.loss.length > 0).map((r) => {
    const epochs = r.loss.map((_, i) => (logX ? Math.log10(i + 1) : i + 1));
    const [x, y] = thin(epochs, r.loss, { maxPoints });
    return { name: r.divergedEpoch === null ? r.name : `${r.name} (diverged)`, x, y, color: color(r) };
  });
  const lossNotes = f.runs.filter((r) => r.loss.length === 0).map((r) =>
    `${r.name}: diverged at epoch ${r.divergedEpoch}`
  );
  md.push(
    chart(
      slug,
      "loss",
      lineChart({
        title: "Training loss per epoch",
        xLabel: logX ? "epoch, log10 scale (0 = epoch 1, 2 = 100, 4 = 10,000)" : "epoch",
        yLabel: "training MSE",
        series: losses,
        logY: true,
        notes: lossNotes,
      }),
      `Training loss per epoch of ${names}, log scale`,
    ),
    "",
  );
  const notDrawn = f.runs.filter((r) => r.divergedEpoch !== null).map((r) => r.name);
  if (notDrawn.length) {
    md.push(
      `Not drawn in the fitted curves: ${notDrawn.map(cell).join(", ")} (diverged, no model to evaluate).`,
      "",
    );
  }
  md.push(...details(f.info, f.dir, [
    `${f.runs.reduce((s, r) => s + r.seconds, 0).toFixed(1)} s`,
    `training time, the sum of \`seconds\` over ${plural(f.runs.length, "run")} in \`summary.csv\``,
  ]));
  return md;
}

function exp2Section(f: Exp2Folder, slug: string, chart: ChartFn): string[] {
  // A diverged run's last row has no accuracy: the result is the epoch before it.
  const last = f.epochs.findLast((e) => Number.isFinite(e.testAcc)) ?? f.epochs.at(-1)!;
  const best = f.epochs.reduce((a, b) => (b.testAcc > a.testAcc ? b : a));
  const info = f.info;
  const planned = totalEpochs(f.stages);
  const md: string[] = [`### ${code(f.dir, false)}`, ""];
  md.push(
    `**Final test accuracy: ${pct(last.testAcc)}** after epoch ${last.epoch} of ${planned}` +
      (best.epoch !== last.epoch ? ` (best ${pct(best.testAcc)} at epoch ${best.epoch})` : "") + ".",
    "",
  );
  const facts: string[] = [];
  if (typeof info.trainImages === "number" && typeof info.testImages === "number") {
    facts.push(`${info.trainImages} training and ${info.testImages} test images`);
  }
  if (typeof info.parameters === "number") {
    facts.push(`${info.parameters.toLocaleString("en-US")} parameters`);
  }
  const c = info.config;
  if (typeof c.batchSize === "number") facts.push(`batch size ${c.batchSize}`);
  if (typeof c.momentum === "number") facts.push(`SGD momentum ${c.momentum}`);
  if (typeof c.weightDecay === "number") facts.push(`weight decay ${c.weightDecay}`);
  const starts = stageStarts(f.stages);
  const stages = f.stages.map((s, i) => {
    const start = starts[i].epoch, end = start + s.epochs - 1;
    return `LR ${s.lr} for epoch${start === end ? ` ${start}` : `s ${start}-${end}`}`;
  });
  md.push(
    `Schedule ${code(formatSchedule(f.stages), false)}: ${stages.join(", then ")}.` +
      (facts.length ? ` ${cap(facts.join(", "))}.` : ""),
    "",
  );
  const inherited = f.epochs.filter((e) => e.inheritedFrom);
  if (inherited.length) {
    md.push(
      `Epochs 1-${inherited.at(-1)!.epoch} were inherited: trained into ${
        code(inherited[0].inheritedFrom!, false)
      }, the weights this run started from (\`--init\`); this run trained epochs ${
        inherited.length + 1
      }-${last.epoch}.`,
      "",
    );
  }
  if (f.divergedEpoch) {
    md.push(
      `**The run diverged in epoch ${f.divergedEpoch}** (its training loss was not finite): it stopped there, and no ` +
        `weights were written for that epoch.`,
      "",
    );
  } else if (last.epoch < planned) {
    md.push(`The run stopped after epoch ${last.epoch} of the schedule's ${planned}.`, "");
  }

  md.push(
    "| epoch | LR | train loss | train acc | test loss | test acc | time (s) | images/s |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const e of f.epochs) {
    md.push(
      `| ${e.epoch} | ${e.lr} | ${e.trainLoss.toFixed(4)} | ${pct(e.trainAcc)} | ${
        e.testLoss.toFixed(4)
      } | ` +
        `${pct(e.testAcc)} | ${e.epochSeconds.toFixed(1)} | ${e.imagesPerSecond.toFixed(0)} |`,
    );
  }
  md.push(
    "",
    "Loss is cross-entropy per image; train loss and accuracy are averaged over the epoch's augmented " +
      "batches, test ones measured after it. Time is the training pass only.",
    "",
  );
  md.push(
    chart(
      slug,
      "accuracy",
      accuracyChart(
        f.epochs.map((e) => ({ epoch: e.epoch, train_acc: e.trainAcc, test_acc: e.testAcc })),
        f.stages,
      ),
      "Train and test accuracy per epoch, with the learning-rate stages marked",
    ),
    "",
  );

  md.push("#### Per-class test accuracy", "");
  if (f.perClass) {
    const correct = f.perClass.reduce((n, p) => n + p.correct, 0);
    const total = f.perClass.reduce((n, p) => n + p.total, 0);
    md.push(
      chart(
        slug,
        "per-class",
        barChart({
          title: "Test accuracy per class (final model)",
          valueLabel: "test accuracy (%)",
          range: [0, 100],
          format: (v) => v.toFixed(1),
          tickFormat: (v) => String(v),
          bars: f.perClass.map((p) => ({ label: p.name, value: 100 * p.accuracy })),
        }),
        "Test accuracy per class of the final model",
      ),
      "",
    );
    md.push("| class | correct | images | accuracy |", "| --- | ---: | ---: | ---: |");
    for (const p of f.perClass) md.push(`| ${p.name} | ${p.correct} | ${p.total} | ${pct(p.accuracy)} |`);
    md.push(`| **all** | ${correct} | ${total} | ${pct(total ? correct / total : 0)} |`, "");
  } else {
    md.push(
      `Not available: ${code(f.dir, false)} has no \`per_class.csv\` (written by exp2 runs that finish).`,
      "",
    );
  }

  md.push("#### Confusion matrix", "");
  if (f.confusion) {
    md.push(
      "Test images of the final model: rows are the true class, columns the predicted one; " +
        "the diagonal (bold) counts correct predictions.",
      "",
      `| true \\ predicted | ${CLASS_NAMES.join(" | ")} |`,
      `| --- |${" ---: |".repeat(CLASS_NAMES.length)}`,
    );
    f.confusion.forEach((row, i) => {
      md.push(
        `| **${CLASS_NAMES[i]}** | ${row.map((v, j) => (i === j ? `**${v}**` : String(v))).join(" | ")} |`,
      );
    });
    md.push("");
    const worst = mostConfused(f.confusion);
    if (worst) {
      md.push(
        `Most frequent mistake: ${CLASS_NAMES[worst.true]} taken for ${CLASS_NAMES[worst.predicted]} ` +
          `(${worst.count} of ${f.confusion[worst.true].reduce((a, b) => a + b, 0)} ${
            CLASS_NAMES[worst.true]
          } images).`,
        "",
      );
    }
  } else {
    md.push(
      `Not available: ${code(f.dir, false)} has no \`confusion.csv\` (written by exp2 runs that finish).`,
      "",
    );
  }

  const resumed = typeof info.startEpoch === "number" && info.startEpoch > 1
    ? `; the last session resumed at epoch ${info.startEpoch}`
    : "";
  md.push(...details(info, f.dir, [
    `${f.epochs.reduce((s, e) => s + e.epochSeconds, 0).toFixed(1)} s`,
    `training passes only, the sum of \`epoch_seconds\` over ${plural(f.epochs.length, "epoch")}${resumed}`,
  ]));
  return md;
}

/** The run's provenance: folder, start, wall time, command, backend, device, versions, config. */
function details(info: RunJson, dir: string, wall: [string, string]): string[] {
  const versions = Object.entries(info.versions ?? {}).map(([k, v]) => `${k} ${String(v)}`).join(", ");
  const md = [
    "#### Run details",
    "",
    "| | |",
    "| --- | --- |",
    `| folder | ${code(dir)} |`,
    `| started | ${info.started ? cell(info.started) : "not recorded"} |`,
    `| wall time | ${wall[0]} (${wall[1]}) |`,
    `| command | ${info.command ? code(info.command) : "not recorded"} |`,
    `| backend | ${info.backend ? cell(info.backend) : "not recorded"}` +
    `${info.backendReason ? ` (${cell(info.backendReason)})` : ""} |`,
    `| device | ${info.device ? cell(info.device) : "not recorded"} |`,
    `| versions | ${versions ? cell(versions) : "not recorded"} |`,
    "",
    "Config as saved in `run.json`:",
    "",
    "| setting | value |",
    "| --- | --- |",
  ];
  for (const [k, v] of flatten(info.config)) md.push(`| ${code(k)} | ${code(v)} |`);
  md.push("");
  return md;
}

/** `config` as dotted keys and JSON values, e.g. `fit.hidden` -> `[64,64]`. */
function flatten(value: Record<string, unknown>, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    } else {
      out.push([`${prefix}${k}`, typeof v === "string" ? v : JSON.stringify(v) ?? "undefined"]);
    }
  }
  return out;
}

function what(f: RunFolder): string {
  if (f.lab === "exp2") {
    return `ResNet20, schedule ${formatSchedule(f.stages)}, ${plural(f.epochs.length, "epoch")}`;
  }
  if (f.study === "epochs") return `${STUDY_TITLES.epochs}: ${f.runs.map((r) => r.epochs).join(", ")} epochs`;
  if (f.study === "lr") return `${STUDY_TITLES.lr}: LR ${f.runs.map((r) => r.lr).join(", ")}`;
  const r = f.runs[0];
  return `${STUDY_TITLES.single}: ${r.epochs} epochs at LR ${r.lr}`;
}

function headline(f: RunFolder): string {
  if (f.lab === "exp2") {
    return `final test accuracy ${pct(f.epochs.at(-1)!.testAcc)}`;
  }
  const best = bestRun(f);
  if (f.runs.length === 1) {
    return best ? `test MSE ${num(best.testMse)}` : `diverged at epoch ${f.runs[0].divergedEpoch}`;
  }
  const diverged = f.runs.filter((r) => r.divergedEpoch !== null).map((r) => r.name);
  const parts = [best ? `lowest test MSE ${num(best.testMse)} (${best.name})` : "every run diverged"];
  if (diverged.length && best) parts.push(`diverged: ${diverged.join(", ")}`);
  return parts.join("; ");
}

function bestRun(f: Exp1Folder): Exp1Folder["runs"][number] | null {
  const ok = f.runs.filter((r) => Number.isFinite(r.testMse));
  return ok.length ? ok.reduce((a, b) => (b.testMse < a.testMse ? b : a)) : null;
}

/** A sentence naming the runs that diverged and when, or saying none did. */
function divergence(f: Exp1Folder): string {
  const diverged = f.runs.filter((r) => r.divergedEpoch !== null);
  if (!diverged.length) {
    return f.runs.length === 1 ? "The run did not diverge." : `None of the ${f.runs.length} runs diverged.`;
  }
  const list = diverged.map((r) => `${cell(r.name)} at epoch ${r.divergedEpoch}`).join(", ");
  return `Diverged (loss not finite): ${list}.`;
}

function mostConfused(m: number[][]): { true: number; predicted: number; count: number } | null {
  let best: { true: number; predicted: number; count: number } | null = null;
  m.forEach((row, i) =>
    row.forEach((v, j) => {
      if (i !== j && v > 0 && (!best || v > best.count)) best = { true: i, predicted: j, count: v };
    })
  );
  return best;
}

/**
 * A file-name-safe name per run folder from its last path part, made
 * unique with `-2`, `-3`... in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chartSlugs } from "./render_report.ts";
 * assert.deepEqual(chartSlugs(["runs/a/", "b/a", "x y"]), ["a", "a-2", "x-y"]);
 * ```
 */
export function chartSlugs(dirs: readonly string[]): string[] {
  const used = new Set<string>();
  return dirs.map((dir) => {
    const parts = dir.split(/[\\/]+/).filter((p) => p !== "" && p !== "." && p !== "..");
    const base = (parts.at(-1) ?? "run").replace(/[^\w.-]+/g, "-").replace(/^[.-]+/, "") || "run";
    let slug = base;
    for (let k = 2; used.has(slug); k++) slug = `${base}-${k}`;
    used.add(slug);
    return slug;
  });
}

/**
 * At most about `options.maxPoints` (default 1500) points of a curve whose `x` ascends: when
 * longer, `x`'s range is cut into equal stretches, each keeping its first,
 * lowest and highest point, so spikes and the curve's envelope survive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { thin } from "./render_report.ts";
 * const [x, y] = thin([1, 2, 3, 4, 5, 6], [5, 1, 4, 9, 2, 3], { maxPoints: 4 });
 * // The first, lowest, highest and last points survive.
 * assert.deepEqual(x, [1, 2, 4, 6]);
 * assert.deepEqual(y, [5, 1, 9, 3]);
 * ```
 */
export function thin(
  x: readonly number[],
  y: readonly number[],
  options: { maxPoints?: number } = {},
): [number[], number[]] {
  const maxPoints = options.maxPoints ?? 1500;
  if (x.length <= maxPoints) return [[...x], [...y]];
  const buckets = Math.max(1, Math.floor(maxPoints / 3));
  const [x0, x1] = [x[0], x[x.length - 1]];
  const keep: number[] = [];
  let i = 0;
  for (let b = 0; b < buckets && i < x.length; b++) {
    const end = b === buckets - 1 ? Infinity : x0 + (x1 - x0) * (b + 1) / buckets;
    const first = i;
    let lo = i, hi = i;
    for (; i < x.length && x[i] < end; i++) {
      if (y[i] < y[lo]) lo = i;
      if (y[i] > y[hi]) hi = i;
    }
    if (i > first) keep.push(...new Set([first, lo, hi].sort((a, b) => a - b)));
  }
  if (keep.at(-1) !== x.length - 1) keep.push(x.length - 1);
  return [keep.map((k) => x[k]), keep.map((k) => y[k])];
}

function pct(v: number): string {
  return `${(100 * v).toFixed(2)}%`;
}

function num(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Text for a table cell: pipes escaped, no line breaks. */
function cell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
}

/** An inline code span that survives backticks in `s`, and pipes when it sits `inTable`. */
function code(s: string, inTable = true): string {
  const flat = s.replace(/[\r\n]+/g, " ");
  const text = inTable ? flat.replace(/\|/g, "\\|") : flat;
  const ticks = "`".repeat(Math.max(0, ...(text.match(/`+/g) ?? []).map((m) => m.length)) + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${ticks}${pad}${text}${pad}${ticks}`;
}

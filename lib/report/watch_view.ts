/**
 * What the watch page shows of one run, as JSON ready to draw: the headline
 * figures a student wants at a glance during a 30-minute run (epoch, test
 * accuracy, loss, learning rate, speed), progress bars with the ETA, the
 * charts as SVG text drawn by {@linkcode lineChart} and {@linkcode barChart}
 * (the same charts as the lab report, so the page needs no chart library),
 * the epoch and run tables, the confusion matrix, provenance and config.
 * Pure: a {@linkcode RunState} in, a {@linkcode RunView} out; the page only
 * puts it on screen.
 *
 * @module
 */
import { CLASS_NAMES } from "../data/cifar.ts";
import { barChart } from "./bar_chart.ts";
import { lineChart, type Marker, type Series } from "./line_chart.ts";
import { thin } from "./render_report.ts";
import type { Exp1State, Exp2State, RunState, RunStatus } from "./run_state.ts";
import { stageStarts } from "../train/schedule.ts";

/** A headline figure: "Test accuracy 78.12%, best 79.03% at epoch 5". */
export interface Figure {
  label: string;
  value: string;
  /** A second line in small print. @default {""} */
  note: string;
}

/** A progress bar. */
export interface ProgressBar {
  label: string;
  /** In [0, 1]; null when unknown (the bar is drawn empty and striped). */
  fraction: number | null;
}

/** A chart: its title for the page and its SVG document. */
export interface ViewChart {
  /** Unique in the page, e.g. `run0-loss`. */
  id: string;
  title: string;
  svg: string;
}

/** A table of text cells. */
export interface ViewTable {
  title: string;
  columns: string[];
  rows: string[][];
  /** Index of a row to emphasise (the best epoch), or -1. */
  highlight: number;
}

/** The confusion matrix, `values[true][predicted]`. */
export interface ViewMatrix {
  title: string;
  labels: string[];
  values: number[][];
}

/** Everything the page shows of one run. */
export interface RunView {
  /** Position among the watched folders; files are under `/runs/<index>/`. */
  index: number;
  /** The folder as given on the command line. */
  dir: string;
  lab: "exp1" | "exp2" | null;
  title: string;
  status: RunStatus;
  /** Why it is stopped, damaged, diverged or waiting; null otherwise. */
  reason: string | null;
  /** Newest change in the folder, ms since 1970. */
  updatedAt: number | null;
  figures: Figure[];
  bars: ProgressBar[];
  /** When the run should end, ms since 1970; null when unknown or not running. */
  etaAt: number | null;
  charts: ViewChart[];
  tables: ViewTable[];
  matrix: ViewMatrix | null;
  /** Provenance: started, command, backend, device, versions. */
  details: [string, string][];
  /** `run.json`'s config as dotted keys and JSON values. */
  config: [string, string][];
  /** Damaged files, with the file and line. */
  problems: string[];
  /** The folder's files the server serves, with their links. */
  files: { name: string; href: string }[];
}

/** Options for {@linkcode watchView}. */
export interface WatchViewOptions {
  /** Position among the watched folders. @default {0} */
  index?: number;
  /** The folder as given. @default {""} */
  dir?: string;
}

/** File types the watch server serves from a run folder; anything else is not found. */
export const SERVED_TYPES: Readonly<Record<string, string>> = {
  csv: "text/csv; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  md: "text/markdown; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  png: "image/png",
};

/**
 * Whether the server serves a file of this name: a served type, not hidden,
 * and not a temporary file of an atomic write.
 *
 * @example
 * ```ts
 * import { isServedName } from "./watch_view.ts";
 * console.assert(isServedName("metrics.csv") && !isServedName("final.safetensors") && !isServedName(".env"));
 * ```
 */
export function isServedName(name: string): boolean {
  const m = name.match(/^[^./\\][^/\\]*\.([a-z]+)$/);
  return m !== null && Object.hasOwn(SERVED_TYPES, m[1]) && !name.includes(".tmp-");
}

/**
 * The page's view of a run.
 *
 * @example
 * ```ts
 * import { runState } from "./run_state.ts";
 * import { watchView } from "./watch_view.ts";
 * const view = watchView(runState({ names: [], texts: {}, mtimes: {} }, { now: 0 }), { dir: "runs/a" });
 * console.assert(view.status === "waiting" && view.charts.length === 0);
 * ```
 */
export function watchView(state: RunState, options: WatchViewOptions = {}): RunView {
  const index = options.index ?? 0;
  const view: RunView = {
    index,
    dir: options.dir ?? "",
    lab: state.lab,
    title: "Run folder",
    status: state.status,
    reason: state.reason,
    updatedAt: state.updatedAt,
    figures: [],
    bars: [],
    etaAt: null,
    charts: [],
    tables: [],
    matrix: null,
    details: [],
    config: [],
    problems: state.problems,
    files: state.names.filter(isServedName).map((name) => ({
      name,
      href: `/runs/${index}/${encodeURIComponent(name)}`,
    })),
  };
  if (state.info) {
    const i = state.info;
    view.details = [
      ["started", i.started ? i.started.replace("T", " ").replace(/\.\d+Z$/, " UTC") : "not recorded"],
      ["command", i.command ?? "not recorded"],
      [
        "backend",
        i.backend ? `${i.backend}${i.backendReason ? ` (${i.backendReason})` : ""}` : "not recorded",
      ],
      ["device", i.device ?? "not recorded"],
    ];
    if (typeof i.parameters === "number") {
      view.details.push(["parameters", i.parameters.toLocaleString("en-US")]);
    }
    if (typeof i.trainImages === "number" && typeof i.testImages === "number") {
      view.details.push(["images", `${i.trainImages} training, ${i.testImages} test`]);
    }
    if (typeof i.startEpoch === "number" && i.startEpoch > 1) {
      view.details.push(["resumed", `at epoch ${i.startEpoch}`]);
    }
    const versions = Object.entries(i.versions ?? {}).map(([k, v]) => `${k} ${String(v)}`).join(", ");
    if (versions) view.details.push(["versions", versions]);
    view.config = flatten(i.config);
  }
  if (state.lab === "exp2") exp2View(state, view);
  else if (state.lab === "exp1") exp1View(state, view);
  return view;
}

function exp2View(s: Exp2State, view: RunView): void {
  const id = `run${view.index}`;
  const p = s.progress;
  const last = s.epochs.at(-1);
  const step = s.steps.at(-1);
  const live = step && step.epoch > (last?.epoch ?? 0) ? step : null;
  view.title = "Lab 2 · ResNet20 on CIFAR-10";
  view.etaAt = p.etaAt;

  const best = s.epochs.reduce<typeof last>((a, b) => (a && a.testAcc >= b.testAcc ? a : b), undefined);
  const starts = stageStarts(s.stages);
  const stage = starts.findLastIndex((st) => st.epoch <= p.epoch);
  const lr = live?.lr ?? s.stages[Math.max(0, stage)].lr;
  const accNow = live?.acc ?? null;
  view.figures = [
    {
      label: "Epoch",
      value: `${p.epoch} / ${p.epochs}`,
      note: `LR ${lr} (stage ${stage + 1}/${s.stages.length})`,
    },
    {
      label: "Test accuracy",
      value: last ? pct(last.testAcc) : "–",
      note: !last
        ? "after the first epoch"
        : best && best.epoch !== last.epoch
        ? `best ${pct(best.testAcc)} at epoch ${best.epoch}`
        : `after epoch ${last.epoch}`,
    },
    {
      label: "Train loss",
      value: live ? loss(live.loss) : last ? loss(last.trainLoss) : "–",
      note: live ? `step ${live.step}` : last ? `epoch ${last.epoch} mean` : "",
    },
    {
      label: "Train accuracy",
      value: accNow !== null ? pct(accNow) : last ? pct(last.trainAcc) : "–",
      note: accNow !== null ? `step ${live!.step}` : last ? `epoch ${last.epoch} mean` : "",
    },
    {
      label: "Speed",
      value: live?.imagesPerSecond
        ? `${Math.round(live.imagesPerSecond)} img/s`
        : last
        ? `${Math.round(last.imagesPerSecond)} img/s`
        : "–",
      note: last ? `epoch ${last.epoch}: ${last.epochSeconds.toFixed(0)} s` : "",
    },
  ];
  let epochLabel = `Epoch ${p.epoch} of ${p.epochs}`;
  if (s.status === "finished") epochLabel = `All ${p.epochs} epochs done`;
  else if (p.epochFraction === null) epochLabel += " (no steps.csv: progress within the epoch unknown)";
  else if (s.status === "running" && s.epochs.length >= p.epochs) epochLabel += ": writing the final model";
  else if (s.status === "running" && p.epochFraction >= 1) epochLabel += ": evaluating on the test set";
  view.bars = [
    { label: epochLabel, fraction: p.epochFraction },
    { label: `Whole run: ${p.epochs} epochs`, fraction: p.fraction },
  ];

  // x in epochs done: step k of epoch e sits at (e - 1) + k / stepsPerEpoch, an epoch's mean at e.
  const ex = s.epochs.map((e) => e.epoch);
  const sx = s.steps.map((r) => r.step / s.stepsPerEpoch);
  const markers: Marker[] = starts.map((st) => ({ x: st.epoch - 1, label: `LR ${st.lr}` }));
  const axis = { xLabel: "epoch", xRange: [0, p.epochs] as [number, number], integerX: true, markers };
  const [lx, ly] = thin(sx, s.steps.map((r) => r.loss), { maxPoints: 1200 });
  view.charts.push({
    id: `${id}-loss`,
    title: "Loss",
    svg: lineChart({
      ...axis,
      title: "Loss per step and per epoch",
      yLabel: "cross-entropy",
      clipId: `${id}-loss`,
      tooltips: true,
      series: [
        { name: "test, per epoch", x: ex, y: s.epochs.map((e) => e.testLoss), dots: true },
        { name: "train, per epoch", x: ex, y: s.epochs.map((e) => e.trainLoss), dots: true },
        ...(lx.length ? [{ name: "train, per step", x: lx, y: ly }] : []),
      ],
    }),
  });
  const accSteps = s.steps.filter((r) => r.acc !== null);
  const [ax, ay] = thin(accSteps.map((r) => r.step / s.stepsPerEpoch), accSteps.map((r) => 100 * r.acc!), {
    maxPoints: 1200,
  });
  view.charts.push({
    id: `${id}-accuracy`,
    title: "Accuracy",
    svg: lineChart({
      ...axis,
      title: "Accuracy per step and per epoch",
      yLabel: "accuracy (%)",
      yRange: [0, 100],
      clipId: `${id}-accuracy`,
      tooltips: true,
      series: [
        { name: "test, per epoch", x: ex, y: s.epochs.map((e) => 100 * e.testAcc), dots: true },
        { name: "train, per epoch", x: ex, y: s.epochs.map((e) => 100 * e.trainAcc), dots: true },
        ...(ax.length ? [{ name: "train, per step", x: ax, y: ay }] : []),
      ],
    }),
  });
  if (s.perClass) {
    view.charts.push({
      id: `${id}-per-class`,
      title: "Per-class accuracy",
      svg: barChart({
        title: "Test accuracy per class (final model)",
        valueLabel: "test accuracy (%)",
        range: [0, 100],
        format: (v) => v.toFixed(1),
        tickFormat: (v) => String(v),
        bars: s.perClass.map((c) => ({ label: c.name, value: 100 * c.accuracy })),
      }),
    });
  }
  view.tables.push({
    title: "Epochs",
    columns: ["epoch", "LR", "train loss", "train acc", "test loss", "test acc", "time (s)", "img/s"],
    rows: s.epochs.map((e) => [
      String(e.epoch),
      String(e.lr),
      e.trainLoss.toFixed(4),
      pct(e.trainAcc),
      e.testLoss.toFixed(4),
      pct(e.testAcc),
      e.epochSeconds.toFixed(1),
      e.imagesPerSecond.toFixed(0),
    ]),
    highlight: best ? best.epoch - 1 : -1,
  });
  if (s.confusion) {
    view.matrix = {
      title: "Confusion matrix (rows: true class, columns: predicted)",
      labels: [...CLASS_NAMES],
      values: s.confusion,
    };
  }
}

function exp1View(s: Exp1State, view: RunView): void {
  const id = `run${view.index}`;
  const p = s.progress;
  const run = s.runs[p.run];
  const studyName = s.study === "epochs" ? "epochs study" : s.study === "lr" ? "learning-rate study" : null;
  view.title = `Lab 1 · ${studyName ? `${studyName}, ` : ""}f(x) = ${s.fn}`;
  view.etaAt = p.etaAt;
  const done = s.runs.filter((r) => r.status === "ok" || r.status === "diverged");
  const best = done.filter((r) => Number.isFinite(r.testMse)).sort((a, b) => a.testMse - b.testMse)[0];
  const lossNow = run?.loss.loss.at(-1);
  const live = s.steps.at(-1);
  if (run) {
    view.figures = [
      { label: "Run", value: `${p.run + 1} / ${s.runs.length}`, note: run.name },
      { label: "Epoch", value: `${p.epoch} / ${run.epochs}`, note: `LR ${run.lr}, ${run.optimizer}` },
      { label: "Train loss", value: lossNow === undefined ? "–" : loss(lossNow), note: "MSE" },
      {
        label: "Best test MSE",
        value: best ? num(best.testMse) : "–",
        note: best ? best.name : "when a run is done",
      },
      {
        label: "Speed",
        value: live?.imagesPerSecond ? `${compact(live.imagesPerSecond)}/s` : "–",
        note: "training samples",
      },
    ];
    view.bars = [
      {
        label: `Run ${run.name}: epoch ${p.epoch} of ${run.epochs}`,
        fraction: Math.min(1, p.epoch / run.epochs),
      },
      { label: s.runs.length > 1 ? `All ${s.runs.length} runs` : "Whole run", fraction: p.fraction },
    ];
  }
  const losses: Series[] = s.runs.filter((r) => r.loss.epoch.length).map((r) => {
    const [x, y] = thin(r.loss.epoch, r.loss.loss, { maxPoints: 1200 });
    return { name: r.name, x, y };
  });
  if (losses.length) {
    view.charts.push({
      id: `${id}-loss`,
      title: "Loss",
      svg: lineChart({
        title: "Training loss per epoch",
        xLabel: "epoch",
        yLabel: "MSE",
        logY: true,
        integerX: true,
        clipId: `${id}-loss`,
        tooltips: true,
        series: losses,
      }),
    });
  }
  if (s.fit) {
    view.charts.push({
      id: `${id}-fit`,
      title: "Fitted curves",
      svg: lineChart({
        title: `Fitted curves over f(x) = ${s.fn}`,
        xLabel: "x",
        yLabel: "f(x)",
        clipId: `${id}-fit`,
        tooltips: true,
        series: [
          { name: "true f(x)", x: s.fit.x, y: s.fit.truth, dashed: true },
          ...s.fit.curves.filter((c) => c.y.some(Number.isFinite)).map((c) => ({
            name: c.name,
            x: s.fit!.x,
            y: c.y,
          })),
        ],
      }),
    });
  }
  view.tables.push({
    title: "Runs",
    columns: ["run", "epochs", "LR", "optimizer", "train MSE", "test MSE", "time (s)", "status"],
    rows: s.runs.map((r) => [
      r.name,
      String(r.epochs),
      String(r.lr),
      r.optimizer,
      num(r.trainMse),
      num(r.testMse),
      Number.isFinite(r.seconds) ? r.seconds.toFixed(1) : "–",
      r.status === "diverged" ? `diverged at epoch ${r.divergedEpoch}` : r.status,
    ]),
    highlight: best ? s.runs.indexOf(best) : -1,
  });
}

/** `config` as dotted keys and JSON values, e.g. `fit.hidden` -> `[64,64]`. */
function flatten(value: Record<string, unknown>, prefix = ""): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      out.push(...flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    } else out.push([`${prefix}${k}`, typeof v === "string" ? v : JSON.stringify(v) ?? "undefined"]);
  }
  return out;
}

/** A rate in few characters: 245, 4.8k, 48k. */
function compact(v: number): string {
  if (v < 1000) return String(Math.round(v));
  return v < 10_000 ? `${(v / 1000).toFixed(1)}k` : `${Math.round(v / 1000)}k`;
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : "–";
}

/** A loss, where NaN and Infinity mean a diverged run and are shown as such. */
function loss(v: number): string {
  return Number.isFinite(v) ? num(v) : String(v);
}

function num(v: number): string {
  if (Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return String(v);
  return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(3) : String(Number(v.toPrecision(4)));
}

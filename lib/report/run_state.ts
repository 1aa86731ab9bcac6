/**
 * What `deno task watch` knows about a run folder at one moment: which lab,
 * its status (waiting, running, finished, stopped, diverged, damaged), its
 * progress and ETA, and the data of its charts and tables, from the texts of
 * its files and their modification times. Pure: a {@linkcode RunSnapshot} in,
 * a {@linkcode RunState} out.
 *
 * Live folders are read leniently: a last line still being written is
 * ignored, and a damaged file becomes a message in `problems` while the rest
 * of the folder is still shown.
 *
 * "Stopped" is a guess from the files alone (the watcher may be another
 * process than the lab): a run that is not finished and whose files have not
 * changed for much longer than its own rhythm (a row of `steps.csv` every few
 * seconds, an evaluation after each epoch) is taken as stopped.
 *
 * @module
 */
import { parseSchedule, type Stage, totalEpochs } from "../train/schedule.ts";
import { type StudyName, studyRuns } from "../train/study.ts";
import type { FitConfig } from "../train/defaults.ts";
import { METRICS_COLUMNS, STEPS_COLUMNS, SUMMARY_COLUMNS } from "./columns.ts";
import { parseCsvTable } from "./csv.ts";
import {
  type ClassAccuracy,
  epochFromRow,
  type Exp2Epoch,
  parseConfusion,
  parsePerClass,
  parseRunJson,
  type RunJson,
} from "./run_folder.ts";

/** A run folder's files at one moment, as the watch server reads them. */
export interface RunSnapshot {
  /** Top-level entries of the folder (files and folders). */
  names: string[];
  /** Texts of `run.json` and the top-level `.csv` files that could be read, by name. */
  texts: Record<string, string>;
  /** Modification time of each entry in `names`, in ms since 1970. */
  mtimes: Record<string, number>;
  /** Problems met while reading (a file too big, a link out of the folder). @default {[]} */
  problems?: string[];
}

/** A run's status. */
export type RunStatus = "waiting" | "running" | "finished" | "stopped" | "diverged" | "damaged";

/** One row of `steps.csv`. */
export interface StepPoint {
  step: number;
  epoch: number;
  lr: number;
  /** NaN or infinite when the run diverged. */
  loss: number;
  /** Null where the lab has no accuracy (Lab 1). */
  acc: number | null;
  imagesPerSecond: number | null;
}

/** What every state has. */
interface StateBase {
  status: RunStatus;
  /** Why the run is stopped, damaged or diverged, or what it waits for; null when running or finished. */
  reason: string | null;
  /** Newest modification time among the folder's entries, ms since 1970; null when empty. */
  updatedAt: number | null;
  /** Its `run.json`, null when absent or damaged. */
  info: RunJson | null;
  /** Files that could not be read or parsed, with the file and line. */
  problems: string[];
  /** The folder's top-level entries, sorted. */
  names: string[];
}

/** A Lab 2 run. */
export interface Exp2State extends StateBase {
  lab: "exp2";
  stages: Stage[];
  /** Optimisation steps in one epoch. */
  stepsPerEpoch: number;
  /** The rows of `metrics.csv`. */
  epochs: Exp2Epoch[];
  /** The rows of `steps.csv`, steps ascending. */
  steps: StepPoint[];
  perClass: ClassAccuracy[] | null;
  /** `[true][predicted]` counts. */
  confusion: number[][] | null;
  progress: Exp2Progress;
}

/** Where a Lab 2 run is. */
export interface Exp2Progress {
  /** 1-based epoch in progress (the last one when the run is over). */
  epoch: number;
  /** Planned epochs. */
  epochs: number;
  /** Fraction of `epoch` done, null when unknown (no `steps.csv`). */
  epochFraction: number | null;
  /** Fraction of the whole run done. */
  fraction: number;
  /** When the run should end, ms since 1970; null when unknown or not running. */
  etaAt: number | null;
}

/** One run of a Lab 1 folder (one of a study's, or the only one). */
export interface Exp1RunState {
  name: string;
  /** Planned epochs. */
  epochs: number;
  lr: number;
  optimizer: string;
  /** Not started, in progress, or done with its `summary.csv` status. */
  status: "planned" | "running" | "ok" | "diverged";
  /** 1-based epoch whose loss was not finite. */
  divergedEpoch: number | null;
  /** From `summary.csv`: NaN until the run is done or when it diverged. */
  trainMse: number;
  testMse: number;
  seconds: number;
  /** Training loss per epoch: `<run>.csv` once the run is done, the rows of `steps.csv` while it runs. */
  loss: { epoch: number[]; loss: number[] };
}

/** A Lab 1 run folder. */
export interface Exp1State extends StateBase {
  lab: "exp1";
  /** The target function's text. */
  fn: string;
  study: StudyName | null;
  runs: Exp1RunState[];
  /** The fitted curves of the runs done, from `fit.csv`. */
  fit: { x: number[]; truth: number[]; curves: { name: string; y: number[] }[] } | null;
  steps: StepPoint[];
  progress: Exp1Progress;
}

/** Where a Lab 1 folder is. */
export interface Exp1Progress {
  /** Index in `runs` of the run in progress (the last one when over); -1 when there are none. */
  run: number;
  /** Epochs done by that run. */
  epoch: number;
  /** Fraction of all runs' steps done. */
  fraction: number;
  /** When the last run should end, ms since 1970; null when unknown or not running. */
  etaAt: number | null;
}

/** A folder with no readable `run.json` yet (or a damaged one). */
export interface UnknownState extends StateBase {
  lab: null;
}

/** What {@linkcode runState} returns. */
export type RunState = Exp1State | Exp2State | UnknownState;

/** Options for {@linkcode runState}. */
export interface RunStateOptions {
  /** The time now, ms since 1970 (for the stopped guess). @default {Date.now()} */
  now?: number;
}

/** Training images of CIFAR-10, for a `run.json` that does not say. */
const CIFAR_TRAIN = 50000;

/**
 * The state of a run folder from its files.
 *
 * @example
 * ```ts
 * import { runState } from "./run_state.ts";
 * const s = runState({ names: [], texts: {}, mtimes: {} }, { now: 0 });
 * console.assert(s.status === "waiting" && s.lab === null);
 * ```
 */
export function runState(snapshot: RunSnapshot, options: RunStateOptions = {}): RunState {
  const now = options.now ?? Date.now();
  const names = [...snapshot.names].sort();
  const times = names.map((n) => snapshot.mtimes[n]).filter(Number.isFinite);
  const base: StateBase = {
    status: "waiting",
    reason: null,
    updatedAt: times.length ? Math.max(...times) : null,
    info: null,
    problems: [...(snapshot.problems ?? [])],
    names,
  };
  const text = snapshot.texts["run.json"];
  if (text === undefined) {
    const unreadable = names.includes("run.json");
    return {
      ...base,
      lab: null,
      status: unreadable ? "damaged" : "waiting",
      reason: unreadable
        ? "run.json could not be read"
        : "no run.json yet: a lab writes it once its data is loaded and training starts",
    };
  }
  try {
    base.info = parseRunJson(text, "run.json");
  } catch (e) {
    return { ...base, lab: null, status: "damaged", reason: (e as Error).message };
  }
  try {
    return base.info.lab === "exp2" ? exp2State(snapshot, base, now) : exp1State(snapshot, base, now);
  } catch (e) {
    if (!(e instanceof StateError)) throw e;
    return { ...base, lab: null, status: "damaged", reason: e.message };
  }
}

/** A fact that makes the whole folder unreadable (as opposed to one damaged file). */
class StateError extends Error {}

/**
 * Where each run of an exp1 command starts in `steps.csv`'s step count: run
 * `k`'s steps are `offsets[k] + 1 ..`, as if every run before it ran all its
 * planned epochs (a diverged run stops early; the next still starts at its
 * offset). The last element is the total planned steps. One epoch is
 * `ceil(samples / batchSize)` steps.
 *
 * @example
 * ```ts
 * import { exp1StepOffsets } from "./run_state.ts";
 * const offsets = exp1StepOffsets([{ epochs: 2, samples: 10, batchSize: 4 }, { epochs: 1, samples: 10, batchSize: 4 }]);
 * console.assert(offsets.join() === "0,6,9");
 * ```
 */
export function exp1StepOffsets(
  runs: readonly { epochs: number; samples: number; batchSize: number }[],
): number[] {
  const offsets = [0];
  for (const r of runs) offsets.push(offsets.at(-1)! + r.epochs * Math.ceil(r.samples / r.batchSize));
  return offsets;
}

// ---------------------------------------------------------------- Lab 2

function exp2State(snapshot: RunSnapshot, base: StateBase, now: number): Exp2State {
  const info = base.info!;
  const config = info.config;
  let stages: Stage[];
  try {
    stages = parseSchedule(String(config.schedule));
  } catch (e) {
    throw new StateError(`run.json: "config.schedule": ${(e as Error).message}`);
  }
  const planned = totalEpochs(stages);
  const batchSize = positive(config.batchSize) ?? 128;
  const trainImages = positive(info.trainImages) ?? positive(config.limitTrain) ?? CIFAR_TRAIN;
  const stepsPerEpoch = Math.ceil(trainImages / batchSize);
  const problems = base.problems;
  const epochs = parseMetrics(snapshot.texts["metrics.csv"], problems);
  const steps = parseSteps(snapshot.texts["steps.csv"], problems);
  const perClass = optional(
    snapshot.texts["per_class.csv"],
    problems,
    (t) => parsePerClass(t, "per_class.csv"),
  );
  const confusion = optional(
    snapshot.texts["confusion.csv"],
    problems,
    (t) => parseConfusion(t, "confusion.csv"),
  );

  const last = steps.at(-1);
  const done = epochs.length;
  const finished = done >= planned && base.names.includes("final.safetensors");
  const current = finished ? done : Math.min(planned, Math.max(done + 1, last?.epoch ?? 1));
  let epochFraction: number | null = null;
  if (finished || done >= current) epochFraction = 1;
  else if (last && last.epoch === current) {
    epochFraction = clamp((last.step - (current - 1) * stepsPerEpoch) / stepsPerEpoch);
  } else if (snapshot.texts["steps.csv"] !== undefined) epochFraction = 0; // no row of this epoch yet
  const stepsDone = finished
    ? planned * stepsPerEpoch
    : Math.max(done * stepsPerEpoch, last && last.epoch > done ? last.step : 0);
  const fraction = clamp(stepsDone / (planned * stepsPerEpoch));

  const lossNow = last && last.epoch > done ? last.loss : epochs.at(-1)?.trainLoss;
  let status: RunStatus = "running";
  let reason: string | null = null;
  const quiet = base.updatedAt === null ? 0 : (now - base.updatedAt) / 1000;
  if (finished) status = "finished";
  else if (lossNow !== undefined && !Number.isFinite(lossNow)) {
    status = "diverged";
    reason = `the training loss is ${lossNow} at epoch ${last && last.epoch > done ? last.epoch : done}`;
  } else if (
    quiet > quietLimit(steps, {
      batchSize,
      rate: epochs.at(-1)?.imagesPerSecond,
      stepsPerUpdate: stepsPerEpoch,
      evalExamples: positive(info.testImages) ?? 10000,
    })
  ) {
    status = "stopped";
    reason = `no file has changed for ${Math.round(quiet)} s; continue it with deno task exp2 --resume auto`;
  }

  // Wall-clock rate of this session (evaluations included), from run.json's start to the newest row.
  let etaAt: number | null = null;
  const started = Date.parse(info.started ?? "");
  const latest = snapshot.mtimes["steps.csv"] ?? snapshot.mtimes["metrics.csv"];
  const startEpoch = positive(info.startEpoch) ?? 1;
  const sessionSteps = stepsDone - (startEpoch - 1) * stepsPerEpoch;
  if (status === "running" && Number.isFinite(started) && latest > started && sessionSteps > 0) {
    const perStep = (latest - started) / sessionSteps;
    etaAt = latest + perStep * (planned * stepsPerEpoch - stepsDone);
  } else if (status === "running" && last?.imagesPerSecond && latest !== undefined) {
    etaAt = latest + 1000 * (planned * stepsPerEpoch - stepsDone) * batchSize / last.imagesPerSecond;
  }
  return {
    ...base,
    lab: "exp2",
    status,
    reason,
    stages,
    stepsPerEpoch,
    epochs,
    steps,
    perClass,
    confusion,
    progress: { epoch: current, epochs: planned, epochFraction, fraction, etaAt },
  };
}

/** `metrics.csv` rows in order; stops at the first bad row, which goes to `problems`. */
function parseMetrics(text: string | undefined, problems: string[]): Exp2Epoch[] {
  if (text === undefined) return [];
  const table = tableOrProblem(text, "metrics.csv", METRICS_COLUMNS, problems);
  const out: Exp2Epoch[] = [];
  for (const [k, r] of (table?.rows ?? []).entries()) {
    const at = `metrics.csv, line ${table!.lines[k]}`;
    const bad = METRICS_COLUMNS.find((c) => !isNumber(r[c]));
    if (bad) {
      problems.push(`${at}: column "${bad}" is "${r[bad]}", expected a number`);
      break;
    }
    if (Number(r.epoch) !== k + 1) {
      problems.push(`${at}: epoch is "${r.epoch}", expected ${k + 1}`);
      break;
    }
    out.push(epochFromRow(r));
  }
  return out;
}

/** What {@linkcode quietLimit} knows of a run's rhythm. */
interface Rhythm {
  /** Examples per step. */
  batchSize: number;
  /** Examples per second when there are no step rows. @default {null} */
  rate?: number | null;
  /** Steps between two updates when there are no step rows (exp2: an epoch). @default {1} */
  stepsPerUpdate?: number;
  /** Examples evaluated after each epoch (exp2's test set). @default {0} */
  evalExamples?: number;
}

/**
 * Seconds without a change after which a run that is not finished is taken
 * as stopped: a minute, plus five times the usual gap between updates (rows
 * of `steps.csv`, or epochs without them), plus an evaluation pass. Five
 * minutes when the rate is not known yet.
 */
function quietLimit(steps: StepPoint[], rhythm: Rhythm): number {
  const rate = steps.at(-1)?.imagesPerSecond ?? rhythm.rate ?? null;
  if (!rate || !(rate > 0)) return 300;
  const gaps = steps.slice(-11).map((s, i, a) => (i ? s.step - a[i - 1].step : 0)).slice(1).sort((a, b) =>
    a - b
  );
  const stepsPerUpdate = gaps.length ? gaps[gaps.length >> 1] : rhythm.stepsPerUpdate ?? 1;
  const updateSeconds = Math.max(0.25, stepsPerUpdate * rhythm.batchSize / rate);
  return 60 + 5 * updateSeconds + (rhythm.evalExamples ?? 0) / rate;
}

// ---------------------------------------------------------------- Lab 1

function exp1State(snapshot: RunSnapshot, base: StateBase, now: number): Exp1State {
  const config = base.info!.config;
  const problems = base.problems;
  const study = config.study === "epochs" || config.study === "lr" ? config.study : null;
  // `--load --plot` redraws a saved model: no training, just fit.csv.
  const redraw = typeof config.load === "string";
  const planned = redraw ? [] : plannedExp1Runs(config.fit, study);
  const offsets = exp1StepOffsets(planned);
  const steps = parseSteps(snapshot.texts["steps.csv"], problems);

  const runs: Exp1RunState[] = planned.map((p) => ({
    name: p.name,
    epochs: p.epochs,
    lr: p.lr,
    optimizer: p.optimizer,
    status: "planned",
    divergedEpoch: null,
    trainMse: NaN,
    testMse: NaN,
    seconds: NaN,
    loss: { epoch: [], loss: [] },
  }));
  for (const done of parseSummary(snapshot.texts["summary.csv"], problems)) {
    const lossText = snapshot.texts[`${done.name}.csv`];
    const loss = lossText === undefined
      ? { epoch: [], loss: [] }
      : parseEpochLoss(lossText, `${done.name}.csv`, problems);
    const k = runs.findIndex((r) => r.name === done.name);
    if (k === -1) runs.push({ ...done, loss });
    else runs[k] = { ...done, loss };
  }
  // Runs not in summary.csv yet: their live loss from the step rows in their range.
  planned.forEach((_, k) => {
    if (runs[k].status !== "planned") return;
    const mine = steps.filter((s) => s.step > offsets[k] && s.step <= offsets[k + 1]);
    runs[k].loss = { epoch: mine.map((s) => s.epoch), loss: mine.map((s) => s.loss) };
    if (mine.length) runs[k].status = "running";
  });

  const fit = parseFit(snapshot.texts["fit.csv"], problems);
  const done = (r: Exp1RunState) => r.status === "ok" || r.status === "diverged";
  const finished = redraw ? fit !== null : planned.length > 0 && runs.slice(0, planned.length).every(done);
  let current = runs.findIndex((r) => !done(r));
  if (current === -1) current = runs.length - 1;
  const run = runs[current] as Exp1RunState | undefined;
  const epoch = !run
    ? 0
    : run.status === "ok"
    ? run.epochs
    : run.status === "diverged"
    ? run.divergedEpoch ?? 0
    : run.loss.epoch.at(-1) ?? 0;
  const total = offsets.at(-1)!;
  const stepsDone = finished
    ? total
    : Math.max(offsets[Math.min(current, planned.length)] ?? 0, steps.at(-1)?.step ?? 0);

  let status: RunStatus = "running";
  let reason: string | null = null;
  const quiet = base.updatedAt === null ? 0 : (now - base.updatedAt) / 1000;
  const lossNow = run?.status === "running" ? run.loss.loss.at(-1) : undefined;
  if (runs.length === 1 && run?.status === "diverged") {
    status = "diverged";
    reason = `the training loss was not finite at epoch ${run.divergedEpoch}`;
  } else if (finished) status = "finished";
  else if (lossNow !== undefined && !Number.isFinite(lossNow)) {
    status = "diverged";
    reason = `run ${run!.name}: the training loss is ${lossNow} at epoch ${epoch}`;
  } else if (quiet > quietLimit(steps, { batchSize: planned[current]?.batchSize ?? 1 })) {
    status = "stopped";
    reason = `no file has changed for ${Math.round(quiet)} s; exp1 cannot resume: run it again`;
  }

  let etaAt: number | null = null;
  const started = Date.parse(base.info!.started ?? "");
  const latest = snapshot.mtimes["steps.csv"];
  if (status === "running" && Number.isFinite(started) && latest > started && stepsDone > 0) {
    etaAt = latest + (latest - started) / stepsDone * (total - stepsDone);
  }
  return {
    ...base,
    lab: "exp1",
    status,
    reason,
    fn: typeof config.fn === "string" ? config.fn : "f(x)",
    study,
    runs,
    fit,
    steps,
    progress: {
      run: current,
      epoch,
      fraction: redraw ? (finished ? 1 : 0) : clamp(stepsDone / Math.max(1, total)),
      etaAt,
    },
  };
}

interface PlannedRun {
  name: string;
  epochs: number;
  lr: number;
  optimizer: string;
  samples: number;
  batchSize: number;
}

/** The runs an exp1 command makes, from its saved `config.fit` and `config.study`. */
function plannedExp1Runs(fit: unknown, study: StudyName | null): PlannedRun[] {
  const f = (typeof fit === "object" && fit !== null ? fit : {}) as Record<string, unknown>;
  const bad = ["epochs", "lr", "samples", "batchSize"].find((k) => positive(f[k]) === null);
  if (bad) {
    throw new StateError(`run.json: "config.fit.${bad}" is ${JSON.stringify(f[bad])}, expected a number > 0`);
  }
  const base = f as unknown as FitConfig;
  return studyRuns(study, base).map(({ name, config: c }) => ({
    name,
    epochs: c.epochs,
    lr: c.lr,
    optimizer: String(c.optimizer ?? "adam"),
    samples: c.samples,
    batchSize: c.batchSize,
  }));
}

type SummaryRun = Omit<Exp1RunState, "loss">;

function parseSummary(text: string | undefined, problems: string[]): SummaryRun[] {
  if (text === undefined) return [];
  const table = tableOrProblem(text, "summary.csv", SUMMARY_COLUMNS, problems);
  const out: SummaryRun[] = [];
  for (const [k, r] of (table?.rows ?? []).entries()) {
    const at = `summary.csv, line ${table!.lines[k]}`;
    const m = r.status.match(/^(?:ok|diverged at epoch (\d+))$/);
    // The name becomes a file name: no paths.
    if (!/^[\w.+-]+$/.test(r.run) || r.run.startsWith(".")) {
      problems.push(`${at}: run is "${r.run}", expected a name of letters, digits, ".", "+", "-", "_"`);
    } else if (!m) {
      problems.push(`${at}: column "status" is "${r.status}", expected "ok" or "diverged at epoch N"`);
    } else if (!isNumber(r.epochs) || !isNumber(r.lr)) {
      problems.push(`${at}: columns "epochs" and "lr" are "${r.epochs}" and "${r.lr}", expected numbers`);
    } else {
      out.push({
        name: r.run,
        epochs: Number(r.epochs),
        lr: Number(r.lr),
        optimizer: r.optimizer,
        status: m[1] === undefined ? "ok" : "diverged",
        divergedEpoch: m[1] === undefined ? null : Number(m[1]),
        trainMse: num(r.train_mse),
        testMse: num(r.test_mse),
        seconds: num(r.seconds),
      });
    }
  }
  return out;
}

function parseEpochLoss(
  text: string,
  source: string,
  problems: string[],
): { epoch: number[]; loss: number[] } {
  const table = tableOrProblem(text, source, ["epoch", "train_loss"], problems);
  const rows = (table?.rows ?? []).filter((r) => isNumber(r.epoch));
  return { epoch: rows.map((r) => Number(r.epoch)), loss: rows.map((r) => num(r.train_loss)) };
}

function parseFit(text: string | undefined, problems: string[]): Exp1State["fit"] {
  if (text === undefined) return null;
  const table = tableOrProblem(text, "fit.csv", ["x", "true f(x)"], problems);
  if (!table) return null;
  const rows = table.rows.filter((r) => isNumber(r.x));
  const names = table.header.filter((h) => h !== "x" && h !== "true f(x)");
  return {
    x: rows.map((r) => Number(r.x)),
    truth: rows.map((r) => num(r["true f(x)"])),
    curves: names.map((name) => ({ name, y: rows.map((r) => num(r[name])) })),
  };
}

// ---------------------------------------------------------------- shared

/**
 * `steps.csv` rows, steps ascending. Only whole lines count (the last one may
 * still be being written); a step that goes back (a resumed run repeating
 * steps) replaces the rows from that step on; malformed lines are skipped and
 * counted in `problems`.
 */
function parseSteps(text: string | undefined, problems: string[]): StepPoint[] {
  if (text === undefined) return [];
  const lines = text.slice(0, text.lastIndexOf("\n") + 1).split("\n");
  lines.pop();
  if (lines.length === 0) return [];
  const header = lines[0].split(",").map((h) => h.trim());
  const missing = STEPS_COLUMNS.slice(0, 4).find((c) => !header.includes(c));
  if (missing) {
    problems.push(`steps.csv, line 1: missing column "${missing}" (header is "${lines[0].slice(0, 80)}")`);
    return [];
  }
  const col = Object.fromEntries(STEPS_COLUMNS.map((c) => [c, header.indexOf(c)]));
  const out: StepPoint[] = [];
  let bad = 0;
  let firstBad = 0;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const cells = lines[i].split(",");
    const get = (c: string) => (col[c] >= 0 ? cells[col[c]]?.trim() ?? "" : "");
    const [step, epoch, lr] = [get("step"), get("epoch"), get("lr")].map(Number);
    const loss = get("loss");
    if (
      cells.length !== header.length || !Number.isInteger(step) || step < 1 || !Number.isInteger(epoch) ||
      epoch < 1 || !Number.isFinite(lr) || !isNumber(loss)
    ) {
      if (bad++ === 0) firstBad = i + 1;
      continue;
    }
    while (out.length && out.at(-1)!.step >= step) out.pop();
    const acc = get("acc");
    const ips = get("images_per_second");
    out.push({
      step,
      epoch,
      lr,
      loss: Number(loss),
      acc: acc === "" || !isNumber(acc) ? null : Number(acc),
      imagesPerSecond: ips === "" || !isNumber(ips) ? null : Number(ips),
    });
  }
  if (bad) {
    problems.push(
      `steps.csv: ${bad} malformed line${bad === 1 ? "" : "s"} skipped (first at line ${firstBad})`,
    );
  }
  return out;
}

function tableOrProblem(
  text: string,
  source: string,
  required: readonly string[],
  problems: string[],
): ReturnType<typeof parseCsvTable> | null {
  try {
    return parseCsvTable(text, { source, required });
  } catch (e) {
    problems.push((e as Error).message);
    return null;
  }
}

function optional<T>(text: string | undefined, problems: string[], parse: (text: string) => T): T | null {
  if (text === undefined) return null;
  try {
    return parse(text);
  } catch (e) {
    problems.push((e as Error).message);
    return null;
  }
}

/** A CSV cell that is a number, including the `NaN` and `Infinity` a diverged run writes. */
function isNumber(cell: string | undefined): boolean {
  if (cell === undefined || cell.trim() === "") return false;
  return !Number.isNaN(Number(cell)) || cell.trim() === "NaN";
}

/** A cell as a number: empty and unparsable cells are NaN. */
function num(cell: string | undefined): number {
  return cell === undefined || cell.trim() === "" ? NaN : Number(cell);
}

function positive(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null;
}

function clamp(v: number): number {
  return Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0));
}

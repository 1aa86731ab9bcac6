/**
 * Lab 1: fit f(x) = x^2 + 2 sin(x) + cos(x - 1) - 5 (or your own `--fn`)
 * with a small ReLU MLP and MSE, and study how the fit changes with the
 * number of epochs and the learning rate (`--help` lists the flags).
 *
 * Writes into `--out` (a new or empty folder): run.json (config, backend,
 * device, versions), summary.csv, steps.csv (while training), one <run>.csv
 * of per-epoch loss and each run's model as <run>.pth (PyTorch's
 * `nn.Sequential` state_dict, `load_state_dict(torch.load(p))`) and
 * <run>.safetensors, model.pth (the hand-in, for a single run), fit.csv,
 * fit.svg (fitted curves over the true f) and loss.svg.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname, join } from "node:path";
import { checkFinite, compileExpr, DEFAULT_FN } from "../lib/data/expr.ts";
import { encodePth } from "../lib/formats/pth.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import type { StateDict } from "../lib/formats/state_dict.ts";
import { decodeWeights } from "../lib/formats/weights.ts";
import { isZip } from "../lib/formats/zip.ts";
import { decodeMlpModel, MAX_MLP_BYTES, Mlp, MLP_LIMITS, mlpHidden } from "../lib/models/mlp.ts";
import { EPOCH_LOSS_COLUMNS, SUMMARY_COLUMNS } from "../lib/report/columns.ts";
import { type Row, toCsv } from "../lib/report/csv.ts";
import { lineChart, runColor, type Series } from "../lib/report/line_chart.ts";
import { exp1StepOffsets } from "../lib/report/run_state.ts";
import { StepLog } from "../lib/report/step_log.ts";
import { startWatchInWorker } from "../lib/report/watch_worker.ts";
import { type BackendChoice, selectBackend, slowBackendNotice } from "../lib/runtime/backend.ts";
import { readFileNamed, writeFileAtomic, writeJsonAtomic } from "../lib/runtime/files.ts";
import { defineFlags, flag, numberFlag, UsageError } from "../lib/runtime/flags.ts";
import { untilInterrupted, watchInterrupts } from "../lib/runtime/interrupt.ts";
import { runMain } from "../lib/runtime/main.ts";
import { Progress } from "../lib/runtime/progress.ts";
import { runInfo } from "../lib/runtime/run_info.ts";
import {
  backendFlag,
  batchSizeFlag,
  outFlag,
  seedFlag,
  timeStamp,
  watchFlags,
  type WatchRequest,
  watchRequest,
} from "../lib/runtime/shared_flags.ts";
import { FIT_DEFAULTS, type FitConfig } from "../lib/train/defaults.ts";
import { fitFunction, gridPoints, predict } from "../lib/train/fit_function.ts";
import { checkFreshOut, inspectOutFolder } from "../lib/train/run_folder_policy.ts";
import { STUDIES, type StudyName, studyRuns } from "../lib/train/study.ts";

const d = FIT_DEFAULTS;
const cli = defineFlags("deno task exp1 [flags]", {
  epochs: flag.int("passes over the training samples", { default: d.epochs, min: 1, max: 1e7 }),
  lr: flag.number("learning rate", { default: d.lr, min: 0, exclusiveMin: true, max: 1e3 }),
  samples: flag.int("training samples, x uniform in [x-min, x-max]", {
    default: d.samples,
    min: 1,
    max: 1e7,
  }),
  "batch-size": batchSizeFlag(d.batchSize, 1e7, "mini-batch size"),
  hidden: flag.custom("hidden layer widths of the ReLU MLP", parseHidden, {
    default: [...d.hidden],
    placeholder: "A,B,...",
  }),
  optimizer: flag.choice("the optimizer", ["adam", "sgd"] as const, { default: d.optimizer }),
  fn: flag.string("the target f(x): numbers, x, + - * / ^, ( ), sin cos tan exp log sqrt abs ..., pi, e", {
    default: DEFAULT_FN,
    placeholder: '"EXPR"',
  }),
  "x-min": flag.number("input range start", { default: d.xMin }),
  "x-max": flag.number("input range end", { default: d.xMax }),
  seed: seedFlag(d.seed, "seeds the data, the initial weights and the batch order"),
  study: flag.choice(
    `run the lab's study instead of one run (epochs ${STUDIES.epochs.join("/")}; LR ${STUDIES.lr.join("/")})`,
    Object.keys(STUDIES) as StudyName[],
    {},
  ),
  backend: backendFlag("what to run on; auto prefers a CPU backend for this tiny model"),
  out: outFlag("runs/exp1-<time>"),
  load: flag.path("a saved model to redraw (with --plot): <run>.safetensors or <run>.pth", {
    placeholder: "FILE",
  }),
  plot: flag.boolean("redraw the fit of --load FILE without training"),
  ...watchFlags(),
}, {
  description: "Lab 1: fit f(x) with a small MLP and MSE; study epochs and learning rate.",
  examples: [
    "deno task exp1                                  # one run, lab defaults",
    "deno task exp1 --study epochs                   # 100, 1000, 10000, 50000 epochs",
    "deno task exp1 --study lr                       # LR 1, 0.1, 0.01, 0.001 at 1000 epochs",
    'deno task exp1 --fn "sin(3*x) + x^2/4"          # your own f(x)',
    "deno task exp1 --load runs/x/model.pth --plot",
  ],
});

/** The resolved configuration of an exp1 invocation. */
interface Exp1Config {
  fit: FitConfig;
  fn: string;
  study: StudyName | null;
  backend: BackendChoice;
  out: string;
}

function resolveConfig(
  args: string[],
): Exp1Config & { load?: string; help: boolean; watch: WatchRequest | null } {
  const { values: v } = cli.parse(args);
  const watch = watchRequest(v);
  if (v.watch && v.plot) throw new UsageError(`--watch is for training runs, not --plot`);
  const fit: FitConfig = {
    epochs: v.epochs,
    lr: v.lr,
    samples: v.samples,
    batchSize: v.batchSize,
    hidden: v.hidden,
    optimizer: v.optimizer,
    xMin: v.xMin,
    xMax: v.xMax,
    seed: v.seed,
  };
  if (fit.xMin >= fit.xMax) {
    throw new UsageError(`--x-min must be below --x-max, got ${fit.xMin} and ${fit.xMax}`);
  }
  if (v.load && !v.plot) throw new UsageError(`--load needs --plot (redraw a saved model's fit)`);
  if (v.plot && !v.load) throw new UsageError(`--plot needs --load FILE`);
  try {
    checkFinite(compileExpr(v.fn), { xMin: fit.xMin, xMax: fit.xMax });
  } catch (e) {
    throw new UsageError(`--fn: ${(e as Error).message}`);
  }
  return {
    fit,
    fn: v.fn,
    study: v.study ?? null,
    backend: v.backend,
    out: v.out ??
      (v.load
        ? join(dirname(v.load), `${basename(v.load).replace(/\.(safetensors|pth|pt)$/, "")}-plot`)
        : `runs/exp1-${timeStamp()}`),
    load: v.load,
    help: v.help,
    watch,
  };
}

function parseHidden(text: string, name: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length > 16 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--${name} must be comma-separated widths such as 64,64, got "${text}"`);
  }
  return parts.map((p) => numberFlag(name, p, { integer: true, min: 1, max: 4096 }));
}

async function train(config: Exp1Config, watch: WatchRequest | null): Promise<void> {
  const fn = compileExpr(config.fn);
  // Nothing a run wrote is overwritten: a new or empty folder only.
  checkFreshOut(await inspectOutFolder(config.out), "exp1");
  const backend = await selectBackend(config.backend, { preferCpu: true });
  console.error(`exp1: backend ${backend.backend} on ${backend.device} (${backend.reason})`);
  const runs = studyRuns(config.study, config.fit);
  if (backend.slow) {
    for (const line of slowBackendNotice("exp1", "a few times slower than native for this small model")) {
      console.error(line);
    }
  }
  await writeJsonAtomic(
    join(config.out, "run.json"),
    runInfo("exp1", {
      fit: config.fit,
      fn: config.fn,
      study: config.study,
      backend: config.backend,
      out: config.out,
    }, backend),
  );
  console.error(`exp1: writing ${config.out}/`);

  const grid = gridPoints(config.fit);
  const truth = grid.map((x) => fn.evaluate(x));
  const fits: Series[] = [{ name: "true f(x)", x: grid, y: truth, dashed: true, color: "#000000" }];
  const losses: Series[] = [];
  const notes: string[] = [];
  const summary: Row[] = [];
  const offsets = exp1StepOffsets(runs.map((r) => r.config));
  const log = await StepLog.open(join(config.out, "steps.csv"));
  const server = watch ? await startWatchInWorker([config.out], { port: watch.port }) : null;
  if (server) console.error(`exp1: watch the run at ${server.url}`);
  const stop = watchInterrupts({
    notice: `exp1: stopping after the current epoch (Ctrl-C again stops at once)`,
  });
  try {
    for (const [k, run] of runs.entries()) {
      const stepsPerEpoch = Math.ceil(run.config.samples / run.config.batchSize);
      const bar = new Progress(`run ${k + 1}/${runs.length} ${run.name}`, run.config.epochs, {
        unit: "epoch",
      });
      let last = { epoch: 0, at: performance.now() };
      const { model, result } = await fitFunction((x) => fn.evaluate(x), run.config, {
        onEpoch: (epoch, loss) => {
          bar.update(epoch, `loss ${loss.toPrecision(4)}`);
          const now = performance.now();
          log.append({
            step: offsets[k] + epoch * stepsPerEpoch,
            epoch,
            lr: run.config.lr,
            loss,
            imagesPerSecond: (epoch - last.epoch) * run.config.samples /
              Math.max((now - last.at) / 1000, 1e-9),
          });
          last = { epoch, at: now };
          stop.throwIfRequested(() =>
            `exp1: stopped in run ${run.name}, epoch ${epoch}; the runs finished before it are in ` +
            `${config.out}/ (summary.csv). exp1 has no resume: run the command again with another --out`
          );
        },
      });
      bar.done();
      const status = result.status === "ok" ? "ok" : `diverged at epoch ${result.divergedEpoch}`;
      console.error(
        `${run.name}: train_mse ${fmt(result.trainMse)} test_mse ${fmt(result.testMse)} ` +
          `${result.seconds.toFixed(1)} s (${(result.steps / result.seconds).toFixed(0)} steps/s) ${status}`,
      );
      summary.push({
        run: run.name,
        epochs: run.config.epochs,
        lr: run.config.lr,
        optimizer: run.config.optimizer,
        train_mse: result.trainMse,
        test_mse: result.testMse,
        seconds: Number(result.seconds.toFixed(2)),
        status,
      });
      const epochs = result.epochLoss.map((_, i) => i + 1);
      await writeFileAtomic(
        join(config.out, `${run.name}.csv`),
        toCsv(EPOCH_LOSS_COLUMNS, result.epochLoss.map((l, i) => ({ epoch: i + 1, train_loss: l }))),
      );
      const color = runColor(k);
      if (result.status === "ok") {
        const state = await model.stateDict();
        await writeFileAtomic(
          join(config.out, `${run.name}.safetensors`),
          saveModel(state, run.config, config.fn),
        );
        // nn.Sequential's state_dict at the top level: model.load_state_dict(torch.load(p)).
        const pth = encodePth(state);
        await writeFileAtomic(join(config.out, `${run.name}.pth`), pth);
        if (runs.length === 1) await writeFileAtomic(join(config.out, "model.pth"), pth);
        fits.push({ name: run.name, x: grid, y: await predict(model, grid), color });
      } else {
        // fit.csv keeps an empty column for it; the chart names it in a note instead.
        fits.push({ name: run.name, x: grid, y: [], color });
        notes.push(`${run.name}: diverged at epoch ${result.divergedEpoch}, no fit`);
      }
      if (result.epochLoss.length) {
        const name = result.status === "ok" ? run.name : `${run.name} (diverged)`;
        losses.push({ name, x: epochs, y: result.epochLoss, color });
      }
      model.dispose();
      // Rewritten after every run, so a stopped study keeps what it finished.
      await writeFileAtomic(join(config.out, "summary.csv"), toCsv(SUMMARY_COLUMNS, summary));
      await writeCharts(config.out, fits, losses, config.fn, notes);
    }
  } finally {
    log.close();
    stop.dispose();
    if (server && !watch?.stay) await server.close();
  }
  const files = runs.length === 1 ? "model.pth (the hand-in), " : "<run>.pth models, ";
  console.error(`exp1: wrote ${config.out}/ (${files}summary.csv, fit.svg, loss.svg)`);
  console.log(toCsv(SUMMARY_COLUMNS, summary).trimEnd());
  if (server && watch?.stay) {
    console.error(`exp1: the run is over; serving ${server.url} until Ctrl-C`);
    await untilInterrupted();
    await server.close();
  }
}

function saveModel(state: StateDict, fit: FitConfig, fn: string): Uint8Array {
  return encodeSafetensors(state, {
    metadata: { format: "pt", model: "mlp", config: JSON.stringify({ ...fit, fn }) },
  });
}

async function writeCharts(
  out: string,
  fits: Series[],
  losses: Series[],
  fn: string,
  notes: string[] = [],
): Promise<void> {
  const x = fits[0].x;
  const rows = Array.from(x, (xv, i) => {
    const row: Row = { x: xv };
    for (const s of fits) row[s.name] = s.y[i] ?? null;
    return row;
  });
  await writeFileAtomic(join(out, "fit.csv"), toCsv(["x", ...fits.map((s) => s.name)], rows));
  await writeFileAtomic(
    join(out, "fit.svg"),
    lineChart({
      title: `Fitted curves over f(x) = ${fn}`,
      xLabel: "x",
      yLabel: "f(x)",
      series: fits.filter((s) => s.y.length > 0),
      notes,
    }),
  );
  if (losses.length) {
    await writeFileAtomic(
      join(out, "loss.svg"),
      lineChart({
        title: "Training loss",
        xLabel: "epoch",
        yLabel: "MSE",
        series: losses,
        logY: true,
        integerX: true,
      }),
    );
  }
}

async function plot(file: string, config: Exp1Config): Promise<void> {
  checkFreshOut(await inspectOutFolder(config.out), "exp1");
  const bytes = await readFileNamed(file, "model", { maxBytes: MAX_MLP_BYTES });
  let saved: FitConfig & { fn: string };
  let state: StateDict;
  if (!isZip(bytes)) {
    // exp1's safetensors: its config and tensors checked before any model is built.
    ({ config: saved, state } = decodeMlpModel(bytes, file));
  } else {
    // A .pth holds the weights only: the widths from their shapes, f and the range from the flags.
    state = decodeWeights(bytes, file).state;
    const hidden = mlpHidden(state);
    if (hidden === null || hidden.length > MLP_LIMITS.layers || hidden.some((w) => w > MLP_LIMITS.width)) {
      throw new Error(
        `${file}: not an exp1 model (not the state_dict of an nn.Sequential MLP of --hidden's sizes)`,
      );
    }
    saved = { ...config.fit, hidden, fn: config.fn };
  }
  const backend = await selectBackend(config.backend, { preferCpu: true });
  const fn = compileExpr(saved.fn);
  const model = new Mlp(saved.hidden);
  try {
    model.loadStateDict(state, file);
    const grid = gridPoints(saved);
    const name = basename(file).replace(/\.(safetensors|pth|pt)$/, "");
    await writeJsonAtomic(
      join(config.out, "run.json"),
      runInfo("exp1", { ...config, load: file, saved }, backend),
    );
    await writeCharts(
      config.out,
      [
        { name: "true f(x)", x: grid, y: grid.map((x) => fn.evaluate(x)), dashed: true, color: "#000000" },
        { name, x: grid, y: await predict(model, grid), color: runColor(0) },
      ],
      [],
      saved.fn,
    );
    console.error(`exp1: redrew ${file} into ${config.out}/fit.svg`);
  } finally {
    model.dispose();
  }
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toPrecision(4) : String(v);
}

export { cli };

if (import.meta.main) {
  await runMain(async () => {
    const config = resolveConfig(Deno.args);
    if (config.help) return console.log(cli.help());
    if (config.load) return await plot(config.load, config);
    await train(config, config.watch);
    tf.disposeVariables();
  });
}

/**
 * Lab 1: fit f(x) = x^2 + 2 sin(x) + cos(x - 1) - 5 (or your own `--fn`)
 * with a small ReLU MLP and MSE, and study how the fit changes with the
 * number of epochs and the learning rate.
 *
 *   deno task exp1                                  # one run, lab defaults
 *   deno task exp1 --study epochs                   # 100, 1000, 10000, 50000 epochs
 *   deno task exp1 --study lr                       # LR 1, 0.1, 0.01, 0.001 at 1000 epochs
 *   deno task exp1 --fn "sin(3*x) + x^2/4"          # your own f(x)
 *   deno task exp1 --load runs/x/e1000-lr0.01.safetensors --plot
 *
 * Writes into `--out`: run.json (config, backend, device, versions),
 * summary.csv, one <run>.csv of per-epoch loss and one <run>.safetensors
 * model per run, fit.csv, fit.svg (fitted curves over the true f) and
 * loss.svg.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { basename, dirname, join } from "node:path";
import { type BackendChoice, BACKENDS, selectBackend } from "../lib/runtime/backend.ts";
import { choiceFlag, numberFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { checkFinite, compileExpr, DEFAULT_FN } from "../lib/data/expr.ts";
import { FIT_DEFAULTS, type FitConfig, fitFunction, gridPoints, predict } from "../lib/train/fit_function.ts";
import { Mlp } from "../lib/models/mlp.ts";
import { type StudyName, studyRuns } from "../lib/train/study.ts";
import { lineChart, type Series } from "../lib/report/line_chart.ts";
import { type Row, toCsv } from "../lib/report/csv.ts";
import { EPOCH_LOSS_COLUMNS, SUMMARY_COLUMNS } from "../lib/report/columns.ts";
import { readFileNamed, writeFileAtomic, writeJsonAtomic } from "../lib/runtime/files.ts";
import { Progress } from "../lib/runtime/progress.ts";
import { runInfo } from "../lib/runtime/run_info.ts";
import { decodeSafetensors, encodeSafetensors } from "../lib/formats/safetensors.ts";

const HELP = `Usage: deno task exp1 [flags]

  --epochs N         passes over the training samples (default ${FIT_DEFAULTS.epochs})
  --lr X             learning rate (default ${FIT_DEFAULTS.lr})
  --samples N        training samples, x uniform in [x-min, x-max] (default ${FIT_DEFAULTS.samples})
  --batch-size N     mini-batch size (default ${FIT_DEFAULTS.batchSize})
  --hidden A,B,...   hidden layer widths (default ${FIT_DEFAULTS.hidden.join(",")})
  --optimizer NAME   adam | sgd (default ${FIT_DEFAULTS.optimizer})
  --fn "EXPR"        target f(x) (default "${DEFAULT_FN}")
  --x-min X, --x-max X   input range (default ${FIT_DEFAULTS.xMin}..${FIT_DEFAULTS.xMax})
  --seed N           seed for data, initial weights and batches (default ${FIT_DEFAULTS.seed})
  --study NAME       epochs | lr: run the lab's study instead of one run
  --backend NAME     ${BACKENDS.join(" | ")} (default auto)
  --out DIR          output folder (default runs/exp1-<time>)
  --load FILE --plot redraw the fit of a saved model without training
`;

/** The resolved configuration of an exp1 invocation. */
interface Exp1Config {
  fit: FitConfig;
  fn: string;
  study: StudyName | null;
  backend: BackendChoice;
  out: string;
}

function resolveConfig(args: string[]): Exp1Config & { load?: string; help: boolean } {
  const { values: v } = parseFlags(args, {
    epochs: { type: "string" },
    lr: { type: "string" },
    samples: { type: "string" },
    "batch-size": { type: "string" },
    hidden: { type: "string" },
    optimizer: { type: "string" },
    fn: { type: "string" },
    "x-min": { type: "string" },
    "x-max": { type: "string" },
    seed: { type: "string" },
    study: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    load: { type: "string" },
    plot: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  const d = FIT_DEFAULTS;
  const fit: FitConfig = {
    epochs: v.epochs !== undefined
      ? numberFlag("epochs", v.epochs, { integer: true, min: 1, max: 1e7 })
      : d.epochs,
    lr: v.lr !== undefined ? numberFlag("lr", v.lr, { min: 0, exclusiveMin: true, max: 1e3 }) : d.lr,
    samples: v.samples !== undefined
      ? numberFlag("samples", v.samples, { integer: true, min: 1, max: 1e7 })
      : d.samples,
    batchSize: v["batch-size"] !== undefined
      ? numberFlag("batch-size", v["batch-size"], { integer: true, min: 1, max: 1e7 })
      : d.batchSize,
    hidden: v.hidden !== undefined ? parseHidden(v.hidden) : d.hidden,
    optimizer: v.optimizer !== undefined
      ? choiceFlag("optimizer", v.optimizer, ["adam", "sgd"] as const)
      : d.optimizer,
    xMin: v["x-min"] !== undefined ? numberFlag("x-min", v["x-min"]) : d.xMin,
    xMax: v["x-max"] !== undefined ? numberFlag("x-max", v["x-max"]) : d.xMax,
    seed: v.seed !== undefined
      ? numberFlag("seed", v.seed, { integer: true, min: 0, max: 2 ** 31 - 1 })
      : d.seed,
  };
  if (fit.xMin >= fit.xMax) {
    throw new UsageError(`--x-min must be below --x-max, got ${fit.xMin} and ${fit.xMax}`);
  }
  if (v.load && !v.plot) throw new UsageError(`--load needs --plot (redraw a saved model's fit)`);
  if (v.plot && !v.load) throw new UsageError(`--plot needs --load FILE`);
  if (v.fn !== undefined) {
    try {
      checkFinite(compileExpr(v.fn), { xMin: fit.xMin, xMax: fit.xMax });
    } catch (e) {
      throw new UsageError(`--fn: ${(e as Error).message}`);
    }
  } else checkFinite(compileExpr(DEFAULT_FN), { xMin: fit.xMin, xMax: fit.xMax });
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return {
    fit,
    fn: v.fn ?? DEFAULT_FN,
    study: v.study !== undefined ? choiceFlag("study", v.study, ["epochs", "lr"] as const) : null,
    backend: v.backend !== undefined ? choiceFlag("backend", v.backend, BACKENDS) : "auto",
    out: v.out ??
      (v.load ? join(dirname(v.load), `${basename(v.load, ".safetensors")}-plot`) : `runs/exp1-${stamp}`),
    load: v.load,
    help: v.help ?? false,
  };
}

function parseHidden(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length > 16 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--hidden must be comma-separated widths such as 64,64, got "${text}"`);
  }
  return parts.map((p) => numberFlag("hidden", p, { integer: true, min: 1, max: 4096 }));
}

async function train(config: Exp1Config): Promise<void> {
  const fn = compileExpr(config.fn);
  const backend = await selectBackend(config.backend, { preferCpu: true });
  console.error(`exp1: backend ${backend.backend} on ${backend.device} (${backend.reason})`);
  const runs = studyRuns(config.study, config.fit);
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

  const grid = gridPoints(config.fit);
  const truth = grid.map((x) => fn.evaluate(x));
  const fits: Series[] = [{ name: "true f(x)", x: grid, y: truth, dashed: true }];
  const losses: Series[] = [];
  const summary: Row[] = [];
  for (const run of runs) {
    const bar = new Progress(run.name, run.config.epochs, { unit: "epoch" });
    const { model, result } = await fitFunction((x) => fn.evaluate(x), run.config, {
      onEpoch: (epoch, loss) => bar.update(epoch, `loss ${loss.toPrecision(4)}`),
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
    await writeFileAtomic(
      join(config.out, `${run.name}.safetensors`),
      await saveModel(model, run.config, config.fn),
    );
    losses.push({ name: run.name, x: epochs, y: result.epochLoss });
    fits.push({ name: run.name, x: grid, y: result.status === "ok" ? await predict(model, grid) : [] });
    model.dispose();
    // Rewritten after every run, so a stopped study keeps what it finished.
    await writeFileAtomic(join(config.out, "summary.csv"), toCsv(SUMMARY_COLUMNS, summary));
    await writeCharts(config.out, fits, losses, config.fn);
  }
  console.error(`exp1: wrote ${config.out}/ (summary.csv, fit.svg, loss.svg, models)`);
  console.log(toCsv(SUMMARY_COLUMNS, summary).trimEnd());
}

async function saveModel(model: Mlp, fit: FitConfig, fn: string): Promise<Uint8Array> {
  return encodeSafetensors(await model.stateDict(), {
    metadata: { format: "pt", model: "mlp", config: JSON.stringify({ ...fit, fn }) },
  });
}

async function writeCharts(out: string, fits: Series[], losses: Series[], fn: string): Promise<void> {
  const x = fits[0].x;
  const rows = Array.from(x, (xv, i) => {
    const row: Row = { x: xv };
    for (const s of fits) row[s.name] = s.y[i] ?? null;
    return row;
  });
  await writeFileAtomic(join(out, "fit.csv"), toCsv(["x", ...fits.map((s) => s.name)], rows));
  await writeFileAtomic(
    join(out, "fit.svg"),
    lineChart({ title: `Fitted curves over f(x) = ${fn}`, xLabel: "x", yLabel: "f(x)", series: fits }),
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
  const { state, metadata } = decodeSafetensors(await readFileNamed(file, "model"), { source: file });
  let saved: FitConfig & { fn: string };
  try {
    saved = JSON.parse(metadata.config ?? "");
  } catch {
    throw new Error(`${file}: not an exp1 model (its metadata has no valid "config")`);
  }
  if (metadata.model !== "mlp" || !Array.isArray(saved.hidden)) {
    throw new Error(`${file}: not an exp1 model (metadata model is "${metadata.model}")`);
  }
  const backend = await selectBackend(config.backend, { preferCpu: true });
  const fn = compileExpr(saved.fn);
  const model = new Mlp(saved.hidden);
  try {
    model.loadStateDict(state, file);
    const grid = gridPoints(saved);
    const name = basename(file, ".safetensors");
    await writeJsonAtomic(
      join(config.out, "run.json"),
      runInfo("exp1", { ...config, load: file, saved }, backend),
    );
    await writeCharts(
      config.out,
      [
        { name: "true f(x)", x: grid, y: grid.map((x) => fn.evaluate(x)), dashed: true },
        { name, x: grid, y: await predict(model, grid) },
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

if (import.meta.main) {
  await runMain(async () => {
    const config = resolveConfig(Deno.args);
    if (config.help) return console.log(HELP);
    if (config.load) return await plot(config.load, config);
    await train(config);
    tf.disposeVariables();
  });
}

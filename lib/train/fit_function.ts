/**
 * Lab 1's training loop: fit a function of one variable with an {@linkcode Mlp}
 * and MSE. Each step samples a mini-batch, predicts, computes the MSE,
 * back-propagates and updates, as the lab describes; one epoch is one pass
 * over the training samples in shuffled mini-batches (as `pytorch_fit.py`).
 *
 * A loss that turns NaN or infinite is a result, not a crash: the run stops
 * and reports `diverged` with the epoch.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "../ops/gradients.ts";
import { Mlp } from "../models/mlp.ts";
import { Rng } from "../data/rng.ts";
import { mseLoss } from "../ops/mod.ts";
import { Adam } from "./adam.ts";
import type { FitConfig } from "./defaults.ts";

export { FIT_DEFAULTS, type FitConfig } from "./defaults.ts";

/** Points of the dense test grid over [xMin, xMax] (as `pytorch_fit.py`). */
export const GRID_POINTS = 1001;

/** The outcome of {@linkcode fitFunction}. */
export interface FitResult {
  status: "ok" | "diverged";
  /** 1-based epoch whose loss was not finite, when diverged. */
  divergedEpoch: number | null;
  /** Mean training loss of each completed epoch. */
  epochLoss: number[];
  /** MSE on all training samples after training (NaN when diverged). */
  trainMse: number;
  /** MSE on the dense grid (NaN when diverged). */
  testMse: number;
  /** Optimisation steps taken. */
  steps: number;
  /** Wall time of the training loop, evaluation excluded. */
  seconds: number;
}

/** Options for {@linkcode fitFunction}. */
export interface FitOptions {
  /** Called after each epoch with its 1-based number and mean loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/**
 * Samples `config.samples` training points of `f`, trains a fresh MLP and
 * returns it with the result. The caller disposes the model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { FIT_DEFAULTS, fitFunction } from "./fit_function.ts";
 * await tf.setBackend("cpu");
 * // A short run; the lab's default is FIT_DEFAULTS (1000 samples, 1000 epochs).
 * const config = { ...FIT_DEFAULTS, samples: 200, epochs: 3, hidden: [16] };
 * const { model, result } = await fitFunction((x) => x * x, config);
 * assert.equal(result.status, "ok");
 * assert.equal(result.epochLoss.length, 3);
 * assert.equal(result.steps, 3 * 200 / config.batchSize);
 * assert.ok(Number.isFinite(result.testMse));
 * model.dispose();
 * ```
 */
export async function fitFunction(
  f: (x: number) => number,
  config: FitConfig,
  options: FitOptions = {},
): Promise<{ model: Mlp; result: FitResult }> {
  const rng = new Rng(config.seed);
  const xs = new Float32Array(config.samples);
  for (let i = 0; i < xs.length; i++) {
    xs[i] = config.xMin + rng.float() * (config.xMax - config.xMin);
  }
  const ys = xs.map((x) => f(x));
  const x = tf.tensor2d(xs, [xs.length, 1]);
  const y = tf.tensor2d(ys, [ys.length, 1]);
  const model = new Mlp(config.hidden, { seed: config.seed });
  const vars = model.variables();
  // Adam: PyTorch's defaults and rounding, every parameter in one update.
  const adam = config.optimizer === "adam" ? new Adam(vars, { lr: config.lr }) : null;
  const sgd = adam ? null : tf.train.sgd(config.lr);
  const epochLoss: number[] = [];
  let divergedEpoch: number | null = null;
  let steps = 0;
  const start = performance.now();
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = rng.permutation(config.samples);
      // Summed on the device and read once per epoch: no per-step sync.
      let total: tf.Tensor = tf.scalar(0);
      for (let s = 0; s < order.length; s += config.batchSize) {
        const n = Math.min(config.batchSize, order.length - s);
        // Batches are assembled on the host: cheaper than a gather op per step.
        const xb = new Float32Array(n);
        const yb = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          xb[i] = xs[order[s + i]];
          yb[i] = ys[order[s + i]];
        }
        const next = tf.tidy(() => {
          const xt = tf.tensor2d(xb, [n, 1]);
          const yt = tf.tensor2d(yb, [n, 1]);
          const f = () => mseLoss(model.forward(xt), yt);
          let loss: tf.Scalar;
          if (adam) {
            const { value, grads } = tf.variableGrads(f, vars);
            adam.step(grads);
            loss = value;
          } else {
            loss = sgd!.minimize(f, true, vars)!;
          }
          return tf.add(total, tf.mul(loss, n));
        });
        total.dispose();
        total = next;
        steps++;
      }
      // An async read: WebGPU in Deno has no synchronous download.
      const loss = (await total.data())[0] / config.samples;
      total.dispose();
      if (!Number.isFinite(loss)) {
        divergedEpoch = epoch;
        break;
      }
      epochLoss.push(loss);
      options.onEpoch?.(epoch, loss);
    }
  } finally {
    adam?.dispose();
    sgd?.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  const diverged = divergedEpoch !== null;
  const trainMse = diverged ? NaN : await mse(model, x, y);
  const grid = gridPoints(config);
  const gx = tf.tensor2d(grid, [grid.length, 1]);
  const gy = tf.tensor2d(grid.map((v) => f(v)), [grid.length, 1]);
  const testMse = diverged ? NaN : await mse(model, gx, gy);
  if (!diverged && !(Number.isFinite(trainMse) && Number.isFinite(testMse))) divergedEpoch = config.epochs;
  tf.dispose([x, y, gx, gy]);
  return {
    model,
    result: {
      status: divergedEpoch !== null ? "diverged" : "ok",
      divergedEpoch,
      epochLoss,
      trainMse,
      testMse,
      steps,
      seconds,
    },
  };
}

/**
 * The dense evaluation grid: {@linkcode GRID_POINTS} points from xMin to xMax.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GRID_POINTS, gridPoints } from "./fit_function.ts";
 * const grid = gridPoints({ xMin: -5, xMax: 5 });
 * assert.equal(grid.length, GRID_POINTS);
 * assert.deepEqual([grid[0], grid[500], grid[1000]], [-5, 0, 5]);
 * ```
 */
export function gridPoints(range: { xMin: number; xMax: number }): Float32Array {
  const out = new Float32Array(GRID_POINTS);
  for (let i = 0; i < GRID_POINTS; i++) {
    out[i] = range.xMin + (range.xMax - range.xMin) * i / (GRID_POINTS - 1);
  }
  return out;
}

/**
 * The model's predictions at `xs`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { predict } from "./fit_function.ts";
 * import { Mlp } from "../models/mlp.ts";
 * await tf.setBackend("cpu");
 * const model = new Mlp([8]); // usually the model fitFunction() returns
 * const ys = await predict(model, Float32Array.of(-1, 0, 1));
 * assert.equal(ys.length, 3);
 * model.dispose();
 * ```
 */
export async function predict(model: Mlp, xs: Float32Array): Promise<Float32Array> {
  const y = tf.tidy(() => model.forward(tf.tensor2d(xs, [xs.length, 1])));
  const values = await y.data() as Float32Array;
  y.dispose();
  return values;
}

async function mse(model: Mlp, x: tf.Tensor2D, y: tf.Tensor2D): Promise<number> {
  const loss = tf.tidy(() => mseLoss(model.forward(x), y));
  const value = (await loss.data())[0];
  loss.dispose();
  return value;
}

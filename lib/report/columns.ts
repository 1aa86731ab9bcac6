/**
 * The columns of the CSV files a run folder holds: the labs write them, the
 * report reads them, and students feed them to their own tools. Pure
 * constants, no TensorFlow.js, so readers stay light.
 *
 * @module
 */

/** Lab 1's `summary.csv`: one row per run of a study. */
export const SUMMARY_COLUMNS = [
  "run",
  "epochs",
  "lr",
  "optimizer",
  "train_mse",
  "test_mse",
  "seconds",
  "status",
] as const;

/** Lab 1's `<run>.csv`: mean training loss per epoch. */
export const EPOCH_LOSS_COLUMNS = ["epoch", "train_loss"] as const;

/** Lab 2's `metrics.csv`: one row per epoch; seconds exclude evaluation. */
export const METRICS_COLUMNS = [
  "epoch",
  "lr",
  "train_loss",
  "train_acc",
  "test_loss",
  "test_acc",
  "epoch_seconds",
  "images_per_second",
] as const;

/**
 * `steps.csv`, written while training (exp1 and exp2) and read by `deno task
 * watch`: a few rows a second at most. `step` counts optimisation steps from
 * the start of the run (in an exp1 study, each run starts where the one
 * before it was planned to end); `epoch` is the 1-based epoch the row's last
 * step belongs to; `loss` and `acc` are means over the steps since the
 * previous row (`acc` is empty where the lab has none); `images_per_second`
 * is training examples per second.
 */
export const STEPS_COLUMNS = ["step", "epoch", "lr", "loss", "acc", "images_per_second"] as const;

/**
 * One `metrics.csv` row.
 *
 * @example
 * ```ts
 * import { type EpochMetrics, METRICS_COLUMNS } from "./columns.ts";
 * const row: EpochMetrics = Object.fromEntries(METRICS_COLUMNS.map((c) => [c, 0])) as EpochMetrics;
 * console.assert(row.test_acc === 0);
 * ```
 */
export type EpochMetrics = Record<typeof METRICS_COLUMNS[number], number>;

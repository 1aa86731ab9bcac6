/**
 * The columns of the CSV files a run folder holds: the labs write them, the
 * report reads them, and students feed them to their own tools. Pure
 * constants, no TensorFlow.js, so readers stay light.
 *
 * @module
 */
import { INHERITED_COLUMN, METRICS_COLUMNS, type MetricsRow } from "../formats/checkpoint.ts";

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

/** Lab 2's `metrics.csv`: one row per epoch; seconds exclude evaluation. Checkpoints carry these rows. */
export { METRICS_COLUMNS };

export { INHERITED_COLUMN };

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

/** One `metrics.csv` row. */
export type EpochMetrics = MetricsRow;

/** What {@linkcode epochMetrics} needs of a pass over the data. */
export interface PassSummary {
  /** Mean loss per example. */
  loss: number;
  /** Top-1 accuracy in [0, 1]. */
  acc: number;
  /** Examples seen. */
  count: number;
  /** Wall time. */
  seconds: number;
}

/**
 * The `metrics.csv` row of one epoch: losses and accuracies to 4 decimals,
 * the training pass's time and rate (evaluation excluded) to 0.1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { epochMetrics } from "./columns.ts";
 * const train = { loss: 1.23456, acc: 0.5, count: 1000, seconds: 4 };
 * const test = { loss: 1.5, acc: 0.41239, count: 100, seconds: 1 };
 * assert.deepEqual(epochMetrics(3, 0.1, train, test), {
 *   epoch: 3, lr: 0.1, train_loss: 1.2346, train_acc: 0.5, test_loss: 1.5, test_acc: 0.4124,
 *   epoch_seconds: 4, images_per_second: 250,
 * });
 * ```
 */
export function epochMetrics(epoch: number, lr: number, train: PassSummary, test: PassSummary): EpochMetrics {
  const round = (v: number) => Number(v.toFixed(4));
  return {
    epoch,
    lr,
    train_loss: round(train.loss),
    train_acc: round(train.acc),
    test_loss: round(test.loss),
    test_acc: round(test.acc),
    epoch_seconds: Number(train.seconds.toFixed(1)),
    images_per_second: Number((train.count / train.seconds).toFixed(1)),
  };
}

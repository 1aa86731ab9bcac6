/**
 * Lab 2's accuracy chart: train and test accuracy per epoch over the whole
 * schedule, with the learning-rate stages marked. One builder for the chart
 * a run writes (`accuracy.svg`) and the one the report redraws. Pure.
 *
 * @module
 */
import { type Stage, stageStarts, totalEpochs } from "../train/schedule.ts";
import type { EpochMetrics } from "./columns.ts";
import { lineChart } from "./line_chart.ts";

/** The part of a `metrics.csv` row the chart draws. */
export type AccuracyRow = Pick<EpochMetrics, "epoch" | "train_acc" | "test_acc">;

/**
 * The SVG of `rows` (accuracies in [0, 1], drawn in percent) over epochs 1
 * to the end of `stages`, a marker between the last epoch of each stage and
 * the first of the next.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accuracyChart } from "./accuracy_chart.ts";
 * const svg = accuracyChart(
 *   [{ epoch: 1, train_acc: 0.4, test_acc: 0.45 }, { epoch: 2, train_acc: 0.5, test_acc: 0.52 }],
 *   [{ lr: 0.1, epochs: 1 }, { lr: 0.01, epochs: 1 }],
 * );
 * assert.match(svg, /LR 0\.01/);
 * ```
 */
export function accuracyChart(rows: readonly AccuracyRow[], stages: readonly Stage[]): string {
  const x = rows.map((r) => r.epoch);
  return lineChart({
    title: `Train and test accuracy per epoch (LR ${stages[0].lr} from epoch 1)`,
    xLabel: "epoch",
    yLabel: "accuracy (%)",
    yRange: [0, 100],
    xRange: [1, Math.max(totalEpochs(stages), 2)],
    integerX: true,
    series: [
      { name: "test", x, y: rows.map((r) => 100 * r.test_acc), dots: true },
      { name: "train", x, y: rows.map((r) => 100 * r.train_acc), dots: true },
    ],
    // Between the last epoch of a stage and the first of the next, clear of the plot's edges.
    markers: stageStarts(stages).slice(1).map((s) => ({ x: s.epoch - 0.5, label: `LR ${s.lr}` })),
  });
}

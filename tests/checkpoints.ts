/**
 * Small valid training files for tests and the hostile-input bench, the
 * bases their damaged variants are made from: a Lab 2 checkpoint with one
 * tensor, its metrics rows and config, and a Lab 1 model's config and zero
 * weights. Pure: bytes and objects, no disk; the MLP's tensor names come
 * from lib/models/mlp.ts, which imports TensorFlow.js.
 *
 * @module
 */
import { encodeCheckpoint, METRICS_COLUMNS, type MetricsRow } from "../lib/formats/checkpoint.ts";
import { numel, type StateDict } from "../lib/formats/state_dict.ts";
import { mlpSpec, type SavedFitConfig } from "../lib/models/mlp.ts";

/** A complete metrics row of `epoch` (what a checkpoint must hold): zeros except `values`. */
export function metricsRow(epoch: number, values: Partial<MetricsRow> = {}): MetricsRow {
  const row = Object.fromEntries(METRICS_COLUMNS.map((c) => [c, 0])) as Record<string, number> as MetricsRow;
  return { ...row, epoch, ...values };
}

/** The config fields a checkpoint must carry, at the lab's values. */
export const CHECKPOINT_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  batchSize: 128,
  seed: 0,
  limitTrain: null,
  limitTest: null,
  momentum: 0.9,
  weightDecay: 1e-4,
});

/** What {@linkcode tinyCheckpoint} may change. */
export interface TinyCheckpointOptions {
  /** Merged over {@linkcode CHECKPOINT_CONFIG}. */
  config?: Record<string, unknown>;
  /** Rows of epochs 1..epoch; by default {@linkcode metricsRow} at LR 0.1. */
  metrics?: unknown[];
}

/** A checkpoint of `epoch` epochs whose only tensor is a one-value `linear.bias`. */
export function tinyCheckpoint(epoch: number, options: TinyCheckpointOptions = {}): Uint8Array {
  const bias = { dtype: "F32" as const, shape: [1], data: Float32Array.of(0.5) };
  const metrics = options.metrics ?? Array.from({ length: epoch }, (_, i) => metricsRow(i + 1, { lr: 0.1 }));
  return encodeCheckpoint(new Map([["linear.bias", bias]]), new Map(), {
    epoch,
    rng: [1, 2, 3, 4],
    config: { ...CHECKPOINT_CONFIG, ...options.config },
    metrics: metrics as MetricsRow[],
  });
}

/** The config of a small Lab 1 model file: one hidden layer of 4, f(x) = x^2. */
export const TINY_FIT_CONFIG: Readonly<SavedFitConfig> = Object.freeze({
  epochs: 10,
  lr: 0.01,
  samples: 100,
  batchSize: 10,
  hidden: [4],
  optimizer: "adam",
  xMin: -5,
  xMax: 5,
  seed: 0,
  fn: "x^2",
});

/** The weights of an MLP with these hidden widths, all zero. */
export function mlpZeros(hidden: readonly number[]): StateDict {
  return new Map([...mlpSpec(hidden)].map(([n, s]) => [n, { ...s, data: new Float32Array(numel(s.shape)) }]));
}

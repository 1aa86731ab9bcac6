/**
 * Training checkpoints for Lab 2: one safetensors file that holds everything
 * an exact resume needs. Tensors: the model's PyTorch `state_dict` (so
 * PyTorch can `load_state_dict` the model part directly) plus the optimizer's
 * momentum buffers under `optimizer.momentum.<param>`. Metadata (strings):
 * the epoch just completed, the RNG state after it, the resolved config and
 * the metrics rows so far. Pure: bytes in, bytes out.
 *
 * Everything read back is validated for what it means, since a resume acts on
 * it: the metrics rows (rewritten into `metrics.csv`) must have exactly
 * {@linkcode METRICS_COLUMNS} with finite numbers in range and consecutive
 * epochs; the config's fields their types; the RNG state four 32-bit
 * integers; the optimizer's buffers finite.
 *
 * @module
 */
import { preview, quote, quoteName } from "../runtime/quote.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import { firstNonFinite, type StateDict } from "./state_dict.ts";

/** Format tag in the metadata; bump when the layout changes. */
export const CHECKPOINT_FORMAT = "tfjs-lab-checkpoint-v1";

/**
 * Lab 2's `metrics.csv` columns, one row per epoch; seconds exclude
 * evaluation. Checkpoints carry these rows (`lib/report/columns.ts`
 * re-exports them for the CSV writers and readers).
 */
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
 * An optional last column of `metrics.csv` and of a checkpoint's rows: the
 * weights file a row's epoch was trained into, for the epochs a run
 * inherited from the file it started from (`exp2 --init` of a file that
 * records its epochs); empty for the run's own epochs.
 */
export const INHERITED_COLUMN = "inherited_from";

/** One metrics row: the values of {@linkcode METRICS_COLUMNS}. */
export type MetricsRow = Record<typeof METRICS_COLUMNS[number], number> & { [INHERITED_COLUMN]?: string };

/** Most epochs a checkpoint may say it completed. */
export const MAX_CHECKPOINT_EPOCHS = 100_000;

/** What a checkpoint holds besides tensors. */
export interface CheckpointMeta {
  /** Epochs completed (1-based number of the last one). */
  epoch: number;
  /** {@linkcode Rng.state} after that epoch. */
  rng: number[];
  /** The resolved training config that produced it. */
  config: Record<string, unknown>;
  /** Metrics rows of every completed epoch, epoch 1 first. */
  metrics: MetricsRow[];
}

/** A decoded checkpoint. */
export interface Checkpoint extends CheckpointMeta {
  /** Model weights, PyTorch names and layouts. */
  model: StateDict;
  /** Optimizer buffers (`optimizer.momentum.*`). */
  optimizer: StateDict;
}

/**
 * Raised for a file that is not a valid checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CheckpointError, decodeCheckpoint } from "./checkpoint.ts";
 * import { encodeSafetensors } from "./safetensors.ts";
 * // A weights-only file has no checkpoint metadata.
 * const bias = { dtype: "F32" as const, shape: [1], data: new Float32Array(1) };
 * const weights = encodeSafetensors(new Map([["linear.bias", bias]]));
 * assert.throws(() => decodeCheckpoint(weights, "final.safetensors"), CheckpointError);
 * ```
 */
export class CheckpointError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

const OPTIMIZER_PREFIX = "optimizer.";

/** Where each metrics column's values must lie. */
const METRIC_RANGES: Record<typeof METRICS_COLUMNS[number], [number, number]> = {
  epoch: [1, MAX_CHECKPOINT_EPOCHS],
  lr: [0, 1e3],
  train_loss: [0, Infinity],
  train_acc: [0, 1],
  test_loss: [0, Infinity],
  test_acc: [0, 1],
  epoch_seconds: [0, Infinity],
  images_per_second: [0, Infinity],
};

type FieldCheck = (v: unknown) => boolean;
const isInt = (min: number, max: number): FieldCheck => (v) =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const isCount = isInt(1, Number.MAX_SAFE_INTEGER);
const isNumber: FieldCheck = (v) => typeof v === "number" && Number.isFinite(v) && v >= 0;
const isText: FieldCheck = (v) => typeof v === "string" && v.length <= 4096;
const orNull = (check: FieldCheck): FieldCheck => (v) => v === null || check(v);

/**
 * The config fields a checkpoint's config must have (the ones a resume
 * compares), then the ones checked when present; others are kept as they are.
 */
const CONFIG_FIELDS: Record<string, { check: FieldCheck; expected: string; required: boolean }> = {
  batchSize: { check: isCount, expected: "an integer >= 1", required: true },
  seed: { check: isInt(-(2 ** 31), 2 ** 31 - 1), expected: "a 32-bit integer", required: true },
  limitTrain: { check: orNull(isCount), expected: "null or an integer >= 1", required: true },
  limitTest: { check: orNull(isCount), expected: "null or an integer >= 1", required: true },
  momentum: { check: isNumber, expected: "a finite number >= 0", required: true },
  weightDecay: { check: isNumber, expected: "a finite number >= 0", required: true },
  schedule: { check: isText, expected: "a string", required: false },
  dataDir: { check: isText, expected: "a string", required: false },
  backend: { check: isText, expected: "a string", required: false },
  out: { check: isText, expected: "a string", required: false },
  resume: { check: orNull(isText), expected: "null or a string", required: false },
  init: { check: orNull(isText), expected: "null or a string", required: false },
};

/**
 * Serialises a checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
 * // In a lab: encodeCheckpoint(model.stateDict(), sgd.state(), { ... }), then writeFileAtomic().
 * const bias = { dtype: "F32" as const, shape: [2], data: Float32Array.of(0.5, -1) };
 * const momentum = { dtype: "F32" as const, shape: [2], data: new Float32Array(2) };
 * const config = { batchSize: 128, seed: 0, limitTrain: null, limitTest: null, momentum: 0.9, weightDecay: 1e-4 };
 * const row = {
 *   epoch: 1, lr: 0.1, train_loss: 2.3, train_acc: 0.1, test_loss: 2.2, test_acc: 0.15,
 *   epoch_seconds: 30, images_per_second: 1667,
 * };
 * const bytes = encodeCheckpoint(
 *   new Map([["linear.bias", bias]]),
 *   new Map([["optimizer.momentum.linear.bias", momentum]]),
 *   { epoch: 1, rng: [1, 2, 3, 4], config, metrics: [row] },
 * );
 * assert.equal(decodeCheckpoint(bytes).epoch, 1);
 * ```
 */
export function encodeCheckpoint(model: StateDict, optimizer: StateDict, meta: CheckpointMeta): Uint8Array {
  const all: StateDict = new Map([...model, ...optimizer]);
  return encodeSafetensors(all, {
    metadata: {
      format: "pt",
      model: "resnet20",
      checkpoint: CHECKPOINT_FORMAT,
      epoch: String(meta.epoch),
      rng: JSON.stringify(meta.rng),
      config: JSON.stringify(meta.config),
      metrics: JSON.stringify(meta.metrics),
    },
  });
}

/**
 * Reads a checkpoint written by {@linkcode encodeCheckpoint}; the tensors are
 * validated by the safetensors reader (and the model's by the model when it
 * loads them), the optimizer's buffers and the metadata here. A weights-only
 * file is rejected with a hint to use `--init`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
 * const bias = { dtype: "F32" as const, shape: [2], data: Float32Array.of(0.5, -1) };
 * const momentum = { dtype: "F32" as const, shape: [2], data: new Float32Array(2) };
 * const config = { batchSize: 128, seed: 0, limitTrain: null, limitTest: null, momentum: 0.9, weightDecay: 1e-4 };
 * const row = {
 *   epoch: 1, lr: 0.1, train_loss: 2.3, train_acc: 0.1, test_loss: 2.2, test_acc: 0.15,
 *   epoch_seconds: 30, images_per_second: 1667,
 * };
 * const bytes = encodeCheckpoint(
 *   new Map([["linear.bias", bias]]),
 *   new Map([["optimizer.momentum.linear.bias", momentum]]),
 *   { epoch: 1, rng: [1, 2, 3, 4], config, metrics: [row] },
 * );
 * const ckpt = decodeCheckpoint(bytes, "epoch-001.safetensors");
 * assert.deepEqual(ckpt.rng, [1, 2, 3, 4]);
 * assert.equal(ckpt.config.batchSize, 128);
 * // A row that is not what the lab writes is refused, naming it:
 * const bad = encodeCheckpoint(new Map([["linear.bias", bias]]), new Map(), {
 *   epoch: 1, rng: [1, 2, 3, 4], config, metrics: [{ ...row, test_acc: 75 }],
 * });
 * assert.throws(() => decodeCheckpoint(bad, "epoch-001.safetensors"), {
 *   message: "epoch-001.safetensors: metadata metrics row 1 has test_acc 75, expected a number in 0..1",
 * });
 * assert.deepEqual([...ckpt.model.keys()], ["linear.bias"]);
 * assert.deepEqual([...ckpt.optimizer.keys()], ["optimizer.momentum.linear.bias"]);
 * ```
 */
export function decodeCheckpoint(bytes: Uint8Array, source = "checkpoint"): Checkpoint {
  const { state, metadata } = decodeSafetensors(bytes, { source });
  if (metadata.checkpoint !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${source} is not a training checkpoint (metadata checkpoint is "${metadata.checkpoint ?? ""}", ` +
        `expected "${CHECKPOINT_FORMAT}"): to start from weights only, use --init`,
    );
  }
  const fail = (message: string): never => {
    throw new CheckpointError(`${source}: metadata ${message}`);
  };
  const epoch = /^\d{1,9}$/.test(metadata.epoch ?? "") ? Number(metadata.epoch) : NaN;
  if (!(epoch <= MAX_CHECKPOINT_EPOCHS)) {
    fail(`epoch is ${quote(metadata.epoch ?? "")}, expected an integer in 0..${MAX_CHECKPOINT_EPOCHS}`);
  }
  const rng = parseJson(metadata.rng, "rng", source);
  const config = parseJson(metadata.config, "config", source);
  const metrics = parseJson(metadata.metrics, "metrics", source);
  if (
    !Array.isArray(rng) || rng.length !== 4 || !rng.every((v) => Number.isInteger(v) && v === (v | 0)) ||
    rng.every((v) => v === 0)
  ) {
    fail(`rng is ${preview(rng)}, expected 4 32-bit integers, not all zero`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    return fail(`config is not an object`);
  }
  for (const [key, { check, expected, required }] of Object.entries(CONFIG_FIELDS)) {
    const value = (config as Record<string, unknown>)[key];
    if (value === undefined && !required) continue;
    if (!check(value)) fail(`config ${key} is ${preview(value)}, expected ${expected}`);
  }
  if (!Array.isArray(metrics) || metrics.length !== epoch) {
    return fail(`metrics should hold ${epoch} rows, one per epoch`);
  }
  metrics.forEach((row: unknown, i: number) => checkMetricsRow(row, i + 1, fail));
  const model: StateDict = new Map();
  const optimizer: StateDict = new Map();
  for (const [name, t] of state) (name.startsWith(OPTIMIZER_PREFIX) ? optimizer : model).set(name, t);
  // Tensor by tensor, so the first bad one is named whichever way it is bad
  // (decodeSafetensors has already matched each dtype to its array class).
  for (const [name, t] of optimizer) {
    if (t.dtype !== "F32") {
      throw new CheckpointError(`${source}: optimizer tensor ${quoteName(name)} is ${t.dtype}, expected F32`);
    }
    const bad = firstNonFinite([[name, t]]);
    if (bad) {
      throw new CheckpointError(
        `${source}: optimizer tensor ${quoteName(name)} holds ${bad.value} at flat index ${bad.index}, ` +
          `expected finite values`,
      );
    }
  }
  return {
    epoch,
    rng: rng as number[],
    config: config as Record<string, unknown>,
    metrics,
    model,
    optimizer,
  };
}

/** Row `epoch` (1-based) must have exactly the lab's columns, each a number in its range. */
function checkMetricsRow(row: unknown, epoch: number, fail: (message: string) => never): void {
  if (typeof row !== "object" || row === null || Array.isArray(row)) {
    fail(`metrics row ${epoch} is not an object`);
  }
  const columns = METRICS_COLUMNS as readonly string[];
  const extra = Object.keys(row as object).find((k) => !columns.includes(k) && k !== INHERITED_COLUMN);
  if (extra !== undefined) {
    fail(
      `metrics row ${epoch} has column ${quoteName(extra)}, expected only ${columns.join(", ")} ` +
        `(and ${INHERITED_COLUMN})`,
    );
  }
  const from = (row as Record<string, unknown>)[INHERITED_COLUMN];
  if (from !== undefined && !(typeof from === "string" && from.length <= 4096)) {
    fail(`metrics row ${epoch} has ${INHERITED_COLUMN} ${preview(from)}, expected a file name`);
  }
  const missing = columns.find((k) => !Object.hasOwn(row as object, k));
  if (missing !== undefined) fail(`metrics row ${epoch} lacks column '${missing}'`);
  for (const column of METRICS_COLUMNS) {
    const v = (row as Record<string, unknown>)[column];
    const [min, max] = METRIC_RANGES[column];
    if (typeof v !== "number" || !(v >= min && v <= max)) {
      const range = max === Infinity ? `a finite number >= ${min}` : `a number in ${min}..${max}`;
      fail(`metrics row ${epoch} has ${column} ${preview(v)}, expected ${range}`);
    }
  }
  if ((row as MetricsRow).epoch !== epoch) {
    fail(`metrics row ${epoch} has epoch ${(row as MetricsRow).epoch}: rows must be epochs 1, 2, 3, ...`);
  }
}

function parseJson(text: string | undefined, key: string, source: string): unknown {
  try {
    return JSON.parse(text ?? "");
  } catch {
    throw new CheckpointError(`${source}: metadata ${key} is missing or not JSON`);
  }
}

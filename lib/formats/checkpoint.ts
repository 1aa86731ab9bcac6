/**
 * Training checkpoints for Lab 2: one safetensors file that holds everything
 * an exact resume needs. Tensors: the model's PyTorch `state_dict` (so
 * PyTorch can `load_state_dict` the model part directly) plus the optimizer's
 * momentum buffers under `optimizer.momentum.<param>`. Metadata (strings):
 * the epoch just completed, the RNG state after it, the resolved config and
 * the metrics rows so far. Pure: bytes in, bytes out.
 *
 * @module
 */
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import type { StateDict } from "./state_dict.ts";

/** Format tag in the metadata; bump when the layout changes. */
export const CHECKPOINT_FORMAT = "tfjs-lab-checkpoint-v1";

/** What a checkpoint holds besides tensors. */
export interface CheckpointMeta {
  /** Epochs completed (1-based number of the last one). */
  epoch: number;
  /** {@linkcode Rng.state} after that epoch. */
  rng: number[];
  /** The resolved training config that produced it. */
  config: Record<string, unknown>;
  /** Metrics rows of every completed epoch. */
  metrics: Record<string, number>[];
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
 * const bytes = encodeCheckpoint(
 *   new Map([["linear.bias", bias]]),
 *   new Map([["optimizer.momentum.linear.bias", momentum]]),
 *   { epoch: 1, rng: [1, 2, 3, 4], config: { lr: 0.1 }, metrics: [{ epoch: 1, train_loss: 2.3 }] },
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
 * validated by the safetensors reader, the metadata here. A weights-only
 * file is rejected with a hint to use `--init`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
 * const bias = { dtype: "F32" as const, shape: [2], data: Float32Array.of(0.5, -1) };
 * const momentum = { dtype: "F32" as const, shape: [2], data: new Float32Array(2) };
 * const bytes = encodeCheckpoint(
 *   new Map([["linear.bias", bias]]),
 *   new Map([["optimizer.momentum.linear.bias", momentum]]),
 *   { epoch: 1, rng: [1, 2, 3, 4], config: { lr: 0.1 }, metrics: [{ epoch: 1, train_loss: 2.3 }] },
 * );
 * const ckpt = decodeCheckpoint(bytes, "epoch-001.safetensors");
 * assert.deepEqual(ckpt.rng, [1, 2, 3, 4]);
 * assert.deepEqual(ckpt.config, { lr: 0.1 });
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
  const epoch = /^\d+$/.test(metadata.epoch ?? "") ? Number(metadata.epoch) : NaN;
  if (!Number.isInteger(epoch)) {
    throw new CheckpointError(`${source}: metadata epoch is "${metadata.epoch}", expected an integer >= 0`);
  }
  const rng = parseJson(metadata.rng, "rng", source);
  const config = parseJson(metadata.config, "config", source);
  const metrics = parseJson(metadata.metrics, "metrics", source);
  if (!Array.isArray(rng) || rng.length !== 4 || !rng.every(Number.isInteger)) {
    throw new CheckpointError(`${source}: metadata rng is ${metadata.rng}, expected 4 integers`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new CheckpointError(`${source}: metadata config is not an object`);
  }
  if (!Array.isArray(metrics) || metrics.length !== epoch) {
    throw new CheckpointError(`${source}: metadata metrics should hold ${epoch} rows`);
  }
  const model: StateDict = new Map();
  const optimizer: StateDict = new Map();
  for (const [name, t] of state) (name.startsWith(OPTIMIZER_PREFIX) ? optimizer : model).set(name, t);
  return { epoch, rng, config: config as Record<string, unknown>, metrics, model, optimizer };
}

function parseJson(text: string | undefined, key: string, source: string): unknown {
  try {
    return JSON.parse(text ?? "");
  } catch {
    throw new CheckpointError(`${source}: metadata ${key} is missing or not JSON`);
  }
}

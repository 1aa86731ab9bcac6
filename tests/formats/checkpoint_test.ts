import assert from "node:assert/strict";
import {
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  decodeCheckpoint,
  encodeCheckpoint,
} from "../../lib/formats/checkpoint.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/formats/safetensors.ts";
import type { HostTensor, StateDict } from "../../lib/formats/state_dict.ts";

function tinyModel(): StateDict {
  return new Map<string, HostTensor>([
    ["conv1.weight", { dtype: "F32", shape: [2, 1, 1, 1], data: Float32Array.of(0.5, -1.25) }],
    ["bn1.running_var", { dtype: "F32", shape: [2], data: Float32Array.of(1, 2) }],
    ["bn1.num_batches_tracked", { dtype: "I64", shape: [], data: BigInt64Array.of(7n) }],
  ]);
}

function tinyOptimizer(): StateDict {
  return new Map<string, HostTensor>([
    ["optimizer.momentum.conv1.weight", {
      dtype: "F32",
      shape: [2, 1, 1, 1],
      data: Float32Array.of(0.1, 0.2),
    }],
  ]);
}

const META: CheckpointMeta = {
  epoch: 2,
  rng: [1, 2, 3, -4],
  config: { schedule: "0.1:1,0.01:1", batchSize: 64, limitTrain: null },
  metrics: [{ epoch: 1, lr: 0.1, test_acc: 0.25 }, { epoch: 2, lr: 0.01, test_acc: 0.5 }],
};

/** A checkpoint whose metadata entries are replaced by `meta` (undefined deletes one). */
function withMetadata(meta: Record<string, string | undefined>): Uint8Array {
  const { state, metadata } = decodeSafetensors(encodeCheckpoint(tinyModel(), tinyOptimizer(), META));
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...metadata, ...meta })) if (v !== undefined) merged[k] = v;
  return encodeSafetensors(state, { metadata: merged });
}

Deno.test("encodeCheckpoint() and decodeCheckpoint() round-trip model, optimizer and metadata", () => {
  const bytes = encodeCheckpoint(tinyModel(), tinyOptimizer(), META);
  const ckpt = decodeCheckpoint(bytes, "epoch-002.safetensors");
  assert.deepEqual(ckpt.model, tinyModel());
  assert.deepEqual([...ckpt.model.keys()], ["conv1.weight", "bn1.running_var", "bn1.num_batches_tracked"]);
  assert.deepEqual(ckpt.optimizer, tinyOptimizer());
  assert.equal(ckpt.epoch, 2);
  assert.deepEqual(ckpt.rng, META.rng);
  assert.deepEqual(ckpt.config, META.config);
  assert.deepEqual(ckpt.metrics, META.metrics);
});

Deno.test("encodeCheckpoint() writes a safetensors file PyTorch-side tools can read", () => {
  const { state, metadata } = decodeSafetensors(encodeCheckpoint(tinyModel(), tinyOptimizer(), META));
  assert.equal(state.size, 4);
  assert.equal(metadata.format, "pt");
  assert.equal(metadata.model, "resnet20");
  assert.equal(metadata.checkpoint, CHECKPOINT_FORMAT);
  assert.equal(metadata.epoch, "2");
  assert.deepEqual(JSON.parse(metadata.rng), META.rng);
});

Deno.test("decodeCheckpoint() accepts epoch 0 with no metrics", () => {
  const ckpt = decodeCheckpoint(encodeCheckpoint(tinyModel(), new Map(), { ...META, epoch: 0, metrics: [] }));
  assert.equal(ckpt.epoch, 0);
  assert.equal(ckpt.optimizer.size, 0);
});

Deno.test("decodeCheckpoint() sends a weights-only file to --init", () => {
  const weightsOnly = encodeSafetensors(tinyModel(), { metadata: { format: "pt" } });
  assert.throws(() => decodeCheckpoint(weightsOnly, "final.safetensors"), {
    name: "CheckpointError",
    message: `final.safetensors is not a training checkpoint (metadata checkpoint is "", ` +
      `expected "${CHECKPOINT_FORMAT}"): to start from weights only, use --init`,
  });
  assert.throws(() => decodeCheckpoint(encodeSafetensors(tinyModel())), {
    name: "CheckpointError",
    message: /^checkpoint is not a training checkpoint .*use --init$/,
  });
  assert.throws(
    () => decodeCheckpoint(withMetadata({ checkpoint: "tfjs-lab-checkpoint-v0" }), "old.safetensors"),
    {
      name: "CheckpointError",
      message:
        /^old\.safetensors is not a training checkpoint \(metadata checkpoint is "tfjs-lab-checkpoint-v0"/,
    },
  );
});

Deno.test("decodeCheckpoint() names bad epoch, rng, config and metrics metadata", () => {
  const cases: [Record<string, string | undefined>, string][] = [
    [{ epoch: "two" }, `c.safetensors: metadata epoch is "two", expected an integer >= 0`],
    [{ epoch: "-1" }, `c.safetensors: metadata epoch is "-1", expected an integer >= 0`],
    [{ epoch: "1.5" }, `c.safetensors: metadata epoch is "1.5", expected an integer >= 0`],
    [{ rng: "[1,2,3]" }, `c.safetensors: metadata rng is [1,2,3], expected 4 integers`],
    [{ rng: "[1,2,3,0.5]" }, `c.safetensors: metadata rng is [1,2,3,0.5], expected 4 integers`],
    [{ rng: "{" }, `c.safetensors: metadata rng is missing or not JSON`],
    [{ rng: undefined }, `c.safetensors: metadata rng is missing or not JSON`],
    [{ config: "[]" }, `c.safetensors: metadata config is not an object`],
    [{ config: "null" }, `c.safetensors: metadata config is not an object`],
    [{ config: "nope" }, `c.safetensors: metadata config is missing or not JSON`],
    [{ metrics: "[]" }, `c.safetensors: metadata metrics should hold 2 rows`],
    [{ metrics: "{}" }, `c.safetensors: metadata metrics should hold 2 rows`],
  ];
  for (const [meta, message] of cases) {
    assert.throws(() => decodeCheckpoint(withMetadata(meta), "c.safetensors"), {
      name: "CheckpointError",
      message,
    });
  }
});

Deno.test("decodeCheckpoint() passes on the safetensors reader's errors, naming the file", () => {
  const bytes = encodeCheckpoint(tinyModel(), tinyOptimizer(), META);
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 4), "cut.safetensors"), {
    name: "SafetensorsError",
    message: /in 'cut\.safetensors'$/,
  });
});

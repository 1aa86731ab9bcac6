import assert from "node:assert/strict";
import {
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
  decodeCheckpoint,
  encodeCheckpoint,
  METRICS_COLUMNS,
  type MetricsRow,
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

/** A metrics row as the lab writes it for `epoch`. */
function row(epoch: number, lr: number, testAcc: number): MetricsRow {
  return {
    epoch,
    lr,
    train_loss: 2.1,
    train_acc: 0.2,
    test_loss: 1.9,
    test_acc: testAcc,
    epoch_seconds: 31.5,
    images_per_second: 1587.3,
  };
}

const META: CheckpointMeta = {
  epoch: 2,
  rng: [1, 2, 3, -4],
  config: {
    schedule: "0.1:1,0.01:1",
    batchSize: 64,
    seed: 0,
    limitTrain: null,
    limitTest: 256,
    momentum: 0.9,
    weightDecay: 1e-4,
    out: "runs/a",
  },
  metrics: [row(1, 0.1, 0.25), row(2, 0.01, 0.5)],
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
  const cases: [Record<string, string | undefined>, string | RegExp][] = [
    [{ epoch: "two" }, `c.safetensors: metadata epoch is "two", expected an integer in 0..100000`],
    [{ epoch: "-1" }, `c.safetensors: metadata epoch is "-1", expected an integer in 0..100000`],
    [{ epoch: "1.5" }, `c.safetensors: metadata epoch is "1.5", expected an integer in 0..100000`],
    [
      { epoch: undefined },
      `c.safetensors: metadata epoch is "", expected an integer in 0..100000`,
    ],
    [
      { epoch: "9".repeat(400) },
      `c.safetensors: metadata epoch is "${"9".repeat(77)}...", expected an integer in 0..100000`,
    ],
    [
      { rng: "[1,2,3]" },
      `c.safetensors: metadata rng is [1, 2, 3], expected 4 32-bit integers, not all zero`,
    ],
    [
      { rng: "[1,2,3,0.5]" },
      `c.safetensors: metadata rng is [1, 2, 3, 0.5], expected 4 32-bit integers, not all zero`,
    ],
    [
      { rng: "[1,2,3,4294967296]" },
      /^c\.safetensors: metadata rng is \[1, 2, 3, 4294967296\], expected 4 32-bit/,
    ],
    [
      { rng: "[0,0,0,0]" },
      `c.safetensors: metadata rng is [0, 0, 0, 0], expected 4 32-bit integers, not all zero`,
    ],
    [{ rng: "{" }, `c.safetensors: metadata rng is missing or not JSON`],
    [{ rng: undefined }, `c.safetensors: metadata rng is missing or not JSON`],
    [{ config: "[]" }, `c.safetensors: metadata config is not an object`],
    [{ config: "null" }, `c.safetensors: metadata config is not an object`],
    [{ config: "nope" }, `c.safetensors: metadata config is missing or not JSON`],
    [{ metrics: "[]" }, `c.safetensors: metadata metrics should hold 2 rows, one per epoch`],
    [{ metrics: "{}" }, `c.safetensors: metadata metrics should hold 2 rows, one per epoch`],
  ];
  for (const [meta, message] of cases) {
    assert.throws(() => decodeCheckpoint(withMetadata(meta), "c.safetensors"), {
      name: "CheckpointError",
      message,
    });
  }
});

Deno.test("decodeCheckpoint() refuses metrics rows that are not the lab's: columns, numbers, ranges, epochs", () => {
  const [r1, r2] = META.metrics;
  const cases: [unknown[], string][] = [
    [
      [r1, { ...r2, note: "<script>alert(1)</script>" }],
      `row 2 has column 'note', expected only ${METRICS_COLUMNS.join(", ")} (and inherited_from)`,
    ],
    [
      [r1, { ...r2, ["<script>".repeat(20)]: 1 }],
      `row 2 has column '${"<script>".repeat(9)}<scri...', expected only ${
        METRICS_COLUMNS.join(", ")
      } (and inherited_from)`,
    ],
    [[r1, { epoch: 2, lr: 0.01 }], `row 2 lacks column 'train_loss'`],
    [[r1, { ...r2, test_acc: "<script>" }], `row 2 has test_acc "<script>", expected a number in 0..1`],
    [[r1, { ...r2, test_acc: 1.5 }], `row 2 has test_acc 1.5, expected a number in 0..1`],
    [[r1, { ...r2, train_loss: null }], `row 2 has train_loss null, expected a finite number >= 0`],
    [[r1, { ...r2, train_loss: -1 }], `row 2 has train_loss -1, expected a finite number >= 0`],
    [[r1, { ...r2, epoch_seconds: 1e400 }], `row 2 has epoch_seconds null, expected a finite number >= 0`],
    [[r1, { ...r2, epoch: 3 }], `row 2 has epoch 3: rows must be epochs 1, 2, 3, ...`],
    [[r2, r1], `row 1 has epoch 2: rows must be epochs 1, 2, 3, ...`],
    [[r1, [1, 2]], `row 2 is not an object`],
    [[r1, { ...r2, inherited_from: 5 }], `row 2 has inherited_from 5, expected a file name`],
  ];
  for (const [metrics, message] of cases) {
    assert.throws(
      () => decodeCheckpoint(withMetadata({ metrics: JSON.stringify(metrics) }), "c.safetensors"),
      { name: "CheckpointError", message: `c.safetensors: metadata metrics ${message}` },
    );
  }
});

Deno.test("decodeCheckpoint() checks the types of the config fields a resume relies on", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ batchSize: "64" }, `config batchSize is "64", expected an integer >= 1`],
    [{ batchSize: 0 }, `config batchSize is 0, expected an integer >= 1`],
    [{ seed: undefined }, `config seed is undefined, expected a 32-bit integer`],
    [{ seed: 2 ** 40 }, `config seed is 1099511627776, expected a 32-bit integer`],
    [{ limitTrain: -5 }, `config limitTrain is -5, expected null or an integer >= 1`],
    [{ momentum: "0.9" }, `config momentum is "0.9", expected a finite number >= 0`],
    [{ weightDecay: null }, `config weightDecay is null, expected a finite number >= 0`],
    [{ out: ["runs/a"] }, `config out is ["runs/a"], expected a string`],
    [{ init: 5 }, `config init is 5, expected null or a string`],
  ];
  for (const [change, message] of cases) {
    const config = JSON.stringify({ ...META.config, ...change });
    assert.throws(() => decodeCheckpoint(withMetadata({ config }), "c.safetensors"), {
      name: "CheckpointError",
      message: `c.safetensors: metadata ${message}`,
    });
  }
  // Fields it does not know are kept as they are.
  const config = JSON.stringify({ ...META.config, newFlag: { a: 1 } });
  assert.deepEqual(decodeCheckpoint(withMetadata({ config })).config.newFlag, { a: 1 });
});

Deno.test("decodeCheckpoint() refuses non-finite optimizer buffers", () => {
  const optimizer = tinyOptimizer();
  optimizer.get("optimizer.momentum.conv1.weight")!.data = Float32Array.of(0.1, Infinity);
  assert.throws(() => decodeCheckpoint(encodeCheckpoint(tinyModel(), optimizer, META), "c.safetensors"), {
    name: "CheckpointError",
    message:
      "c.safetensors: optimizer tensor 'optimizer.momentum.conv1.weight' holds Infinity at flat index 1, " +
      "expected finite values",
  });
});

Deno.test("decodeCheckpoint() refuses an optimizer buffer that is not F32, before any later non-finite one", () => {
  const optimizer = tinyOptimizer();
  optimizer.set("optimizer.momentum.step", { dtype: "I64", shape: [], data: BigInt64Array.of(3n) });
  optimizer.set("optimizer.momentum.z", { dtype: "F32", shape: [1], data: Float32Array.of(NaN) });
  assert.throws(() => decodeCheckpoint(encodeCheckpoint(tinyModel(), optimizer, META), "c.safetensors"), {
    name: "CheckpointError",
    message: "c.safetensors: optimizer tensor 'optimizer.momentum.step' is I64, expected F32",
  });
});

Deno.test("decodeCheckpoint() passes on the safetensors reader's errors, naming the file", () => {
  const bytes = encodeCheckpoint(tinyModel(), tinyOptimizer(), META);
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 4), "cut.safetensors"), {
    name: "SafetensorsError",
    message: /in 'cut\.safetensors'$/,
  });
});

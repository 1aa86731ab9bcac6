import assert from "node:assert/strict";
import { encodeCheckpoint } from "../../lib/formats/checkpoint.ts";
import { encodePth } from "../../lib/formats/pth.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/formats/safetensors.ts";
import type { StateDict } from "../../lib/formats/state_dict.ts";
import { decodeWeights } from "../../lib/formats/weights.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));
const reference = (): StateDict => decodeSafetensors(fixture("resnet20.safetensors")).state;

Deno.test("decodeWeights() reads the reference safetensors with its metadata", () => {
  const w = decodeWeights(fixture("resnet20.safetensors"), "resnet20.safetensors");
  assert.equal(w.format, "safetensors");
  assert.equal(w.note, "safetensors");
  assert.equal(w.state.size, 116);
  assert.deepEqual(w.state, reference());
  assert.deepEqual(w.metadata, decodeSafetensors(fixture("resnet20.safetensors")).metadata);
});

Deno.test("decodeWeights() reads every .pth layout to the same tensors, saying where the state dict was", () => {
  const cases: [string, string, Record<string, string>][] = [
    ["resnet20_net.pth", `PyTorch .pth, state dict under key "net" (acc=0.5, epoch=5)`, {
      acc: "0.5",
      epoch: "5",
    }],
    ["resnet20_plain.pth", "PyTorch .pth, state dict at the top level", {}],
    [
      "resnet20_module.pth",
      `PyTorch .pth, state dict under key "state_dict" (best_prec1=91.25)`,
      { best_prec1: "91.25" },
    ],
  ];
  const ref = reference();
  for (const [name, note, metadata] of cases) {
    const w = decodeWeights(fixture(name), name);
    assert.equal(w.format, "pth", name);
    assert.equal(w.note, note, name);
    assert.deepEqual(w.metadata, metadata, name);
    // DataParallel's "module." prefix is gone; names, order and values equal the safetensors ones.
    assert.deepEqual([...w.state.keys()], [...ref.keys()], name);
    assert.deepEqual(w.state, ref, name);
  }
});

Deno.test("decodeWeights() tells the format by the bytes, not the file name", () => {
  assert.equal(decodeWeights(fixture("resnet20_net.pth"), "weights.safetensors").format, "pth");
  assert.equal(decodeWeights(fixture("resnet20.safetensors"), "weights.pth").format, "safetensors");
});

Deno.test("decodeWeights() drops optimizer.* tensors from a training checkpoint", () => {
  const ref = reference();
  const optimizer: StateDict = new Map([
    ["optimizer.momentum.linear.bias", { dtype: "F32", shape: [10], data: new Float32Array(10).fill(1) }],
  ]);
  const bytes = encodeCheckpoint(ref, optimizer, { epoch: 0, rng: [1, 2, 3, 4], config: {}, metrics: [] });
  const w = decodeWeights(bytes, "epoch-000.safetensors");
  assert.equal(w.format, "safetensors");
  assert.deepEqual(w.state, ref);
  assert.equal(w.metadata.checkpoint, "tfjs-lab-checkpoint-v1");
});

Deno.test("decodeWeights() normalises names of a .pth written from DataParallel with an fc head", () => {
  const ref = reference();
  const renamed: StateDict = new Map(
    [...ref].map(([name, t]) => [`module.${name.replace(/^linear\./, "fc.")}`, t]),
  );
  const w = decodeWeights(encodePth(renamed, { key: "model" }), "kuangliu.pth");
  assert.equal(w.note, `PyTorch .pth, state dict under key "model"`);
  assert.deepEqual(w.state, ref);
});

Deno.test("decodeWeights() gives a clear error for garbage bytes, naming the file", () => {
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode("hello, I am not a weights file"), /'notes\.txt'$/],
    [new Uint8Array(3), /^File of 3 bytes is too short .* in 'notes\.txt'$/],
    [Uint8Array.of(0x50, 0x4b, 3, 4, 1, 2, 3), /^Truncated or corrupt zip .* in 'notes\.txt'$/],
    [fixture("resnet20_net.pth").subarray(0, 5000), /in 'notes\.txt'$/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decodeWeights(bytes, "notes.txt"), { message }, String(message));
  }
  const pngHeader = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13);
  assert.throws(() => decodeWeights(pngHeader, "cat.png"), {
    name: "SafetensorsError",
    message: /^Header length '\d+' exceeds the 4 bytes after the length field .* in 'cat\.png'$/,
  });
});

Deno.test("decodeWeights() names the legacy (pre-1.6) torch.save format", () => {
  // torch.save(..., _use_new_zipfile_serialization=False) starts with a pickled magic number.
  const legacy = Uint8Array.of(
    0x80,
    0x02,
    0x8a,
    0x0a,
    0x6c,
    0xfc,
    0x9c,
    0x46,
    0xf9,
    0x20,
    0x6a,
    0xa8,
    0x50,
    0x19,
    0x2e,
  );
  assert.throws(() => decodeWeights(legacy, "old.pth"), {
    name: "PthError",
    message: /^Legacy \(pre-1\.6, non-zip\) torch\.save format is not supported.* in 'old\.pth'$/,
  });
});

Deno.test("decodeWeights() keeps safetensors metadata and tensor order of a weights-only file", () => {
  const state: StateDict = new Map([
    ["b", { dtype: "F32", shape: [1], data: Float32Array.of(2) }],
    ["a", { dtype: "I64", shape: [], data: BigInt64Array.of(3n) }],
  ]);
  const w = decodeWeights(encodeSafetensors(state, { metadata: { epochs: "10" } }));
  assert.deepEqual([...w.state.keys()], ["b", "a"]);
  assert.deepEqual(w.metadata, { epochs: "10" });
});

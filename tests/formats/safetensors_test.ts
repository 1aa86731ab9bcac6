import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  MAX_HEADER_BYTES,
  SafetensorsError,
} from "../../lib/formats/safetensors.ts";
import { nestedShapeSafetensors, safetensorsWithHeader } from "../hostile_inputs.ts";
import type { StateDict } from "../../lib/formats/state_dict.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));

/** A file with a hand-written header (not padded) and `data` as the data region. */
function craft(header: unknown, data = new Uint8Array(0), length?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function tiny(): StateDict {
  return new Map([
    ["w", { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, -0, 1e-30]) }],
    ["10", { dtype: "F32", shape: [], data: new Float32Array([7]) }],
    ["2", { dtype: "I64", shape: [2], data: new BigInt64Array([-1n, 2n ** 62n]) }],
    ["empty", { dtype: "F32", shape: [0, 4], data: new Float32Array(0) }],
    ["名前", { dtype: "F32", shape: [1], data: new Float32Array([Number.NaN]) }],
  ]);
}

Deno.test("encodeSafetensors() and decodeSafetensors() round-trip tensors, order and metadata", () => {
  const state = tiny();
  const bytes = encodeSafetensors(state, { metadata: { seed: "0", note: "é" } });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  const { state: back, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { seed: "0", note: "é" });
  assert.deepEqual([...back.keys()], ["w", "10", "2", "empty", "名前"]);
  assert.deepEqual(back, state);
  // Copies, aligned, never views of the input.
  bytes.fill(0, 8 + headerLength);
  assert.equal(back.get("w")!.data[0], 1);
  assert.equal(back.get("2")!.data.byteOffset, 0);
});

Deno.test("encodeSafetensors() writes no metadata entry by default and escapes like Python json", () => {
  const bytes = encodeSafetensors(new Map([["é", { dtype: "F32", shape: [], data: new Float32Array([1]) }]]));
  const header = new TextDecoder().decode(
    bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))),
  );
  assert.equal(header, '{"\\u00e9":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}      ');
  assert.deepEqual(decodeSafetensors(bytes).metadata, {});
});

Deno.test("decodeSafetensors() reads the reference's file and encodeSafetensors() reproduces it byte for byte", () => {
  const bytes = fixture("resnet20.safetensors");
  const { state, metadata } = decodeSafetensors(bytes, { source: "resnet20.safetensors" });
  assert.deepEqual(metadata, { format: "pt", model: "resnet20", seed: "0" });
  assert.equal(state.size, 116);
  assert.deepEqual(state.get("conv1.weight")!.shape, [16, 3, 3, 3]);
  assert.deepEqual(state.get("linear.weight")!.shape, [10, 64]);
  const nbt = state.get("bn1.num_batches_tracked")!;
  assert.deepEqual([nbt.dtype, nbt.shape, nbt.data[0]], ["I64", [], 4n]);
  let params = 0;
  for (const [name, t] of state) if (!name.includes("running_") && t.dtype === "F32") params += t.data.length;
  assert.equal(params, 269_722);
  assert.deepEqual(encodeSafetensors(state, { metadata }), bytes);
});

Deno.test("decodeSafetensors() rejects bad header lengths without allocating", () => {
  assert.throws(() => decodeSafetensors(new Uint8Array(5), { source: "x.st" }), {
    name: "SafetensorsError",
    message: "File of 5 bytes is too short for the 8-byte header length in 'x.st'",
  });
  assert.throws(() => decodeSafetensors(craft({}, new Uint8Array(0), 2n ** 60n), { source: "x.st" }), {
    name: "SafetensorsError",
    message: "Header length '1152921504606846976' exceeds the 2 bytes after the length field " +
      "(or the 16777216-byte limit) in 'x.st'",
  });
  assert.throws(() => decodeSafetensors(craft({}, new Uint8Array(0), 3n)), {
    message: /^Header length '3' exceeds the 2 bytes/,
  });
});

Deno.test("decodeSafetensors() rejects malformed JSON and entries", () => {
  const f32 = (shape: number[], offsets: number[]) => ({ dtype: "F32", shape, data_offsets: offsets });
  const cases: [Uint8Array, string][] = [
    [craft("{not json"), "Header is not valid UTF-8 JSON"],
    [craft("[1,2]"), "Header is not a JSON object in 'x.st'"],
    [craft({ __metadata__: { seed: 0 } }), "Metadata value for 'seed' is 0, expected a string in 'x.st'"],
    [craft({ w: 3 }), "Entry for tensor 'w' is not an object in 'x.st'"],
    [
      craft({ w: { dtype: "F16", shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)),
      "Unsupported dtype 'F16' for tensor 'w': expected F32 or I64 in 'x.st'",
    ],
    [
      craft({ w: f32([-1], [0, 0]) }),
      "Shape [-1] of tensor 'w' is not a list of at most 64 non-negative integers in 'x.st'",
    ],
    [
      craft({ w: f32([1.5], [0, 0]) }),
      "Shape [1.5] of tensor 'w' is not a list of at most 64 non-negative integers in 'x.st'",
    ],
    [
      craft({ w: f32([1], [0]) }),
      "Data offsets [0] of tensor 'w' are not two non-negative integers in 'x.st'",
    ],
    [
      craft({ w: f32([1], [4, 8]) }, new Uint8Array(4)),
      "Data offsets [4, 8] of tensor 'w' are outside the 4-byte data region in 'x.st'",
    ],
    [
      craft({ w: f32([1], [4, 0]) }, new Uint8Array(4)),
      "Data offsets [4, 0] of tensor 'w' are outside the 4-byte data region in 'x.st'",
    ],
    [
      craft({ w: f32([2], [0, 4]) }, new Uint8Array(8)),
      "Tensor 'w' has 4 bytes but F32 [2] needs 8 in 'x.st'",
    ],
    [
      craft({ a: f32([2], [0, 8]), b: f32([2], [4, 12]) }, new Uint8Array(12)),
      "Data of tensor 'b' [4, 12] overlaps tensor 'a' [0, 8] in 'x.st'",
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decodeSafetensors(bytes, { source: "x.st" }), (e: Error) => {
      assert.ok(e instanceof SafetensorsError);
      assert.ok(e.message.startsWith(message), e.message);
      return true;
    });
  }
});

Deno.test("decodeSafetensors() rejects a truncated file naming a tensor cut off", () => {
  const bytes = fixture("resnet20.safetensors");
  assert.throws(
    () => decodeSafetensors(bytes.subarray(0, bytes.length - 100), { source: "cut.safetensors" }),
    {
      name: "SafetensorsError",
      message:
        "Data offsets [1081944, 1084504] of tensor 'linear.weight' are outside the 1084444-byte data region " +
        "in 'cut.safetensors'",
    },
  );
});

Deno.test("encodeSafetensors() rejects inconsistent tensors", () => {
  const bad = (t: unknown) => new Map([["w", t]]) as StateDict;
  assert.throws(() => encodeSafetensors(bad({ dtype: "F32", shape: [2], data: new Float32Array(3) })), {
    name: "SafetensorsError",
    message: "Tensor 'w' holds 3 values for shape [2]",
  });
  assert.throws(() => encodeSafetensors(bad({ dtype: "I64", shape: [1], data: new Float32Array(1) })), {
    message:
      "Tensor 'w' has dtype 'I64' with a Float32Array: expected F32 with Float32Array or I64 with BigInt64Array",
  });
  assert.throws(
    () =>
      encodeSafetensors(new Map([["__metadata__", { dtype: "F32", shape: [], data: new Float32Array(1) }]])),
    { message: "Tensor name '__metadata__' is reserved" },
  );
});

Deno.test("decodeSafetensors() quotes a hostile header in a short line, however it is nested", () => {
  // A shape nested a million deep: the old message quoted all 2 MB of it.
  const deep = nestedShapeSafetensors(1_000_000);
  assert.throws(() => decodeSafetensors(deep, { source: "deep.safetensors" }), (e: Error) => {
    assert.ok(e instanceof SafetensorsError);
    assert.equal(
      e.message,
      "Shape [[[[[...]]]]] of tensor 'w' is not a list of at most 64 non-negative integers in 'deep.safetensors'",
    );
    return true;
  });
  const longName = craft({ ["w".repeat(10_000)]: { dtype: "F64", shape: [], data_offsets: [0, 8] } });
  assert.throws(() => decodeSafetensors(longName, { source: "n.st" }), {
    message: `Unsupported dtype 'F64' for tensor '${"w".repeat(77)}...': expected F32 or I64 in 'n.st'`,
  });
  const meta = craft({ __metadata__: { k: Array(100_000).fill([1, 2]) } });
  assert.throws(() => decodeSafetensors(meta, { source: "m.st" }), (e: Error) => {
    assert.ok(e.message.startsWith("Metadata value for 'k' is [[1, 2], [1, 2],"), e.message);
    assert.ok(e.message.length < 200);
    return true;
  });
});

Deno.test("decodeSafetensors() caps the header at 16 MiB by default, or at maxHeaderBytes", () => {
  assert.equal(MAX_HEADER_BYTES, 16 * 2 ** 20);
  const wide = safetensorsWithHeader(`{"__metadata__":{},"x":${"[".repeat(10)}${"]".repeat(10)}}`);
  assert.throws(() => decodeSafetensors(wide, { source: "w.st", maxHeaderBytes: 32 }), {
    message:
      /^Header length '\d+' exceeds the \d+ bytes after the length field \(or the 32-byte limit\) in 'w\.st'$/,
  });
  // 17 MiB of JSON would parse into ~300 MB of arrays: refused from the length field.
  const huge = new Uint8Array(8 + 17 * 2 ** 20);
  new DataView(huge.buffer).setBigUint64(0, BigInt(17 * 2 ** 20), true);
  assert.throws(() => decodeSafetensors(huge, { source: "h.st" }), {
    message: /\(or the 16777216-byte limit\)/,
  });
});

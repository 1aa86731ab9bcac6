import assert from "node:assert/strict";
import { decodePth } from "../../lib/formats/pth.ts";
import { decodeSafetensors } from "../../lib/formats/safetensors.ts";
import {
  checkStateDict,
  firstNonFinite,
  type HostTensor,
  normalizeResnet20Names,
  numel,
  type StateDict,
  StateDictError,
  stripPrefix,
  type TensorSpec,
} from "../../lib/formats/state_dict.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));
const f32 = (...shape: number[]): HostTensor => ({
  dtype: "F32",
  shape,
  data: new Float32Array(numel(shape)),
});
const specOf = (state: StateDict) =>
  new Map<string, TensorSpec>([...state].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape }]));

Deno.test("numel() multiplies dimensions, 1 for a scalar", () => {
  assert.equal(numel([16, 3, 3, 3]), 432);
  assert.equal(numel([]), 1);
  assert.equal(numel([0, 4]), 0);
});

Deno.test("stripPrefix() strips only when every name has the prefix", () => {
  const all = new Map([["module.a", f32(1)], ["module.b", f32(2)]]);
  assert.deepEqual([...stripPrefix(all, "module.").keys()], ["a", "b"]);
  const some = new Map([["module.a", f32(1)], ["b", f32(2)]]);
  assert.equal(stripPrefix(some, "module."), some);
  assert.equal(stripPrefix(new Map(), "module.").size, 0);
});

Deno.test("normalizeResnet20Names() strips module., renames fc and drops empty shortcuts only", () => {
  const state: StateDict = new Map([
    ["module.conv1.weight", f32(16, 3, 3, 3)],
    ["module.layer2.0.shortcut.weight", f32(0)],
    ["module.layer3.0.downsample.0.weight", f32(64, 32, 1, 1)],
    ["module.fc.weight", f32(10, 64)],
    ["module.fc.bias", f32(10)],
  ]);
  assert.deepEqual([...normalizeResnet20Names(state).keys()], [
    "conv1.weight",
    "layer3.0.downsample.0.weight",
    "linear.weight",
    "linear.bias",
  ]);
});

Deno.test("checkStateDict() accepts the reference checkpoints after normalisation", () => {
  const reference = decodeSafetensors(fixture("resnet20.safetensors")).state;
  const spec = specOf(reference);
  checkStateDict(reference, spec, { source: "resnet20.safetensors" });
  const module = normalizeResnet20Names(decodePth(fixture("resnet20_module.pth")).state);
  checkStateDict(module, spec, { source: "resnet20_module.pth" });
  assert.deepEqual(module, reference);
});

Deno.test("checkStateDict() lists missing and unexpected names in a table", () => {
  const expected = specOf(new Map([["conv1.weight", f32(16, 3, 3, 3)], ["linear.weight", f32(10, 64)]]));
  const found = new Map([["conv1.weight", f32(16, 3, 3, 3)], ["fc.weight", f32(10, 64)], ["extra", f32()]]);
  assert.throws(() => checkStateDict(found, expected, { source: "ck.pth" }), {
    name: "StateDictError",
    message:
      "Tensor names in 'ck.pth' do not match the model: expected 2, found 3; 1 missing, 2 unexpected:\n" +
      "  name           expected      found\n" +
      "  extra          -             F32 []\n" +
      "  fc.weight      -             F32 [10, 64]\n" +
      "  linear.weight  F32 [10, 64]  -",
  });
});

Deno.test("checkStateDict() names the tensor on a shape or dtype mismatch", () => {
  const expected = new Map<string, TensorSpec>([["w", { dtype: "F32", shape: [10, 64] }]]);
  assert.throws(() => checkStateDict(new Map([["w", f32(64, 10)]]), expected), {
    name: "StateDictError",
    message: "Tensor 'w' in 'state dict' is F32 [64, 10], expected F32 [10, 64]",
  });
  const n: HostTensor = { dtype: "I64", shape: [10, 64], data: new BigInt64Array(640) };
  assert.throws(() => checkStateDict(new Map([["w", n]]), expected), {
    message: "Tensor 'w' in 'state dict' is I64 [10, 64], expected F32 [10, 64]",
  });
  const short: HostTensor = { dtype: "F32", shape: [10, 64], data: new Float32Array(3) };
  assert.throws(() => checkStateDict(new Map([["w", short]]), expected), {
    message: "Tensor 'w' in 'state dict' holds 3 values in a Float32Array for F32 [10, 64]",
  });
});

Deno.test("checkStateDict() rejects non-finite F32 values unless told not to", () => {
  const t = f32(2, 2);
  t.data[3] = Number.POSITIVE_INFINITY;
  const state = new Map([["bn1.running_var", t]]);
  assert.throws(() => checkStateDict(state, specOf(state), { source: "x.safetensors" }), {
    name: "StateDictError",
    message:
      "Tensor 'bn1.running_var' in 'x.safetensors' holds a non-finite value 'Infinity' at flat index 3",
  });
  checkStateDict(state, specOf(state), { requireFinite: false });
  assert.ok(new StateDictError("x") instanceof Error);
});

Deno.test("firstNonFinite() names the first F32 tensor with a NaN or infinity, from a map or pairs", () => {
  const bad = f32(3);
  bad.data[2] = NaN;
  const i64: HostTensor = { dtype: "I64", shape: [1], data: BigInt64Array.of(1n) };
  assert.equal(firstNonFinite(new Map()), null);
  assert.equal(firstNonFinite([["n", i64], ["a", f32(2)]]), null);
  const found = firstNonFinite(new Map([["a", f32(2)], ["b", bad], ["c", bad]]))!;
  assert.deepEqual([found.name, found.index], ["b", 2]);
  assert.ok(Number.isNaN(found.value));
  assert.deepEqual(firstNonFinite([["x", { ...bad, data: Float32Array.of(-Infinity) }]]), {
    name: "x",
    index: 0,
    value: -Infinity,
  });
});

Deno.test("checkStateDict() checks values against a spec's min and max, F32 and I64", () => {
  const specs = new Map<string, TensorSpec>([
    ["v", { dtype: "F32", shape: [3], min: 0 }],
    ["n", { dtype: "I64", shape: [], min: 0, max: Number.MAX_SAFE_INTEGER }],
  ]);
  const state = (v: number[], n: bigint): StateDict =>
    new Map<string, HostTensor>([
      ["v", { dtype: "F32", shape: [3], data: Float32Array.from(v) }],
      ["n", { dtype: "I64", shape: [], data: BigInt64Array.of(n) }],
    ]);
  checkStateDict(state([0, 1, 2], 0n), specs, { source: "ok.st" });
  const cases: [StateDict, string][] = [
    [
      state([0, -0.5, 2], 0n),
      "Tensor 'v' in 's.st' holds -0.5 at flat index 1, expected at least 0",
    ],
    [state([0, 1, 2], -3n), "Tensor 'n' in 's.st' holds -3 at flat index 0, expected at least 0"],
    [
      state([0, 1, 2], 2n ** 53n),
      `Tensor 'n' in 's.st' holds ${2n ** 53n} at flat index 0, expected at most ${2 ** 53 - 1}`,
    ],
  ];
  for (const [s, message] of cases) {
    assert.throws(() => checkStateDict(s, specs, { source: "s.st" }), { name: "StateDictError", message });
  }
  // Without requireFinite, NaN still fails a range.
  assert.throws(
    () => checkStateDict(state([NaN, 1, 2], 0n), specs, { source: "s.st", requireFinite: false }),
    {
      message: "Tensor 'v' in 's.st' holds NaN at flat index 0, expected at least 0",
    },
  );
});

Deno.test("checkStateDict() keeps the name table short for a file of many or long names", () => {
  const expected = new Map<string, TensorSpec>([["b", { dtype: "F32", shape: [1] }]]);
  const t: HostTensor = { dtype: "F32", shape: [1], data: new Float32Array(1) };
  const many: StateDict = new Map(
    Array.from({ length: 10_000 }, (_, i) => [`x${"y".repeat(i % 200)}${i}`, t]),
  );
  assert.throws(() => checkStateDict(many, expected, { source: "many.st" }), (e: Error) => {
    const lines = e.message.split("\n");
    assert.equal(lines.length, 1 + 1 + 24 + 1); // sentence, header row, 24 rows, "... and N more"
    assert.match(lines.at(-1)!, /^ {2}\.\.\. and 9977 more$/);
    assert.ok(lines.every((l) => l.length < 200), "rows are cut");
    return true;
  });
});

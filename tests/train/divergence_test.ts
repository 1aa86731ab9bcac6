import assert from "node:assert/strict";
import type { HostTensor } from "../../lib/formats/state_dict.ts";
import { DivergedError, firstNonFinite } from "../../lib/train/divergence.ts";

Deno.test("firstNonFinite() finds NaN and both infinities in F32 tensors, in order, and skips I64", () => {
  const f32 = (...v: number[]) => ({ dtype: "F32" as const, shape: [v.length], data: Float32Array.from(v) });
  const i64 = { dtype: "I64" as const, shape: [1], data: BigInt64Array.of(3n) };
  assert.equal(firstNonFinite(new Map<string, HostTensor>([["n", i64], ["a", f32(1, 2)]])), null);
  assert.deepEqual(firstNonFinite(new Map([["a", f32(1, -Infinity)], ["b", f32(NaN)]])), {
    name: "a",
    index: 1,
    value: -Infinity,
  });
  assert.ok(Number.isNaN(firstNonFinite(new Map([["b", f32(0, 0, NaN)]]))!.value));
});

Deno.test("DivergedError says the epoch and what was not finite", () => {
  const e = new DivergedError(4, "the training loss is Infinity");
  assert.equal(e.name, "DivergedError");
  assert.equal(e.epoch, 4);
  assert.equal(e.message, "Training diverged in epoch 4: the training loss is Infinity");
});

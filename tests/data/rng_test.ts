import assert from "node:assert/strict";
import { Rng } from "../../lib/data/rng.ts";

const draw = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.float());

Deno.test("new Rng() gives the same stream for the same seed and a different one for another", () => {
  assert.deepEqual(draw(new Rng(7), 20), draw(new Rng(7), 20));
  assert.notDeepEqual(draw(new Rng(7), 20), draw(new Rng(8), 20));
  assert.deepEqual(new Rng(3).permutation(50), new Rng(3).permutation(50));
});

Deno.test("new Rng() rejects a seed that is not a safe integer", () => {
  for (const seed of [1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => new Rng(seed), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(e.message, new RegExp(`^Seed must be .*integer.*, got ${seed}$`));
      return true;
    });
  }
});

Deno.test("new Rng() rejects seeds outside 32 bits rather than aliasing their low 32 bits", () => {
  // Were they accepted, `seed | 0` would fold 2 ** 32 onto seed 0's stream.
  for (const seed of [2 ** 32, 2 ** 31, -(2 ** 31) - 1]) {
    assert.throws(() => new Rng(seed), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.message, `Seed must be an integer in -2147483648..2147483647, got ${seed}`);
      return true;
    });
  }
  // The ends of the range are accepted, and give streams of their own.
  assert.notDeepEqual(draw(new Rng(2 ** 31 - 1), 5), draw(new Rng(-(2 ** 31)), 5));
  assert.notDeepEqual(draw(new Rng(-(2 ** 31)), 5), draw(new Rng(0), 5));
});

Deno.test("Rng.state() and Rng.fromState() resume mid-stream exactly", () => {
  const rng = new Rng(42);
  draw(rng, 13);
  rng.int(0, 99);
  const saved = rng.state();
  assert.equal(saved.length, 4);
  assert.ok(saved.every((v) => Number.isInteger(v)));
  // The state is JSON-serialisable: it goes into checkpoints.
  const restored = Rng.fromState(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(draw(restored, 10), draw(rng, 10));
  assert.deepEqual(restored.permutation(20), rng.permutation(20));
  assert.equal(restored.int(-5, 5), rng.int(-5, 5));
  assert.deepEqual(restored.state(), rng.state());
  // state() is a copy: changing it does not change the generator.
  const s = rng.state();
  s[0] = 0;
  assert.notDeepEqual(rng.state(), s);
});

Deno.test("Rng.fromState() rejects a state that is not 4 integers with the exact message", () => {
  const cases: unknown[] = [[1, 2, 3], [1, 2, 3, 4, 5], [1, 2, 3, 0.5], [1, 2, 3, "4"], "1,2,3,4", null];
  for (const state of cases) {
    assert.throws(() => Rng.fromState(state as number[]), {
      name: "TypeError",
      message: `RNG state must be 4 integers, got ${JSON.stringify(state)}`,
    });
  }
});

Deno.test("Rng.fromState() rejects states that state() can never return", () => {
  // xoroshiro128+ is stuck at zero from the all-zero state (float() is 0
  // forever), and state() only returns signed 32-bit integers.
  for (const state of [[0, 0, 0, 0], [2 ** 40, 1, 2, 3]]) {
    assert.throws(() => Rng.fromState(state), TypeError, `accepted ${JSON.stringify(state)}`);
  }
});

Deno.test("Rng.float() stays in [0, 1) and looks uniform", () => {
  const xs = draw(new Rng(1), 10_000);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  // Small seeds start well mixed (no run of values near 1 at the start).
  for (let seed = 0; seed < 10; seed++) assert.ok(new Rng(seed).float() < 0.999);
});

Deno.test("Rng.int() includes both bounds and nothing outside them", () => {
  const rng = new Rng(5);
  const seen = new Map<number, number>();
  for (let i = 0; i < 2000; i++) {
    const v = rng.int(-2, 2);
    assert.ok(Number.isInteger(v) && v >= -2 && v <= 2, `got ${v}`);
    seen.set(v, (seen.get(v) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), [-1, -2, 0, 1, 2].sort());
  assert.equal(rng.int(3, 3), 3);
  const bits = new Set(Array.from({ length: 100 }, () => rng.int(0, 1)));
  assert.deepEqual([...bits].sort(), [0, 1]);
});

Deno.test("Rng.permutation() is a permutation of 0..n-1", () => {
  const rng = new Rng(9);
  for (const n of [0, 1, 2, 17, 1000]) {
    const p = rng.permutation(n);
    assert.ok(p instanceof Int32Array);
    assert.equal(p.length, n);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  }
  // Shuffled, not the identity.
  const p = rng.permutation(100);
  assert.ok(p.some((v, i) => v !== i));
});

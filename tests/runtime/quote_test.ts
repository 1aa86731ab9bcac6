import assert from "node:assert/strict";
import { clip, preview, quote, QUOTE_LIMIT, quoteBare, quoteName } from "../../lib/runtime/quote.ts";

Deno.test("quote() and quoteName() cut at 80 characters and escape control characters", () => {
  assert.equal(quote("abc"), `"abc"`);
  assert.equal(quote("x".repeat(81)), `"${"x".repeat(77)}..."`);
  assert.equal(quoteName("a\u001b[31mb"), "'a\\u001b[31mb'");
  assert.equal(quoteName("n".repeat(1000)).length, QUOTE_LIMIT + 2);
});

Deno.test("preview() renders JSON-like values, maps and class instances", () => {
  assert.equal(
    preview([1, -2.5, "é", true, null, undefined, 3n]),
    `[1, -2.5, "é", true, null, undefined, 3n]`,
  );
  assert.equal(preview(new Map<unknown, unknown>([["a", [1]], [2, "b"]])), `{"a": [1], 2: "b"}`);
  assert.equal(preview({ x: 1 }), "{...}");
  assert.equal(preview(new Float32Array(4)), "<Float32Array>");
  assert.equal(preview(Object.freeze([])), "[]");
});

Deno.test("preview() costs what it shows: shared, deep, cyclic and huge values", () => {
  let shared: unknown[] = [1];
  for (let i = 0; i < 60; i++) shared = [shared, shared]; // 2^60 leaves written out
  let deep: unknown[] = [];
  for (let i = 0; i < 1_000_000; i++) deep = [deep];
  const cyclic: unknown[] = [1];
  cyclic.push(cyclic);
  const values = [shared, deep, cyclic, new Array(2 ** 32 - 1), "s".repeat(10_000_000), Array(1e6).fill(1)];
  for (const v of values) {
    const start = performance.now();
    const text = preview(v);
    assert.ok(text.length <= QUOTE_LIMIT, text);
    assert.ok(performance.now() - start < 50, `${text}: ${performance.now() - start} ms`);
  }
  assert.equal(preview(deep), "[[[[[...]]]]]");
  assert.equal(preview(cyclic), "[1, [1, [1, [1, [...]]]]]");
  assert.equal(preview([1, 2, 3], 8), "[1, 2...");
});

Deno.test("clip() cuts to the limit with ... and quoteBare() is quote() without its quotes", () => {
  assert.equal(clip("abc", 3), "abc");
  assert.equal(clip("abcd", 3), "...");
  assert.equal(clip("x".repeat(200), 120), `${"x".repeat(117)}...`);
  assert.equal(clip("x".repeat(120), 120), "x".repeat(120));
  assert.equal(quoteBare("a\u001b[31mb"), "a\\u001b[31mb");
  assert.equal(quoteBare("x".repeat(81)), `${"x".repeat(77)}...`);
  for (const s of ["", "it's", 'say "hi"', "n".repeat(1000)]) assert.equal(`"${quoteBare(s)}"`, quote(s));
});

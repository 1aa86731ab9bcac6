import assert from "node:assert/strict";
import { deflateSync, zlibSync } from "fflate";
import { INFLATE_STEP, inflateBounded, InflateError } from "../../lib/data/inflate.ts";
import { deflateZeros, zlibZeros } from "../hostile_inputs.ts";

const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251);

Deno.test("inflateBounded() reads a deflate or zlib stream however it is cut into parts", () => {
  const packed = deflateSync(bytes);
  assert.deepEqual(inflateBounded([packed], bytes.length), bytes);
  const zlib = zlibSync(bytes);
  // Cut at odd places, with empty parts and parts longer than a step.
  const cuts = [0, 1, 1, 7, INFLATE_STEP + 3, 2 * INFLATE_STEP + 3, zlib.length];
  const parts = cuts.slice(1).map((end, i) => zlib.subarray(cuts[i], end));
  assert.deepEqual(inflateBounded(parts, bytes.length, { format: "zlib" }), bytes);
  // One byte a part costs what one part does.
  const bytewise = Array.from(zlib, (b) => Uint8Array.of(b));
  assert.deepEqual(inflateBounded(bytewise, bytes.length, { format: "zlib" }), bytes);
  assert.equal(inflateBounded(parts, bytes.length, { format: "zlib", keep: false }).length, 0);
});

Deno.test("inflateBounded() stops a bomb one step past the expected size", () => {
  // 64 MiB of zeros expected to be 100 bytes: at most one step (~16 MiB) is inflated.
  const start = performance.now();
  for (
    const [parts, format] of [[[deflateZeros(64 * 2 ** 20)], "deflate"], [
      [zlibZeros(64 * 2 ** 20)],
      "zlib",
    ]] as const
  ) {
    assert.throws(() => inflateBounded(parts, 100, { format }), (e: unknown) => {
      assert.ok(e instanceof InflateError);
      assert.equal(e.reason, "long");
      assert.ok(e.inflated > 100 && e.inflated <= 1032 * INFLATE_STEP, String(e.inflated));
      return true;
    });
  }
  assert.ok(performance.now() - start < 2000, "stopped early");
});

Deno.test("inflateBounded() refuses short and invalid streams, with the reason and the count", () => {
  assert.throws(() => inflateBounded([deflateZeros(50)], 100), {
    name: "InflateError",
    reason: "short",
    inflated: 50,
    message: "Deflate data inflates to 50 bytes, not the 100 expected",
  });
  assert.throws(() => inflateBounded([Uint8Array.of(0xff, 0xff, 0xff)], 10), (e: unknown) => {
    assert.ok(e instanceof InflateError);
    assert.equal(e.reason, "corrupt");
    assert.ok(e.cause instanceof Error);
    assert.equal(e.message, `Deflate data is not valid (${e.cause.message})`);
    return true;
  });
  // A deflate stream is not a zlib one; no bytes at all inflate to none (fflate's reading).
  assert.throws(() => inflateBounded([deflateSync(bytes)], bytes.length, { format: "zlib" }), {
    reason: "corrupt",
  });
  assert.throws(() => inflateBounded([], 10), { reason: "short", inflated: 0 });
  assert.equal(inflateBounded([], 0).length, 0);
});

import assert from "node:assert/strict";
import type { CifarSplit } from "../../lib/data/cifar.ts";
import {
  drawAugmentParams,
  labelsOf,
  makeBatch,
  MEAN,
  normalise,
  PAD,
  planBatch,
  STD,
} from "../../lib/data/batches.ts";
import { Rng } from "../../lib/data/rng.ts";

/** NHWC offset of pixel (y, x), channel c, of batch image b. */
const at = (b: number, y: number, x: number, c: number) => ((b * 32 + y) * 32 + x) * 3 + c;

/** A split of `count` black images with labels 0, 1, ...; `mark` sets one pixel per channel. */
function split(count: number): CifarSplit {
  return {
    images: new Uint8Array(count * 3072),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
  };
}
/** Sets pixel (y, x) of image i to (r, g, b). */
function mark(
  s: CifarSplit,
  i: number,
  y: number,
  x: number,
  rgb: [number, number, number],
) {
  for (let c = 0; c < 3; c++) {
    s.images[i * 3072 + c * 1024 + y * 32 + x] = rgb[c];
  }
}

// numpy float32: ((np.array([v], np.uint8).astype(np.float32) / 255.0) - MEAN[c]) / STD[c]
const NUMPY = {
  red: {
    0: -1.9894737005233765,
    1: -1.9735969305038452,
    128: 0.04275631904602051,
    255: 2.0591094493865967,
  },
  green: { 0: -1.9802875518798828, 254: 2.110383987426758 },
  blue: {
    0: -1.7068043947219849,
    128: 0.21200616657733917,
    255: 2.115825891494751,
  },
};

Deno.test("normalise() equals numpy's float32 (u8 / 255 - MEAN) / STD bit for bit", () => {
  const s = split(1);
  mark(s, 0, 0, 0, [255, 254, 128]);
  mark(s, 0, 0, 1, [1, 0, 255]);
  mark(s, 0, 31, 31, [128, 0, 0]);
  const x = normalise(s, [0]);
  assert.equal(x.length, 32 * 32 * 3);
  assert.equal(x[at(0, 0, 0, 0)], NUMPY.red[255]);
  assert.equal(x[at(0, 0, 0, 1)], NUMPY.green[254]);
  assert.equal(x[at(0, 0, 0, 2)], NUMPY.blue[128]);
  assert.equal(x[at(0, 0, 1, 0)], NUMPY.red[1]);
  assert.equal(x[at(0, 0, 1, 2)], NUMPY.blue[255]);
  assert.equal(x[at(0, 31, 31, 0)], NUMPY.red[128]);
  assert.equal(x[at(0, 5, 5, 1)], NUMPY.green[0]);
  // By hand: (1 - 0.4914) / 0.2470 = 2.059109...
  assert.ok(Math.abs(x[at(0, 0, 0, 0)] - (1 - MEAN[0]) / STD[0]) < 1e-6);
});

Deno.test("makeBatch() without augmentation keeps pixels in place, NHWC", () => {
  const s = split(3);
  mark(s, 2, 7, 9, [255, 255, 255]);
  const x = makeBatch(s, Int32Array.of(2, 0), { augment: false });
  assert.equal(x.length, 2 * 3072);
  assert.equal(x[at(0, 7, 9, 0)], NUMPY.red[255]);
  assert.equal(x[at(0, 7, 9, 2)], NUMPY.blue[255]);
  assert.equal(x[at(0, 7, 10, 0)], NUMPY.red[0]);
  assert.equal(x[at(1, 7, 9, 0)], NUMPY.red[0]);
});

Deno.test("makeBatch() crops the zero-padded image at (dx, dy)", () => {
  const s = split(1);
  mark(s, 0, 0, 0, [255, 255, 255]);
  mark(s, 0, 20, 31, [128, 128, 128]);
  // dx = dy = 0: output (y, x) shows source (y - 4, x - 4); rows/columns 0..3 are padding.
  let x = makeBatch(s, [0], {
    augment: true,
    params: [{ dx: 0, dy: 0, flip: false }],
  });
  assert.equal(x[at(0, 4, 4, 0)], NUMPY.red[255]);
  for (const [y, xx] of [[0, 0], [3, 10], [10, 3], [4, 3], [3, 4]]) {
    assert.deepEqual([0, 1, 2].map((c) => x[at(0, y, xx, c)]), [
      NUMPY.red[0],
      NUMPY.green[0],
      NUMPY.blue[0],
    ]);
  }
  // Padding is black in uint8, so it normalises to (0 - MEAN) / STD.
  assert.ok(Math.abs(x[at(0, 0, 0, 2)] - (0 - MEAN[2]) / STD[2]) < 1e-6);
  // dx = 8, dy = 2: output (y, x) shows source (y - 2, x + 4).
  x = makeBatch(s, [0], {
    augment: true,
    params: [{ dx: 8, dy: 2, flip: false }],
  });
  assert.equal(x[at(0, 22, 27, 0)], NUMPY.red[128]);
  assert.equal(x[at(0, 2, 27, 0)], NUMPY.red[0]); // source (0, 0) is cropped away
  // dx = dy = 4 is the identity.
  x = makeBatch(s, [0], {
    augment: true,
    params: [{ dx: PAD, dy: PAD, flip: false }],
  });
  assert.deepEqual(x, normalise(s, [0]));
});

Deno.test("makeBatch() flips the crop left-right", () => {
  const s = split(1);
  mark(s, 0, 3, 0, [255, 0, 128]);
  // dx = dy = 4 with flip: output (y, x) shows source (y, 31 - x).
  let x = makeBatch(s, [0], {
    augment: true,
    params: [{ dx: 4, dy: 4, flip: true }],
  });
  assert.equal(x[at(0, 3, 31, 0)], NUMPY.red[255]);
  assert.equal(x[at(0, 3, 31, 2)], NUMPY.blue[128]);
  assert.equal(x[at(0, 3, 0, 0)], NUMPY.red[0]);
  // dx = 0, dy = 4: crop column c shows source c - 4, flipped: output x shows source 27 - x.
  x = makeBatch(s, [0], {
    augment: true,
    params: [{ dx: 0, dy: 4, flip: true }],
  });
  assert.equal(x[at(0, 3, 27, 0)], NUMPY.red[255]);
  for (let xx = 28; xx < 32; xx++) {
    assert.equal(x[at(0, 3, xx, 0)], NUMPY.red[0]);
  }
});

Deno.test("drawAugmentParams() draws all dx, then all dy, then all flips", () => {
  const state = new Rng(5).state();
  const params = drawAugmentParams(4, Rng.fromState(state));
  const r = Rng.fromState(state);
  const dx = [0, 1, 2, 3].map(() => r.int(0, 8));
  const dy = [0, 1, 2, 3].map(() => r.int(0, 8));
  const flip = [0, 1, 2, 3].map(() => r.float() < 0.5);
  assert.deepEqual(
    params,
    dx.map((d, i) => ({ dx: d, dy: dy[i], flip: flip[i] })),
  );
});

Deno.test("drawAugmentParams() covers offsets 0..8 and flips about half", () => {
  const params = drawAugmentParams(9000, new Rng(1));
  const dxs = new Set(params.map((p) => p.dx));
  const dys = new Set(params.map((p) => p.dy));
  assert.deepEqual([...dxs].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual([...dys].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const flips = params.filter((p) => p.flip).length;
  assert.ok(flips > 4300 && flips < 4700, `flips ${flips}`);
});

Deno.test("makeBatch() is reproducible from the Rng state", () => {
  const s = split(8);
  for (let i = 0; i < s.images.length; i++) s.images[i] = (i * 31) % 256;
  const rng = new Rng(42);
  const state = rng.state();
  const indices = Int32Array.of(7, 1, 3, 3, 0);
  const a = makeBatch(s, indices, { augment: true, rng });
  const b = makeBatch(s, indices, { augment: true, rng: Rng.fromState(state) });
  assert.deepEqual(a, b);
  assert.deepEqual(
    rng.state(),
    (() => {
      const r = Rng.fromState(state);
      drawAugmentParams(5, r);
      return r.state();
    })(),
  );
  const c = makeBatch(s, indices, { augment: true, rng });
  assert.notDeepEqual(a, c);
});

Deno.test("makeBatch() writes into a given buffer and validates its inputs", () => {
  const s = split(2);
  const out = new Float32Array(3 * 3072).fill(7);
  const x = makeBatch(s, [1, 0], { out });
  assert.equal(x, out);
  assert.equal(out[2 * 3072], 7); // untouched past the batch
  assert.throws(() => makeBatch(s, [0], { out: new Float32Array(10) }), {
    name: "RangeError",
    message: "Output buffer has 10 floats, expected at least 3072 for 1 images of 32x32x3",
  });
  assert.throws(() => makeBatch(s, [0, 2]), {
    name: "RangeError",
    message: "Index 2 at batch position 1 is out of range 0..1",
  });
  assert.throws(() => makeBatch(s, [0], { augment: true }), {
    name: "TypeError",
    message: "Augmentation needs options.rng or options.params, got neither",
  });
  assert.throws(
    () =>
      makeBatch(s, [0], {
        augment: true,
        params: [{ dx: 9, dy: 0, flip: false }],
      }),
    {
      name: "RangeError",
      message: "Crop offset (dx 9, dy 0) at batch position 0 is outside 0..8",
    },
  );
});

Deno.test("labelsOf() gathers int32 labels", () => {
  const s = split(12);
  const y = labelsOf(s, Int32Array.of(11, 0, 3));
  assert.ok(y instanceof Int32Array);
  assert.deepEqual([...y], [1, 0, 3]);
  assert.throws(() => labelsOf(s, [12]), RangeError);
});

Deno.test("planBatch() writes a row per example; no params means the whole image", () => {
  const out = new Int32Array(12).fill(-1);
  planBatch(split(5), Int32Array.of(4, 0), {
    params: [{ dx: 8, dy: 0, flip: true }, { dx: 3, dy: 5, flip: false }],
    out,
  });
  assert.deepEqual(out, Int32Array.of(4, 8, 0, 1, 0, 3, 5, 0, -1, -1, -1, -1), "the rest of out untouched");
  assert.deepEqual(planBatch(split(5), Int32Array.of(2, 2)), Int32Array.of(2, 4, 4, 0, 2, 4, 4, 0));
});

Deno.test("planBatch() refuses what would point outside the split or the padded image", () => {
  const ok = { dx: 0, dy: 0, flip: false };
  for (const index of [-1, 5, 1e9]) {
    assert.throws(
      () => planBatch(split(5), Int32Array.of(0, index)),
      new RegExp(`Index ${index} at batch position 1`),
    );
  }
  for (const bad of [{ dx: 9, dy: 0 }, { dx: 0, dy: -1 }, { dx: 0.5, dy: 0 }, { dx: NaN, dy: 0 }]) {
    assert.throws(
      () => planBatch(split(5), Int32Array.of(1), { params: [{ ...ok, ...bad }] }),
      /Crop offset .* at batch position 0 is outside 0\.\.8/,
      JSON.stringify(bad),
    );
  }
  assert.throws(
    () => planBatch(split(5), Int32Array.of(1, 2), { params: [ok] }),
    /Got 1 augmentation params, expected 2/,
  );
  assert.throws(
    () => planBatch(split(5), Int32Array.of(1, 2), { out: new Int32Array(7) }),
    /holds 7 values, expected 8/,
  );
});

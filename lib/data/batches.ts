/**
 * Training batches from a {@linkcode CifarSplit}: per-channel normalisation
 * and the standard CIFAR augmentation (random crop with 4-pixel zero padding,
 * random horizontal flip), written straight into an NHWC `Float32Array`
 * `[B, 32, 32, 3]` ready for `tf.tensor4d`; or, for a device that builds the
 * batch itself from the split's bytes, the batch's plan ({@linkcode planBatch}).
 *
 * Matches `augment` and `normalise` of the PyTorch reference
 * (`shared/reference/pytorch_resnet20.py`): padding is added to the uint8
 * image (value 0, black) before normalisation, so padded pixels become
 * `(0 - MEAN[c]) / STD[c]`; the crop is taken first and then flipped. The
 * normalised values equal numpy's float32 `(u8 / 255 - MEAN) / STD` bit for
 * bit (a 768-entry lookup table computed with float32 rounding at each step).
 * Pure: no I/O.
 *
 * @module
 */
import { type CifarSplit, IMAGE_BYTES, IMAGE_SIZE } from "./cifar.ts";
import type { Rng } from "./rng.ts";

/** Per-channel mean of the CIFAR-10 training images, R, G, B, in [0, 1]. */
export const MEAN: readonly number[] = Object.freeze([0.4914, 0.4822, 0.4465]);
/** Per-channel standard deviation of the CIFAR-10 training images. */
export const STD: readonly number[] = Object.freeze([0.2470, 0.2435, 0.2616]);
/** Zero padding on each side before the random crop, in pixels. */
export const PAD = 4;

const S = IMAGE_SIZE;
const PLANE = S * S;
/** Floats in one NHWC image. */
const IMAGE_FLOATS = PLANE * 3;

let lut: Float32Array | undefined;

/**
 * The normalised value of every byte of every channel: `table[c * 256 + v]`
 * is `float32((float32(v / 255) - MEAN[c]) / STD[c])`, rounded to float32
 * after each operation as numpy does. Batches built anywhere (here, or on a
 * device from the same table) are then equal bit for bit. Do not modify it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MEAN, normalisationTable, STD } from "./batches.ts";
 * const table = normalisationTable();
 * assert.equal(table.length, 3 * 256);
 * assert.ok(Math.abs(table[256 + 255] - (1 - MEAN[1]) / STD[1]) < 1e-6);
 * ```
 */
export function normalisationTable(): Float32Array {
  if (lut) return lut;
  const f = Math.fround;
  lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = f(MEAN[c]);
    const s = f(STD[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = f(f(f(v / 255) - m) / s);
  }
  return lut;
}

/**
 * One image's augmentation: crop offsets into the padded 40x40 image and
 * whether the crop is flipped left-right.
 */
export interface AugmentParams {
  /** Column of the crop's left edge in the padded image, 0..8. */
  dx: number;
  /** Row of the crop's top edge in the padded image, 0..8. */
  dy: number;
  /** Whether the crop is mirrored horizontally. */
  flip: boolean;
}

/**
 * Draws augmentation parameters for `count` images, in a fixed order that
 * mirrors the PyTorch reference: all `dx` (`rng.int(0, 8)`, images in
 * order), then all `dy` (same), then all flips (`rng.float() < 0.5`). So a
 * batch is reproducible from the `Rng` state before it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { drawAugmentParams } from "./batches.ts";
 * import { Rng } from "./rng.ts";
 * const params = drawAugmentParams(2, new Rng(0));
 * assert.equal(params.length, 2);
 * assert.ok(params.every((p) => p.dx >= 0 && p.dx <= 8 && p.dy >= 0 && p.dy <= 8));
 * // The same seed draws the same batch.
 * assert.deepEqual(drawAugmentParams(2, new Rng(0)), params);
 * ```
 */
export function drawAugmentParams(count: number, rng: Rng): AugmentParams[] {
  const params: AugmentParams[] = [];
  for (let i = 0; i < count; i++) {
    params.push({ dx: rng.int(0, 2 * PAD), dy: 0, flip: false });
  }
  for (let i = 0; i < count; i++) params[i].dy = rng.int(0, 2 * PAD);
  for (let i = 0; i < count; i++) params[i].flip = rng.float() < 0.5;
  return params;
}

/** Options for {@linkcode makeBatch}. */
export interface MakeBatchOptions {
  /**
   * Apply the random crop and flip; needs `rng` or `params`.
   * @default {false}
   */
  augment?: boolean;
  /** Source of the random crop offsets and flips, drawn as {@linkcode drawAugmentParams} documents. */
  rng?: Rng;
  /** Explicit per-image augmentation (overrides `rng`), one per index. */
  params?: readonly AugmentParams[];
  /**
   * Buffer to write into, at least `indices.length * 3072` floats; reusing
   * one across steps avoids an allocation per batch.
   * @default {a new Float32Array}
   */
  out?: Float32Array;
}

/**
 * Builds a normalised NHWC batch `[B, 32, 32, 3]` of the examples at
 * `indices`, optionally augmented (random crop of the zero-padded image, then
 * random horizontal flip).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBatch } from "./batches.ts";
 * import { Rng } from "./rng.ts";
 * const split = { images: new Uint8Array(2 * 3072), labels: new Uint8Array(2), count: 2 };
 * const x = makeBatch(split, Int32Array.of(1, 0), { augment: true, rng: new Rng(1) });
 * assert.equal(x.length, 2 * 32 * 32 * 3); // ready for tf.tensor4d(x, [2, 32, 32, 3])
 * // A black image stays black wherever it is cropped: every red value is (0 - MEAN[0]) / STD[0].
 * assert.ok(x.every((v, i) => i % 3 !== 0 || v === x[0]));
 * ```
 */
export function makeBatch(
  split: CifarSplit,
  indices: Int32Array | readonly number[],
  options: MakeBatchOptions = {},
): Float32Array {
  const n = indices.length;
  const out = options.out ?? new Float32Array(n * IMAGE_FLOATS);
  if (out.length < n * IMAGE_FLOATS) {
    throw new RangeError(
      `Output buffer has ${out.length} floats, expected at least ${
        n * IMAGE_FLOATS
      } for ${n} images of 32x32x3`,
    );
  }
  let params: readonly AugmentParams[] | undefined;
  if (options.augment) {
    if (options.params) params = checkParamCount(options.params, n);
    else if (options.rng) params = drawAugmentParams(n, options.rng);
    else {throw new TypeError(
        "Augmentation needs options.rng or options.params, got neither",
      );}
  }
  const table = normalisationTable();
  const images = split.images;
  const pad0 = table[0], pad1 = table[256], pad2 = table[512];
  for (let b = 0; b < n; b++) {
    const index = checkIndex(split, indices[b], b);
    const src = index * IMAGE_BYTES;
    let o = b * IMAGE_FLOATS;
    if (!params) {
      for (let p = 0; p < PLANE; p++, o += 3) {
        out[o] = table[images[src + p]];
        out[o + 1] = table[256 + images[src + PLANE + p]];
        out[o + 2] = table[512 + images[src + 2 * PLANE + p]];
      }
      continue;
    }
    const { dx, dy, flip } = checkCrop(params[b], b);
    // Output column x reads source column x + dx - PAD, or, flipped, the
    // crop's column 31 - x, i.e. source column 31 - x + dx - PAD.
    const x0 = flip ? S - 1 + dx - PAD : dx - PAD;
    const step = flip ? -1 : 1;
    for (let y = 0; y < S; y++) {
      const sy = y + dy - PAD;
      if (sy < 0 || sy >= S) {
        for (let x = 0; x < S; x++, o += 3) {
          out[o] = pad0;
          out[o + 1] = pad1;
          out[o + 2] = pad2;
        }
        continue;
      }
      const row = src + sy * S;
      for (let x = 0, sx = x0; x < S; x++, sx += step, o += 3) {
        if (sx < 0 || sx >= S) {
          out[o] = pad0;
          out[o + 1] = pad1;
          out[o + 2] = pad2;
        } else {
          const p = row + sx;
          out[o] = table[images[p]];
          out[o + 1] = table[256 + images[p + PLANE]];
          out[o + 2] = table[512 + images[p + 2 * PLANE]];
        }
      }
    }
  }
  return out;
}

/**
 * Normalised, unaugmented NHWC batch `[B, 32, 32, 3]` for evaluation: the
 * same as {@linkcode makeBatch} with `augment: false`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MEAN, normalise, STD } from "./batches.ts";
 * const split = { images: new Uint8Array(3072), labels: new Uint8Array(1), count: 1 };
 * const x = normalise(split, Int32Array.of(0));
 * assert.ok(Math.abs(x[0] - (0 - MEAN[0]) / STD[0]) < 1e-6);
 * ```
 */
export function normalise(
  split: CifarSplit,
  indices: Int32Array | readonly number[],
  options: { out?: Float32Array } = {},
): Float32Array {
  return makeBatch(split, indices, { augment: false, out: options.out });
}

/**
 * The labels of the examples at `indices`, as int32 (what `tf.oneHot` and
 * sparse losses take).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelsOf } from "./batches.ts";
 * const split = { images: new Uint8Array(2 * 3072), labels: Uint8Array.of(3, 9), count: 2 };
 * assert.deepEqual(labelsOf(split, Int32Array.of(1, 0)), Int32Array.of(9, 3));
 * ```
 */
export function labelsOf(
  split: CifarSplit,
  indices: Int32Array | readonly number[],
): Int32Array {
  const out = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) out[b] = split.labels[checkIndex(split, indices[b], b)];
  return out;
}

/** Options for {@linkcode planBatch}. */
export interface PlanBatchOptions {
  /** Per-example crops and flips, one per index. @default {none: every crop the whole image} */
  params?: readonly AugmentParams[];
  /** Where to write, at least `4 * indices.length` values. @default {a new Int32Array} */
  out?: Int32Array;
}

/**
 * The plan of a batch for a device that builds it (`augmentBatch` in
 * `lib/ops/`): a row `[index, dx, dy, flip]` per example, flip 1 or 0, the
 * batch {@linkcode makeBatch} builds from the same indices and params.
 * Without `params` (evaluation) every crop is the whole image (4, 4, 0).
 * Indices and offsets are checked as `makeBatch` checks them, so a plan
 * never points outside the split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planBatch } from "./batches.ts";
 * const split = { images: new Uint8Array(3 * 3072), labels: new Uint8Array(3), count: 3 };
 * const params = [{ dx: 0, dy: 8, flip: true }, { dx: 4, dy: 4, flip: false }];
 * assert.deepEqual(planBatch(split, Int32Array.of(2, 0), { params }), Int32Array.of(2, 0, 8, 1, 0, 4, 4, 0));
 * assert.deepEqual(planBatch(split, Int32Array.of(1)), Int32Array.of(1, 4, 4, 0));
 * assert.throws(() => planBatch(split, Int32Array.of(3)), /Index 3 at batch position 0 is out of range 0\.\.2/);
 * ```
 */
export function planBatch(
  split: CifarSplit,
  indices: Int32Array | readonly number[],
  options: PlanBatchOptions = {},
): Int32Array {
  const n = indices.length;
  const params = options.params && checkParamCount(options.params, n);
  const out = options.out ?? new Int32Array(4 * n);
  if (out.length < 4 * n) {
    throw new RangeError(`The plan buffer holds ${out.length} values, expected ${4 * n}`);
  }
  for (let b = 0; b < n; b++) {
    const { dx, dy, flip } = params ? checkCrop(params[b], b) : WHOLE_IMAGE;
    out[4 * b] = checkIndex(split, indices[b], b);
    out[4 * b + 1] = dx;
    out[4 * b + 2] = dy;
    out[4 * b + 3] = flip ? 1 : 0;
  }
  return out;
}

/** The crop of an unaugmented image: the padded image's centre. */
const WHOLE_IMAGE: AugmentParams = Object.freeze({ dx: PAD, dy: PAD, flip: false });

/** `index`, at position `b` of a batch, if it names an example of `split`; else a RangeError. */
function checkIndex(split: CifarSplit, index: number, b: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= split.count) {
    throw new RangeError(`Index ${index} at batch position ${b} is out of range 0..${split.count - 1}`);
  }
  return index;
}

/** `p`, at position `b` of a batch, if its crop lies in the padded image (whole pixels); else a RangeError. */
function checkCrop(p: AugmentParams, b: number): AugmentParams {
  const { dx, dy } = p;
  if (
    !(Number.isInteger(dx) && Number.isInteger(dy) && dx >= 0 && dx <= 2 * PAD && dy >= 0 && dy <= 2 * PAD)
  ) {
    throw new RangeError(`Crop offset (dx ${dx}, dy ${dy}) at batch position ${b} is outside 0..${2 * PAD}`);
  }
  return p;
}

/** `params` if there is one per index; else a RangeError. */
function checkParamCount(params: readonly AugmentParams[], n: number): readonly AugmentParams[] {
  if (params.length !== n) {
    throw new RangeError(`Got ${params.length} augmentation params, expected ${n} (one per index)`);
  }
  return params;
}

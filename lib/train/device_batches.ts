/**
 * Training and evaluation batches built on the device: a split's images
 * uploaded once as bytes ({@linkcode DeviceImages}), and per batch only a
 * plan, four integers an example ({@linkcode planBatch}), from which
 * `augmentBatch` (`lib/ops/`) chooses, crops, flips and normalises on the
 * device. The batch equals `makeBatch`'s (`lib/data/batches.ts`) bit for
 * bit: the same crop rule and the same normalisation table. Where a backend
 * compiles steps this takes the host's per-step work down to a few writes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type AugmentParams, normalisationTable, PAD } from "../data/batches.ts";
import { type CifarSplit, IMAGE_BYTES } from "../data/cifar.ts";
import { augmentBatch } from "../ops/mod.ts";

/**
 * Images in one tensor of a {@linkcode DeviceImages}: 32,768 images are
 * 96 MiB, under the 128 MiB storage binding every WebGPU device allows.
 */
export const IMAGES_PER_TENSOR = 32_768;

/** The most images a {@linkcode DeviceImages} holds (two tensors; CIFAR-10's training split is 50,000). */
export const DEVICE_IMAGES_MAX = 2 * IMAGES_PER_TENSOR;

/**
 * The plan of a batch for `augmentBatch`: a row `[index, dx, dy, flip]` per
 * example, written into `out` (at least `4 * indices.length` values) or a
 * new array. Without `params` (evaluation) every crop is the whole image.
 * Indices and offsets are checked as `makeBatch` checks them: a plan never
 * points outside the split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planBatch } from "./device_batches.ts";
 * const plan = planBatch(3, Int32Array.of(2, 0), [{ dx: 0, dy: 8, flip: true }, { dx: 4, dy: 4, flip: false }]);
 * assert.deepEqual(plan, Int32Array.of(2, 0, 8, 1, 0, 4, 4, 0));
 * assert.deepEqual(planBatch(3, Int32Array.of(1)), Int32Array.of(1, 4, 4, 0));
 * assert.throws(() => planBatch(3, Int32Array.of(3)), /Index 3 at batch position 0 is out of range 0\.\.2/);
 * ```
 */
export function planBatch(
  count: number,
  indices: Int32Array,
  params?: readonly AugmentParams[],
  out: Int32Array = new Int32Array(4 * indices.length),
): Int32Array {
  const n = indices.length;
  if (params && params.length !== n) {
    throw new RangeError(`Got ${params.length} augmentation params, expected ${n} (one per index)`);
  }
  if (out.length < 4 * n) {
    throw new RangeError(`The plan buffer holds ${out.length} values, expected ${4 * n}`);
  }
  for (let b = 0; b < n; b++) {
    const index = indices[b];
    if (!(index >= 0 && index < count)) {
      throw new RangeError(`Index ${index} at batch position ${b} is out of range 0..${count - 1}`);
    }
    const p = params?.[b];
    const dx = p ? p.dx : PAD, dy = p ? p.dy : PAD;
    if (
      !(Number.isInteger(dx) && Number.isInteger(dy) && dx >= 0 && dx <= 2 * PAD && dy >= 0 && dy <= 2 * PAD)
    ) {
      throw new RangeError(
        `Crop offset (dx ${dx}, dy ${dy}) at batch position ${b} is outside 0..${2 * PAD}`,
      );
    }
    out[4 * b] = index;
    out[4 * b + 1] = dx;
    out[4 * b + 2] = dy;
    out[4 * b + 3] = p?.flip ? 1 : 0;
  }
  return out;
}

/**
 * A split's images on the active backend's device, as bytes (four to an
 * int32), with the normalisation table: what `augmentBatch` reads. The
 * split must not change while it is held.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { makeBatch } from "../data/batches.ts";
 * import { DeviceImages, planBatch } from "./device_batches.ts";
 * await tf.setBackend("cpu");
 * const split = { images: Uint8Array.from({ length: 2 * 3072 }, (_, i) => i % 251), labels: Uint8Array.of(1, 2), count: 2 };
 * const images = new DeviceImages(split);
 * const params = [{ dx: 1, dy: 7, flip: true }];
 * const x = images.batch(tf.tensor2d(planBatch(2, Int32Array.of(1), params), [1, 4], "int32"));
 * assert.deepEqual(x.dataSync(), makeBatch(split, Int32Array.of(1), { augment: true, params }));
 * images.dispose();
 * ```
 */
export class DeviceImages {
  /** The split whose images these are. */
  readonly split: CifarSplit;
  /** Its first images, at most {@linkcode IMAGES_PER_TENSOR}. */
  readonly lo: tf.Tensor1D;
  /** The rest (`lo` again when it holds them all). */
  readonly hi: tf.Tensor1D;
  /** Images in `lo`. */
  readonly loImages: number;
  /** The normalisation table, float32 `[768]`. */
  readonly table: tf.Tensor1D;

  /** Uploads `split`'s images; throws when there are more than {@linkcode DEVICE_IMAGES_MAX}. */
  constructor(split: CifarSplit) {
    if (split.count < 1 || split.count > DEVICE_IMAGES_MAX) {
      throw new RangeError(
        `A split of ${split.count} images cannot be held on the device (1..${DEVICE_IMAGES_MAX})`,
      );
    }
    this.split = split;
    this.loImages = Math.min(split.count, IMAGES_PER_TENSOR);
    const words = (from: number, to: number) => {
      const bytes = split.images.subarray(from * IMAGE_BYTES, to * IMAGE_BYTES);
      // A view where the bytes are aligned (they are, as loaded), else a copy.
      const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
      return tf.tensor1d(new Int32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4), "int32");
    };
    this.lo = words(0, this.loImages);
    this.hi = split.count > this.loImages ? words(this.loImages, split.count) : this.lo;
    this.table = tf.tensor1d(normalisationTable());
  }

  /** The tensors a step built on these images reads. */
  get tensors(): tf.Tensor[] {
    return [this.lo, this.hi, this.table];
  }

  /** The batch of `plan` (int32 `[n, 4]`, from {@linkcode planBatch}), NHWC `[n, 32, 32, 3]`. */
  batch(plan: tf.Tensor2D): tf.Tensor4D {
    return augmentBatch({ lo: this.lo, hi: this.hi, loImages: this.loImages, table: this.table, plan });
  }

  /** Frees the device copy. */
  dispose(): void {
    tf.dispose([this.lo, this.hi, this.table]);
  }
}

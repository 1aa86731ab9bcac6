/**
 * Training and evaluation batches built on the device: a split's images
 * uploaded once as bytes ({@linkcode DeviceImages}), and per batch only a
 * plan, four integers an example (`planBatch`, `lib/data/batches.ts`), from which
 * `augmentBatch` (`lib/ops/`) chooses, crops, flips and normalises on the
 * device. The batch equals `makeBatch`'s (`lib/data/batches.ts`) bit for
 * bit: the same crop rule and the same normalisation table. Where a backend
 * compiles steps this takes the host's per-step work down to a few writes.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { normalisationTable } from "../data/batches.ts";
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
 * Whether a {@linkcode DeviceImages} can hold a split of `count` images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitsOnDevice } from "./device_batches.ts";
 * assert.equal(fitsOnDevice(50_000), true); // CIFAR-10's training split
 * assert.equal(fitsOnDevice(0), false);
 * ```
 */
export function fitsOnDevice(count: number): boolean {
  return count >= 1 && count <= DEVICE_IMAGES_MAX;
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
 * import { makeBatch, planBatch } from "../data/batches.ts";
 * import { DeviceImages } from "./device_batches.ts";
 * await tf.setBackend("cpu");
 * const split = { images: Uint8Array.from({ length: 2 * 3072 }, (_, i) => i % 251), labels: Uint8Array.of(1, 2), count: 2 };
 * const images = new DeviceImages(split);
 * const params = [{ dx: 1, dy: 7, flip: true }];
 * const x = images.batch(tf.tensor2d(planBatch(split, Int32Array.of(1), { params }), [1, 4], "int32"));
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
    if (!fitsOnDevice(split.count)) {
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

  /** The batch of `plan` (int32 `[n, 4]`, from `planBatch`), NHWC `[n, 32, 32, 3]`. */
  batch(plan: tf.Tensor2D): tf.Tensor4D {
    return augmentBatch({ lo: this.lo, hi: this.hi, loImages: this.loImages, table: this.table, plan });
  }

  /** Frees the device copy. */
  dispose(): void {
    tf.dispose([this.lo, this.hi, this.table]);
  }
}

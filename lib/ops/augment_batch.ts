/**
 * A training batch built on the device from images kept there as bytes:
 * each example chosen by index, cropped from its zero-padded image, maybe
 * flipped, and normalised through a per-channel lookup table, in one
 * kernel where the backend registers {@linkcode AUGMENT_BATCH_KERNEL} (the
 * WebGPU plugin). The host then uploads a few integers a step instead of
 * the batch's floats. The images are CHW planes of 32x32 bytes, four bytes
 * to an int32 (little-endian), in two tensors (`lo`, `hi`) so that neither
 * outgrows a storage binding; the table holds the normalised value of every
 * byte of every channel, so the result equals the host's batch bit for bit.
 * Plain tfjs ops below are the reference.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { onBackend } from "./kernel_dispatch.ts";

/**
 * Kernel: inputs `{lo, hi, table, plan}`, attrs {@linkcode AugmentBatchAttrs}
 * -> the batch `[n, 32, 32, 3]` (float32, NHWC).
 */
export const AUGMENT_BATCH_KERNEL = "AugmentBatch";

/** Side of an image, in pixels. */
const SIDE = 32;
/** Bytes (= int32 words x 4) of one CHW image. */
const IMAGE_WORDS = SIDE * SIDE * 3 / 4;
/** Padding on each side before the crop, in pixels. */
const PAD = 4;

/** Attributes of {@linkcode AUGMENT_BATCH_KERNEL}. */
export interface AugmentBatchAttrs {
  /** Images in `lo`; image `i >= loImages` is image `i - loImages` of `hi`. */
  loImages: number;
}

/** What {@linkcode augmentBatch} reads. */
export interface AugmentBatchInputs {
  /** The first `loImages` images, 768 int32 words each (the CHW bytes, little-endian). */
  lo: tf.Tensor1D;
  /** The rest, the same way (may be any whole images when `lo` holds all). */
  hi: tf.Tensor1D;
  /** Images in `lo`. */
  loImages: number;
  /** float32 `[768]`: `table[c * 256 + v]` is the normalised value of byte `v` in channel `c`. */
  table: tf.Tensor1D;
  /**
   * int32 `[n, 4]`, a row per example of the batch: image index, crop column
   * and row in the padded 40x40 image (0..8; 4, 4 is the uncropped image),
   * and 1 to flip the crop left-right, else 0.
   */
  plan: tf.Tensor2D;
}

/**
 * The batch `[n, 32, 32, 3]` the plan describes: output pixel `(y, x)` of
 * example `b` is source pixel `(y + dy - 4, x' + dx - 4)` with `x' = 31 - x`
 * when flipped, else `x`; outside the image the byte is 0 (black padding).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { augmentBatch } from "./augment_batch.ts";
 * await tf.setBackend("cpu");
 * // One image whose bytes are all 2; the table maps byte v of any channel to v / 2.
 * const lo = tf.tensor1d(new Int32Array(new Uint8Array(3072).fill(2).buffer), "int32");
 * const table = tf.tensor1d(Float32Array.from({ length: 768 }, (_, i) => (i % 256) / 2));
 * // Uncropped, then shifted 4 pixels right (the left 4 columns are padding).
 * const plan = tf.tensor2d([[0, 4, 4, 0], [0, 0, 4, 0]], [2, 4], "int32");
 * const x = augmentBatch({ lo, hi: lo, loImages: 1, table, plan }).arraySync() as number[][][][];
 * assert.deepEqual(x[0][10][0], [1, 1, 1]);
 * assert.deepEqual([x[1][10][3], x[1][10][4]], [[0, 0, 0], [1, 1, 1]]);
 * ```
 */
export function augmentBatch(inputs: AugmentBatchInputs): tf.Tensor4D {
  const { lo, hi, loImages, table, plan } = inputs;
  if (lo.size !== loImages * IMAGE_WORDS || hi.size % IMAGE_WORDS !== 0 || hi.size === 0) {
    throw new RangeError(
      `augmentBatch: lo holds ${lo.size} words for ${loImages} images and hi ${hi.size}; ` +
        `each image is ${IMAGE_WORDS} words`,
    );
  }
  if (plan.rank !== 2 || plan.shape[1] !== 4 || plan.dtype !== "int32") {
    throw new RangeError(`augmentBatch: the plan is ${plan.dtype} [${plan.shape}], expected int32 [n, 4]`);
  }
  if (onBackend(AUGMENT_BATCH_KERNEL)) {
    const attrs: AugmentBatchAttrs = { loImages };
    return tf.engine().runKernel(
      AUGMENT_BATCH_KERNEL,
      { lo, hi, table, plan },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
  }
  return augmentBatchReference(inputs);
}

/** {@linkcode augmentBatch} in plain tfjs ops (gathers and integer arithmetic). */
export function augmentBatchReference(inputs: AugmentBatchInputs): tf.Tensor4D {
  const { lo, hi, loImages, table, plan } = inputs;
  const n = plan.shape[0];
  return tf.tidy(() => {
    // Integer scalars: a plain number would turn these int32 sums into float32 ones.
    const int = (v: number) => tf.scalar(v, "int32");
    const words = loImages > 0 ? tf.concat([lo, hi]) : hi;
    const column = (k: number) => tf.reshape(tf.slice(plan, [0, k], [n, 1]), [n, 1, 1, 1]);
    const [index, dx, dy, flip] = [0, 1, 2, 3].map(column);
    const y = tf.reshape(tf.range(0, SIDE, 1, "int32"), [1, SIDE, 1, 1]);
    const x = tf.reshape(tf.range(0, SIDE, 1, "int32"), [1, 1, SIDE, 1]);
    const c = tf.reshape(tf.range(0, 3, 1, "int32"), [1, 1, 1, 3]);
    const sy = tf.add(y, tf.sub(dy, int(PAD)));
    // Flipped: the crop's column 31 - x.
    const cx = tf.add(tf.mul(flip, tf.sub(int(SIDE - 1), tf.mul(x, int(2)))), x);
    const sx = tf.add(cx, tf.sub(dx, int(PAD)));
    const inside = (v: tf.Tensor) => tf.logicalAnd(tf.greaterEqual(v, int(0)), tf.less(v, int(SIDE)));
    const clip = (v: tf.Tensor) => tf.clipByValue(v, 0, SIDE - 1);
    // Byte offset of each output value in the images, then its word and the byte in it.
    const byte = tf.reshape(
      tf.add(
        tf.add(tf.mul(index, int(4 * IMAGE_WORDS)), tf.mul(c, int(SIDE * SIDE))),
        tf.add(tf.mul(clip(sy), int(SIDE)), clip(sx)),
      ),
      [-1],
    );
    const shape: [number, number, number, number] = [n, SIDE, SIDE, 3];
    const valid = tf.reshape(tf.broadcastTo(tf.logicalAnd(inside(sy), inside(sx)), shape), [-1]);
    const word = tf.gather(words, tf.floorDiv(byte, int(4)));
    const scale = tf.gather(tf.tensor1d([1, 1 << 8, 1 << 16, 1 << 24], "int32"), tf.mod(byte, int(4)));
    const value = tf.where(valid, tf.mod(tf.floorDiv(word, scale), int(256)), tf.zerosLike(byte));
    const channel = tf.reshape(tf.broadcastTo(c, shape), [-1]);
    return tf.reshape(tf.gather(table, tf.add(tf.mul(channel, int(256)), value)), shape) as tf.Tensor4D;
  });
}

/**
 * The CIFAR-10 binary format: named constants and a validating parser.
 *
 * Each `.bin` file of the official "binary version" holds records of
 * {@linkcode RECORD_BYTES} bytes: one label byte (0-9), then 1,024 red, 1,024
 * green and 1,024 blue bytes, each plane row-major 32x32. Pure: takes bytes,
 * never paths (see `cifar_files.ts` for the disk and the network).
 *
 * @module
 */

/** Side of a CIFAR-10 image, in pixels. */
export const IMAGE_SIZE = 32;
/** Colour channels per image (R, G, B planes). */
export const CHANNELS = 3;
/** Bytes of one image: 3 planes of 32x32 bytes. */
export const IMAGE_BYTES = CHANNELS * IMAGE_SIZE * IMAGE_SIZE; // 3072
/** Bytes of one record: the label byte, then the image. */
export const RECORD_BYTES = 1 + IMAGE_BYTES; // 3073
/** Records in each official `.bin` file. */
export const RECORDS_PER_FILE = 10000;
/** Class names by label, as in `batches.meta.txt`. */
export const CLASS_NAMES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);
/** Number of classes; labels are 0..NUM_CLASSES-1. */
export const NUM_CLASSES = CLASS_NAMES.length;
/** The five training files, in the order their records are used. */
export const TRAIN_FILES: readonly string[] = Object.freeze([
  "data_batch_1.bin",
  "data_batch_2.bin",
  "data_batch_3.bin",
  "data_batch_4.bin",
  "data_batch_5.bin",
]);
/** The test file. */
export const TEST_FILE = "test_batch.bin";

/**
 * A set of CIFAR-10 examples.
 *
 * `images` is `[count, 3, 32, 32]` uint8, planar R, G, B, each plane
 * row-major (the file's layout, label bytes removed); `labels` is `[count]`.
 */
export interface CifarSplit {
  /** `[count, 3, 32, 32]` uint8, planar RGB, row-major. */
  images: Uint8Array;
  /** `[count]` class indices 0..9. */
  labels: Uint8Array;
  /** Number of examples. */
  count: number;
}

/**
 * Thrown when bytes are not a valid CIFAR-10 binary batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CifarFormatError, parseCifarBatch } from "./cifar.ts";
 * // 3,000 bytes is not a whole number of 3,073-byte records.
 * assert.throws(() => parseCifarBatch(new Uint8Array(3000), { source: "short.bin" }), CifarFormatError);
 * ```
 */
export class CifarFormatError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CifarFormatError";
  }
}

/** Options for {@linkcode parseCifarBatch} and {@linkcode cifarRecordCount}. */
export interface ParseCifarOptions {
  /**
   * Name of the file the bytes came from, used in error messages.
   * @default {"CIFAR-10 batch"}
   */
  source?: string;
  /**
   * Exact number of records the bytes must hold; any multiple of
   * {@linkcode RECORD_BYTES} is accepted when not given.
   * @default {undefined}
   */
  expectedRecords?: number;
}

/**
 * Validates a batch's byte length and returns its number of records.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cifarRecordCount, RECORD_BYTES } from "./cifar.ts";
 * assert.equal(cifarRecordCount(2 * RECORD_BYTES), 2);
 * assert.throws(() => cifarRecordCount(2 * RECORD_BYTES, { expectedRecords: 3 }));
 * ```
 */
export function cifarRecordCount(
  byteLength: number,
  options: ParseCifarOptions = {},
): number {
  const source = options.source ?? "CIFAR-10 batch";
  const expected = options.expectedRecords;
  if (expected !== undefined) {
    if (!Number.isInteger(expected) || expected < 0) {
      throw new RangeError(
        `Expected records must be a non-negative integer, got ${expected}`,
      );
    }
    if (byteLength !== expected * RECORD_BYTES) {
      throw new CifarFormatError(
        `File "${source}" has ${byteLength} bytes, expected ${
          expected * RECORD_BYTES
        } (${expected} records of ${RECORD_BYTES} bytes)`,
      );
    }
  }
  if (byteLength % RECORD_BYTES !== 0) {
    const whole = Math.floor(byteLength / RECORD_BYTES);
    throw new CifarFormatError(
      `File "${source}" has ${byteLength} bytes, expected a multiple of ${RECORD_BYTES} ` +
        `(one label byte + ${IMAGE_BYTES} pixel bytes per record), e.g. ${whole * RECORD_BYTES} or ${
          (whole + 1) * RECORD_BYTES
        }: the file is truncated or has extra bytes`,
    );
  }
  return byteLength / RECORD_BYTES;
}

/**
 * Parses a CIFAR-10 binary batch into images and labels, validating its size
 * and every label.
 *
 * The images are copied (records interleave labels and pixels), so the input
 * may be reused afterwards.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCifarBatch, RECORD_BYTES } from "./cifar.ts";
 * const bytes = new Uint8Array(2 * RECORD_BYTES);
 * bytes[RECORD_BYTES] = 7; // label of record 1
 * const { images, labels, count } = parseCifarBatch(bytes, { source: "tiny.bin" });
 * assert.equal(count, 2);
 * assert.deepEqual(labels, Uint8Array.of(0, 7));
 * assert.equal(images.length, 2 * 3072);
 * ```
 */
export function parseCifarBatch(
  bytes: Uint8Array,
  options: ParseCifarOptions = {},
): CifarSplit {
  const source = options.source ?? "CIFAR-10 batch";
  const count = cifarRecordCount(bytes.length, options);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const offset = i * RECORD_BYTES;
    const label = bytes[offset];
    if (label >= NUM_CLASSES) {
      throw new CifarFormatError(
        `File "${source}" record ${i} (byte offset ${offset}) has label ${label}, ` +
          `expected 0..${NUM_CLASSES - 1}`,
      );
    }
    labels[i] = label;
    images.set(
      bytes.subarray(offset + 1, offset + RECORD_BYTES),
      i * IMAGE_BYTES,
    );
  }
  return { images, labels, count };
}

/**
 * Joins splits end to end, in order, into a new split (the inputs are copied).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatSplits, parseCifarBatch, RECORD_BYTES } from "./cifar.ts";
 * const a = parseCifarBatch(new Uint8Array(RECORD_BYTES));
 * const b = parseCifarBatch(new Uint8Array(2 * RECORD_BYTES));
 * const both = concatSplits([a, b]);
 * assert.equal(both.count, 3);
 * assert.equal(both.images.length, 3 * 3072);
 * ```
 */
export function concatSplits(splits: readonly CifarSplit[]): CifarSplit {
  let count = 0;
  for (const s of splits) count += s.count;
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const s of splits) {
    images.set(s.images.subarray(0, s.count * IMAGE_BYTES), at * IMAGE_BYTES);
    labels.set(s.labels.subarray(0, s.count), at);
    at += s.count;
  }
  return { images, labels, count };
}

import assert from "node:assert/strict";
import { join } from "node:path";
import { CIFAR_DIR } from "../helpers.ts";
import {
  CifarFormatError,
  CLASS_NAMES,
  concatSplits,
  IMAGE_BYTES,
  parseCifarBatch,
  RECORD_BYTES,
  RECORDS_PER_FILE,
  TEST_FILE,
  TRAIN_FILES,
} from "../../lib/data/cifar.ts";

/** A CIFAR buffer of records whose pixel byte j of record i is (i * 7 + j) % 256. */
function tinyBatch(labels: number[]): Uint8Array {
  const bytes = new Uint8Array(labels.length * RECORD_BYTES);
  labels.forEach((label, i) => {
    bytes[i * RECORD_BYTES] = label;
    for (let j = 0; j < IMAGE_BYTES; j++) {
      bytes[i * RECORD_BYTES + 1 + j] = (i * 7 + j) % 256;
    }
  });
  return bytes;
}

Deno.test("constants describe the official binary format", () => {
  assert.equal(RECORD_BYTES, 3073);
  assert.equal(IMAGE_BYTES, 3072);
  assert.equal(RECORDS_PER_FILE, 10000);
  assert.equal(CLASS_NAMES.length, 10);
  assert.equal(CLASS_NAMES[0], "airplane");
  assert.equal(CLASS_NAMES[9], "truck");
  assert.deepEqual(
    TRAIN_FILES,
    [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  );
  assert.equal(TEST_FILE, "test_batch.bin");
});

Deno.test("parseCifarBatch() splits labels from planar pixels", () => {
  const bytes = tinyBatch([3, 9]);
  const { images, labels, count } = parseCifarBatch(bytes, {
    source: "tiny.bin",
    expectedRecords: 2,
  });
  assert.equal(count, 2);
  assert.deepEqual([...labels], [3, 9]);
  assert.equal(images.length, 2 * IMAGE_BYTES);
  // record 1, green plane (offset 1024), row 2, column 5
  const j = 1024 + 2 * 32 + 5;
  assert.equal(images[IMAGE_BYTES + j], (7 + j) % 256);
  assert.equal(images[0], 0);
  assert.equal(images[IMAGE_BYTES - 1], 3071 % 256);
});

Deno.test("parseCifarBatch() accepts an empty buffer", () => {
  assert.equal(parseCifarBatch(new Uint8Array(0)).count, 0);
});

Deno.test("parseCifarBatch() rejects a truncated file, naming it and the sizes", () => {
  const bytes = tinyBatch([1, 2]).subarray(0, 2 * RECORD_BYTES - 1);
  assert.throws(() => parseCifarBatch(bytes, { source: "data_batch_1.bin" }), {
    name: "CifarFormatError",
    message: 'File "data_batch_1.bin" has 6145 bytes, expected a multiple of 3073 ' +
      "(one label byte + 3072 pixel bytes per record), e.g. 3073 or 6146: " +
      "the file is truncated or has extra bytes",
  });
});

Deno.test("parseCifarBatch() rejects an oversized file", () => {
  const bytes = new Uint8Array(2 * RECORD_BYTES + 5);
  assert.throws(
    () => parseCifarBatch(bytes, { source: "x.bin" }),
    CifarFormatError,
  );
  assert.throws(
    () =>
      parseCifarBatch(tinyBatch([0, 0, 0]), {
        source: "x.bin",
        expectedRecords: 2,
      }),
    {
      name: "CifarFormatError",
      message: 'File "x.bin" has 9219 bytes, expected 6146 (2 records of 3073 bytes)',
    },
  );
});

Deno.test("parseCifarBatch() rejects label 10 with file, record and offset", () => {
  const bytes = tinyBatch([0, 10]);
  assert.throws(() => parseCifarBatch(bytes, { source: "test_batch.bin" }), {
    name: "CifarFormatError",
    message: 'File "test_batch.bin" record 1 (byte offset 3073) has label 10, expected 0..9',
  });
});

Deno.test("concatSplits() joins splits in order", () => {
  const a = parseCifarBatch(tinyBatch([1]));
  const b = parseCifarBatch(tinyBatch([2, 3]));
  const c = concatSplits([a, b]);
  assert.equal(c.count, 3);
  assert.deepEqual([...c.labels], [1, 2, 3]);
  assert.deepEqual(c.images.subarray(IMAGE_BYTES), b.images);
  assert.deepEqual(c.images.subarray(0, IMAGE_BYTES), a.images);
  assert.equal(concatSplits([]).count, 0);
});

const REAL_TEST = join(CIFAR_DIR, "test_batch.bin");

function haveRealData(): boolean {
  try {
    Deno.statSync(REAL_TEST);
    return true;
  } catch {
    console.warn(
      `Skipping the real-data test: ${REAL_TEST} is absent`,
    );
    return false;
  }
}

Deno.test({
  name: "parseCifarBatch() reads the first 100 records of the real test_batch.bin",
  ignore: !haveRealData(),
  fn: async () => {
    const bytes = new Uint8Array(100 * RECORD_BYTES);
    using file = await Deno.open(REAL_TEST);
    for (let at = 0; at < bytes.length;) {
      const n = await file.read(bytes.subarray(at));
      if (n === null) {
        throw new Error(`${REAL_TEST} ended after ${at} bytes`);
      }
      at += n;
    }
    const { labels, images, count } = parseCifarBatch(bytes, {
      source: "test_batch.bin",
      expectedRecords: 100,
    });
    assert.equal(count, 100);
    // Computed independently with numpy:
    // b = np.fromfile("test_batch.bin", np.uint8).reshape(-1, 3073)
    // np.bincount(b[:100, 0], minlength=10), b[:10, 0], b[0, 1:4], ...
    const histogram = new Array(10).fill(0);
    for (const l of labels) histogram[l]++;
    assert.deepEqual(histogram, [10, 6, 8, 10, 7, 8, 16, 11, 13, 11]);
    assert.deepEqual([...labels.subarray(0, 10)], [
      3,
      8,
      8,
      0,
      6,
      6,
      1,
      6,
      3,
      1,
    ]);
    assert.deepEqual([...images.subarray(0, 3)], [158, 159, 165]); // record 0, red, row 0
    assert.deepEqual([...images.subarray(1024, 1027)], [112, 111, 116]); // green
    assert.deepEqual([...images.subarray(2048, 2051)], [49, 47, 51]); // blue
    assert.equal(images[100 * IMAGE_BYTES - 1], 127); // record 99's last blue byte
  },
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { CifarSplit } from "../../lib/data/cifar.ts";
import { type AugmentParams, drawAugmentParams, makeBatch, planBatch } from "../../lib/data/batches.ts";
import { Rng } from "../../lib/data/rng.ts";
import { DEVICE_IMAGES_MAX, DeviceImages, IMAGES_PER_TENSOR } from "../../lib/train/device_batches.ts";

await tf.setBackend("cpu");

/** `count` images of pseudo-random bytes (each image distinct). */
function split(count: number, bytes = new Uint8Array(count * 3072)): CifarSplit {
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.imul(i + 1, 2654435761) >>> 24;
  return { images: bytes, labels: new Uint8Array(count), count };
}

/** The batch `images` builds for `indices` and `params`, downloaded. */
function deviceBatch(images: DeviceImages, indices: Int32Array, params?: AugmentParams[]): Float32Array {
  return tf.tidy(() => {
    const plan = tf.tensor2d(planBatch(images.split, indices, { params }), [indices.length, 4], "int32");
    return images.batch(plan).dataSync() as Float32Array;
  });
}

Deno.test("DeviceImages builds makeBatch's batches bit for bit, augmented and whole", () => {
  const s = split(6);
  const images = new DeviceImages(s);
  assert.equal(images.hi, images.lo, "one tensor holds a small split");
  const indices = Int32Array.of(5, 0, 2, 2, 4);
  const params = drawAugmentParams(indices.length, new Rng(1));
  assert.deepEqual(deviceBatch(images, indices, params), makeBatch(s, indices, { augment: true, params }));
  assert.deepEqual(deviceBatch(images, indices), makeBatch(s, indices));
  images.dispose();
  assert.ok(images.lo.isDisposed && images.table.isDisposed);
});

Deno.test("DeviceImages splits a large split over two tensors and reads images from both", () => {
  const count = IMAGES_PER_TENSOR + 3;
  const s = split(count);
  const images = new DeviceImages(s);
  assert.equal(images.loImages, IMAGES_PER_TENSOR);
  assert.equal(images.lo.size, IMAGES_PER_TENSOR * 768);
  assert.equal(images.hi.size, 3 * 768);
  const indices = Int32Array.of(count - 1, 0, IMAGES_PER_TENSOR, IMAGES_PER_TENSOR - 1);
  const params = drawAugmentParams(indices.length, new Rng(2));
  assert.deepEqual(deviceBatch(images, indices, params), makeBatch(s, indices, { augment: true, params }));
  images.dispose();
});

Deno.test("DeviceImages copies bytes that do not start on a 4-byte boundary", () => {
  const backing = new Uint8Array(1 + 2 * 3072);
  const s = split(2, backing.subarray(1));
  const images = new DeviceImages(s);
  assert.deepEqual(deviceBatch(images, Int32Array.of(1, 0)), makeBatch(s, Int32Array.of(1, 0)));
  images.dispose();
});

Deno.test("DeviceImages refuses an empty split and one beyond two tensors", () => {
  assert.throws(() => new DeviceImages(split(0)), /A split of 0 images cannot be held on the device/);
  const huge = { images: new Uint8Array(0), labels: new Uint8Array(0), count: DEVICE_IMAGES_MAX + 1 };
  assert.throws(() => new DeviceImages(huge), new RegExp(`A split of ${DEVICE_IMAGES_MAX + 1} images`));
});

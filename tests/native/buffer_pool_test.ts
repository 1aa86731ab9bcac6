import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { BufferPool, POOL_MIN_VALUES } from "../../lib/native/buffer_pool.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";

const N = POOL_MIN_VALUES;

Deno.test("BufferPool recycles only its own, unpinned buffers, once, up to maxBytes", () => {
  const pool = new BufferPool(3 * N * 4);
  const a = pool.take(N), b = pool.take(N), c = pool.take(N), d = pool.take(N);
  assert.ok(a.every((v) => v === 0), "new buffers are zeroed");
  pool.release(a);
  pool.release(a); // twice: held once
  assert.equal(pool.freeBytes, N * 4);
  assert.equal(pool.take(N), a);
  assert.notEqual(pool.take(N), a, "a was handed out again, not duplicated");
  pool.pin(b);
  pool.release(b);
  pool.release(new Float32Array(N)); // not from take()
  const small = pool.take(16);
  pool.release(small);
  assert.equal(pool.freeBytes, 0);
  pool.release(c);
  pool.release(d);
  pool.release(a);
  pool.release(pool.take(2 * N)); // over maxBytes: dropped
  assert.equal(pool.freeBytes, 3 * N * 4);
  assert.notEqual(pool.take(N), b, "a pinned buffer never comes back");
});

Deno.test({
  name: "native: arrays read from disposed tensors and cpu-kernel views survive buffer reuse",
  ignore: !nativeAvailable().ok,
  async fn() {
    await registerNativeBackend();
    await tf.setBackend("native");
    const n = 4 * N;
    const values = Float32Array.from({ length: n }, (_, i) => (i % 13) - 6);
    const want = values.map((v) => Math.max(v, 0));
    const x = tf.tensor1d(values);
    // oneDNN's Relu output comes from the pool.
    const y = tf.relu(x);
    const read = y.dataSync() as Float32Array;
    const [first, second] = tf.split(y, 2); // cpu kernel: may return views of y
    const reshaped = tf.reshape(y, [2, n / 2]);
    y.dispose();
    // Churn: outputs of the same size, each freed at once.
    for (let i = 0; i < 8; i++) tf.tidy(() => tf.relu(tf.neg(x)).dataSync());
    assert.deepEqual(read, want);
    assert.deepEqual(first.dataSync(), want.subarray(0, n / 2));
    assert.deepEqual(second.dataSync(), want.subarray(n / 2));
    assert.deepEqual(reshaped.dataSync(), want);
    tf.dispose([x, first, second, reshaped]);
  },
});

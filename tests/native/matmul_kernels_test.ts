import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { assertAllClose } from "../helpers.ts";

tf.env().set("PROD", true); // no tfjs-node banner
const native = nativeAvailable();

/** Values and gradients of `f` on `backend` for fixed inputs. */
async function run(backend: string, f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, shapes: number[][]) {
  if (backend === "native") await registerNativeBackend();
  await tf.setBackend(backend);
  const [a, b] = shapes.map((s, i) => tf.randomNormal(s, 0, 1, "float32", 7 + i));
  const y = f(a, b);
  const dy = tf.randomNormal(y.shape, 0, 1, "float32", 3);
  const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(f(p, q), dy)))([a, b]);
  const out = [await y.data(), await da.data(), await db.data()] as Float32Array[];
  tf.dispose([a, b, y, dy, da, db]);
  return out;
}

Deno.test({
  name: "native BatchMatMul matches the cpu backend in values and gradients",
  ignore: !native.ok,
  async fn() {
    const cases: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, number[][]][] = [
      ["plain", (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), [[7, 5], [5, 3]]],
      ["transposeA", (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true), [[5, 7], [5, 3]]],
      ["transposeB", (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), [[7, 5], [3, 5]]],
      ["both", (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, true), [[5, 7], [3, 5]]],
      ["batched", (a, b) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D), [[4, 3, 6], [4, 6, 2]]],
      ["Lab 1 size", (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), [[100, 64], [64, 64]]],
      ["one row", (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), [[1, 1], [1, 64]]],
    ];
    for (const [name, f, shapes] of cases) {
      const want = await run("cpu", f, shapes);
      const got = await run("native", f, shapes);
      assertAllClose(got, want, 1e-4, `${name} (value, grad a, grad b)`);
    }
  },
});

Deno.test({
  name: "native BatchMatMul falls back to the cpu kernel for broadcast batches and leaks nothing",
  ignore: !native.ok,
  async fn() {
    await registerNativeBackend();
    await tf.setBackend("native");
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => tf.matMul(tf.ones([2, 3, 4]), tf.ones([1, 4, 5])));
    assert.deepEqual(y.shape, [2, 3, 5]);
    assert.ok((await y.data()).every((v) => v === 4));
    y.dispose();
    assert.equal(tf.memory().numTensors, before);
  },
});

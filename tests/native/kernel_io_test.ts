import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { cpuKernel, f32, freshAlloc, valuesOf } from "../../lib/native/kernel_io.ts";

Deno.test("cpuKernel() returns the cpu kernel and names a missing one", () => {
  assert.equal(cpuKernel("Add"), tf.getKernel("Add", "cpu")!.kernelFunc);
  assert.throws(
    () => cpuKernel("NoSuchKernel"),
    {
      message: `Kernel "NoSuchKernel" is not registered for "cpu": import @tensorflow/tfjs-backend-cpu first`,
    },
  );
});

Deno.test("f32() and valuesOf() read a tensor's stored values; f32() only float32 ones", async () => {
  await tf.setBackend("cpu");
  const backend = tf.backend() as MathBackendCPU;
  const a = tf.tensor1d([1, 2, 3]), b = tf.tensor1d([1, 2], "int32");
  const stored = backend.data.get(a.dataId).values;
  assert.equal(f32(backend, a), stored);
  assert.equal(valuesOf(backend, a), stored);
  assert.equal(f32(backend, b), null);
  tf.dispose([a, b]);
});

Deno.test("freshAlloc() gives a new zeroed buffer each call", () => {
  const x = freshAlloc(5), y = freshAlloc(5);
  assert.notEqual(x, y);
  assert.deepEqual([...x], [0, 0, 0, 0, 0]);
});

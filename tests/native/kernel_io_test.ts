import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { cpuKernel, f32, freshAlloc, valuesOf, withCpuFallback } from "../../lib/native/kernel_io.ts";

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

Deno.test("withCpuFallback() runs the body, and the cpu kernel where it returns null", async () => {
  await tf.setBackend("cpu");
  const backend = tf.backend() as MathBackendCPU;
  const x = tf.tensor1d([-1, 2]);
  const args = { inputs: { x }, backend, attrs: {} };
  const own = backend.makeTensorInfo([1], "float32", Float32Array.of(7));
  const k = withCpuFallback("Relu", "native", (a, b) => a === args && b === backend ? own : null);
  assert.equal(k.kernelName, "Relu");
  assert.equal(k.backendName, "native");
  assert.equal(k.kernelFunc(args), own);
  const cpu = withCpuFallback("Relu", "native", () => null).kernelFunc(args) as tf.TensorInfo;
  assert.deepEqual([...backend.readSync(cpu.dataId) as Float32Array], [0, 2]);
  assert.throws(() => withCpuFallback("NoSuchKernel", "native", () => null), {
    message: `Kernel "NoSuchKernel" is not registered for "cpu": import @tensorflow/tfjs-backend-cpu first`,
  });
  backend.disposeData(own.dataId);
  backend.disposeData(cpu.dataId);
  x.dispose();
});

Deno.test("freshAlloc() gives a new zeroed buffer each call", () => {
  const x = freshAlloc(5), y = freshAlloc(5);
  assert.notEqual(x, y);
  assert.deepEqual([...x], [0, 0, 0, 0, 0]);
});

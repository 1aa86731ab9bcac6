/**
 * What the WebGPU tests share: whether an adapter exists, running the same
 * computation on tfjs's reference `cpu` backend and on `webgpu` (this
 * project's plugin), and comparing the results.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { probeWebGpu, selectBackend } from "../../lib/runtime/backend.ts";
import type { Rng } from "../../lib/data/rng.ts";

/** The adapter, or null where the runtime has none (the tests are then skipped). */
export const gpu = await probeWebGpu();

/** Test options: skipped without an adapter; WebGPU holds resources Deno's sanitizers count. */
export const gpuTest = { ignore: gpu === null, sanitizeOps: false, sanitizeResources: false };

/** A tensor of `shape` uniform in [-1, 1) from `rng`. */
export function random(rng: Rng, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => 2 * rng.float() - 1), shape);
}

/**
 * Runs `fn` on `cpu` then on `webgpu`, returning each run's downloaded
 * outputs, and checks that neither leaks tensors.
 */
export async function onBoth(fn: () => tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  await selectBackend("webgpu");
  const out: Float32Array[][] = [];
  for (const backend of ["cpu", "webgpu"]) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const ts = fn();
    out.push(await Promise.all(ts.map(async (t) => Float32Array.from(await t.data()))));
    tf.dispose(ts);
    assert.equal(tf.memory().numTensors, before, `tensors leaked on ${backend}`);
  }
  return [out[0], out[1]];
}

/** Largest absolute difference over the largest magnitude of `want`. */
export function relError(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / (scale || 1);
}

/** Asserts every `got[i]` is within `tol` (relative, {@linkcode relError}) of `want[i]`. */
export function assertClose(got: Float32Array[], want: Float32Array[], names: string[], tol: number): void {
  assert.equal(got.length, names.length);
  names.forEach((name, i) => {
    const err = relError(got[i], want[i]);
    assert.ok(err < tol, `${name}: webgpu differs from cpu by ${err.toExponential(2)} (relative)`);
  });
}

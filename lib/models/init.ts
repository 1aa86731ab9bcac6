/**
 * PyTorch's default initialisation for `nn.Linear` and `nn.Conv2d`:
 * `kaiming_uniform_(a=sqrt(5))`, which is uniform in ±1/sqrt(fan_in), drawn
 * from a seeded {@linkcode Rng} so a seed fixes the whole model.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../data/rng.ts";

/**
 * A float32 tensor of `shape` with values uniform in [-bound, bound), drawn
 * in row-major order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Rng } from "../data/rng.ts";
 * import { defaultBound, uniformInit } from "./init.ts";
 * await tf.setBackend("cpu");
 * const bound = defaultBound(3 * 3 * 16); // a 3x3 conv from 16 channels
 * const w = uniformInit(new Rng(0), [3, 3, 16, 32], bound);
 * assert.deepEqual(w.shape, [3, 3, 16, 32]);
 * assert.ok((await w.data()).every((v) => v >= -bound && v < bound));
 * w.dispose();
 * ```
 */
export function uniformInit(rng: Rng, shape: number[], bound: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (rng.float() * 2 - 1) * bound;
  return tf.tensor(values, shape, "float32");
}

/**
 * The PyTorch default bound for a layer with `fanIn` inputs per output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultBound } from "./init.ts";
 * assert.equal(defaultBound(64), 0.125); // nn.Linear(64, 10)
 * ```
 */
export function defaultBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

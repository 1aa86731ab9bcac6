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
 * ```ts ignore
 * const w = uniformInit(new Rng(0), [3, 3, 16, 32], 1 / Math.sqrt(9 * 16));
 * ```
 */
export function uniformInit(rng: Rng, shape: number[], bound: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = (rng.float() * 2 - 1) * bound;
  return tf.tensor(values, shape, "float32");
}

/** The PyTorch default bound for a layer with `fanIn` inputs per output. */
export function defaultBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

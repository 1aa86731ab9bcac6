/**
 * Seeded pseudo-random numbers whose whole state can be saved in a checkpoint
 * and restored, so that a resumed run draws exactly what an uninterrupted one
 * would. Backed by pure-rand's xoroshiro128+.
 *
 * @module
 */
import { xoroshiro128plus, xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";

/**
 * A mutable, seeded random number generator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./rng.ts";
 * const rng = new Rng(0);
 * const saved = rng.state(); // e.g. written into a checkpoint
 * const a = rng.float();
 * assert.ok(a >= 0 && a < 1);
 * assert.equal(Rng.fromState(saved).float(), a);
 * assert.deepEqual([...rng.permutation(4)].sort(), [0, 1, 2, 3]);
 * ```
 */
export class Rng {
  #gen: JumpableRandomGenerator;

  /** Creates a generator from an integer seed. */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < -(2 ** 31) || seed >= 2 ** 31) {
      throw new RangeError(`Seed must be an integer in -2147483648..2147483647, got ${seed}`);
    }
    this.#gen = xoroshiro128plus(seed | 0);
    // xoroshiro128+ seeded from a small integer starts with poorly mixed
    // state (the first float is ~1.0 for seed 3); discard a warm-up stretch.
    for (let i = 0; i < 32; i++) this.#gen.next();
  }

  /** Restores a generator from {@linkcode Rng.state}. */
  static fromState(state: readonly number[]): Rng {
    if (!Array.isArray(state) || state.length !== 4 || !state.every(Number.isInteger)) {
      throw new TypeError(`RNG state must be 4 integers, got ${JSON.stringify(state)}`);
    }
    if (!state.every((v) => v === (v | 0)) || state.every((v) => v === 0)) {
      throw new TypeError(`RNG state must be 32-bit integers, not all zero, got ${JSON.stringify(state)}`);
    }
    const rng = new Rng(0);
    rng.#gen = xoroshiro128plusFromState(state);
    return rng;
  }

  /** The generator's state: four 32-bit integers, JSON-serialisable. */
  state(): number[] {
    return [...this.#gen.getState()];
  }

  /** A float uniform in [0, 1). */
  float(): number {
    return uniformFloat64(this.#gen);
  }

  /** An integer uniform in [min, max], both included. */
  int(min: number, max: number): number {
    return uniformInt(this.#gen, min, max);
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/**
 * Divergence as a result, not a crash: a training loss or weight that is
 * no longer finite (a learning rate far too high) ends the run, which is
 * marked diverged, and nothing non-finite is ever written as a checkpoint or
 * a result. Pure.
 *
 * @module
 */
import type { StateDict } from "../formats/state_dict.ts";

/**
 * Raised when a run diverges; `epoch` is the 1-based epoch and `what` says
 * which value was not finite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DivergedError } from "./divergence.ts";
 * const e = new DivergedError(3, "the training loss is NaN");
 * assert.equal(e.message, "Training diverged in epoch 3: the training loss is NaN");
 * ```
 */
export class DivergedError extends Error {
  /** Creates the error. */
  constructor(
    /** The 1-based epoch in which it happened. */
    readonly epoch: number,
    /** What was not finite. */
    readonly what: string,
  ) {
    super(`Training diverged in epoch ${epoch}: ${what}`);
    this.name = "DivergedError";
  }
}

/**
 * The first tensor of `state` holding a NaN or an infinity, with the value
 * and its flat index; null when every F32 value is finite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstNonFinite } from "./divergence.ts";
 * const ok = { dtype: "F32" as const, shape: [2], data: Float32Array.of(1, 2) };
 * const bad = { dtype: "F32" as const, shape: [2], data: Float32Array.of(1, Infinity) };
 * assert.equal(firstNonFinite(new Map([["a", ok]])), null);
 * assert.deepEqual(firstNonFinite(new Map([["a", ok], ["b", bad]])), { name: "b", index: 1, value: Infinity });
 * ```
 */
export function firstNonFinite(state: StateDict): { name: string; index: number; value: number } | null {
  for (const [name, t] of state) {
    if (!(t.data instanceof Float32Array)) continue;
    const index = t.data.findIndex((v) => !Number.isFinite(v));
    if (index >= 0) return { name, index, value: t.data[index] };
  }
  return null;
}

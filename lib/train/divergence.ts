/**
 * Divergence as a result, not a crash: a training loss or weight that is
 * no longer finite (a learning rate far too high) ends the run, which is
 * marked diverged, and nothing non-finite is ever written as a checkpoint or
 * a result. Pure.
 *
 * @module
 */

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
 * The first F32 tensor of a state dict holding a NaN or an infinity (see
 * `lib/formats/state_dict.ts`): what marks a run's weights as diverged.
 */
export { firstNonFinite, type NonFinite } from "../formats/state_dict.ts";

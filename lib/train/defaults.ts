/**
 * Both labs' defaults in one place: the flag tables print them in `--help`
 * and fill them in, the training loops and the optimizer fall back to them.
 * Change a lab's recipe here and nowhere else.
 *
 * @module
 */

import type { FitConfig } from "../models/mlp.ts";

/** Everything that defines a Lab 1 run (declared beside the model file that records it). */
export type { FitConfig };

/**
 * Lab 1's handout: NUM_TRAIN_SAMPLES 1000, batches of 100, two hidden layers
 * of 64, Adam at 0.01 for 1000 epochs, x in [-5, 5].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIT_DEFAULTS } from "./defaults.ts";
 * assert.equal(FIT_DEFAULTS.samples / FIT_DEFAULTS.batchSize, 10); // steps an epoch
 * ```
 */
export const FIT_DEFAULTS: Readonly<FitConfig> = Object.freeze({
  epochs: 1000,
  lr: 0.01,
  samples: 1000,
  batchSize: 100,
  hidden: [64, 64],
  optimizer: "adam",
  xMin: -5,
  xMax: 5,
  seed: 0,
});

/**
 * Lab 2's recipe: ResNet20, LR 0.1 for 5 epochs then 0.01 for 5, batches of
 * 128, SGD with momentum 0.9 and weight decay 1e-4 (PyTorch's coupled L2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAB2_DEFAULTS } from "./defaults.ts";
 * assert.equal(LAB2_DEFAULTS.schedule, "0.1:5,0.01:5");
 * ```
 */
export const LAB2_DEFAULTS = Object.freeze({
  /** `LR:EPOCHS` stages, run from epoch 1 through every stage. */
  schedule: "0.1:5,0.01:5",
  /** Images per SGD step. */
  batchSize: 128,
  momentum: 0.9,
  weightDecay: 1e-4,
  /** Seeds the initial weights, the shuffling and the augmentation. */
  seed: 0,
  /**
   * Images per evaluation forward pass: every activation of a pass stays
   * alive until it ends, so this bounds peak memory (~4 MB per image).
   */
  evalBatchSize: 128,
});

/**
 * Lab 1's two studies as lists of runs: how the fit changes with the number
 * of epochs (100, 1000, 10000, 50000 at the base learning rate) and with the
 * learning rate (1, 0.1, 0.01, 0.001 at 1000 epochs), everything else fixed.
 *
 * @module
 */
import type { FitConfig } from "./fit_function.ts";

/** The studies the lab asks for. */
export const STUDIES = {
  epochs: [100, 1000, 10000, 50000],
  lr: [1, 0.1, 0.01, 0.001],
} as const;

/** A study's name. */
export type StudyName = keyof typeof STUDIES;

/** Epochs of every run in the learning-rate study (the lab's fixed 1000). */
export const LR_STUDY_EPOCHS = 1000;

/** One run of a study: a name for files and legends, and its config. */
export interface StudyRun {
  name: string;
  config: FitConfig;
}

/**
 * The runs of `study` around `base`. With no study, the single run of `base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { studyRuns } from "./study.ts";
 * import { FIT_DEFAULTS } from "./fit_function.ts";
 * const runs = studyRuns("lr", FIT_DEFAULTS);
 * assert.deepEqual(runs.map((r) => r.name), ["lr-1", "lr-0.1", "lr-0.01", "lr-0.001"]);
 * assert.ok(runs.every((r) => r.config.epochs === 1000));
 * assert.equal(studyRuns(null, FIT_DEFAULTS)[0].config, FIT_DEFAULTS);
 * ```
 */
export function studyRuns(study: StudyName | null, base: FitConfig): StudyRun[] {
  if (study === "epochs") {
    return STUDIES.epochs.map((epochs) => ({ name: `epochs-${epochs}`, config: { ...base, epochs } }));
  }
  if (study === "lr") {
    return STUDIES.lr.map((lr) => ({
      name: `lr-${lr}`,
      config: { ...base, lr, epochs: LR_STUDY_EPOCHS },
    }));
  }
  return [{ name: `e${base.epochs}-lr${base.lr}`, config: base }];
}

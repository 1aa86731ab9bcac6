/**
 * Learning-rate schedules as stages, `LR:EPOCHS,LR:EPOCHS,...`: the lab's
 * `0.1:5,0.01:5` is LR 0.1 for epochs 1-5 then 0.01 for epochs 6-10, run from
 * epoch 1 to the end with no manual step. Pure functions of the epoch.
 *
 * @module
 */
import { LAB2_DEFAULTS } from "./defaults.ts";

/** One stage: a learning rate held for a number of epochs. */
export interface Stage {
  /** Learning rate per step (the loss is a per-example mean). */
  lr: number;
  epochs: number;
}

/** The lab's recipe (`LAB2_DEFAULTS.schedule`). */
export const LAB_SCHEDULE: string = LAB2_DEFAULTS.schedule;

/**
 * Raised for a malformed `--schedule`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedule, ScheduleError } from "./schedule.ts";
 * assert.throws(() => parseSchedule("0.1:5,0.01"), ScheduleError); // stage 2 lacks its epochs
 * ```
 */
export class ScheduleError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ScheduleError";
  }
}

/**
 * Parses `LR:EPOCHS` stages separated by commas.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedule } from "./schedule.ts";
 * assert.deepEqual(parseSchedule("0.1:5,0.01:5"), [{ lr: 0.1, epochs: 5 }, { lr: 0.01, epochs: 5 }]);
 * ```
 */
export function parseSchedule(text: string): Stage[] {
  const expected = `expected LR:EPOCHS stages such as "${LAB_SCHEDULE}"`;
  if (text.trim() === "") throw new ScheduleError(`Schedule is empty: ${expected}`);
  return text.split(",").map((part, i) => {
    const m = part.trim().match(/^([^:]+):([^:]+)$/);
    const lr = m ? Number(m[1]) : NaN;
    const epochs = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(lr) || lr <= 0 || !Number.isInteger(epochs) || epochs < 1 || epochs > 10000) {
      throw new ScheduleError(
        `Schedule stage ${i + 1} is "${part}": ${expected}, with LR > 0 and a whole number of epochs >= 1`,
      );
    }
    return { lr, epochs };
  });
}

/**
 * Total epochs of all stages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedule, totalEpochs } from "./schedule.ts";
 * assert.equal(totalEpochs(parseSchedule("0.1:5,0.01:5")), 10);
 * ```
 */
export function totalEpochs(stages: readonly Stage[]): number {
  return stages.reduce((n, s) => n + s.epochs, 0);
}

/**
 * Learning rate of 1-based `epoch`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lrAt, parseSchedule } from "./schedule.ts";
 * const s = parseSchedule("0.1:5,0.01:5");
 * assert.equal(lrAt(s, 5), 0.1);
 * assert.equal(lrAt(s, 6), 0.01);
 * assert.throws(() => lrAt(s, 11), RangeError); // past the last epoch
 * ```
 */
export function lrAt(stages: readonly Stage[], epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 1) {
    throw new RangeError(`Epoch must be an integer >= 1, got ${epoch}`);
  }
  let end = 0;
  for (const s of stages) {
    end += s.epochs;
    if (epoch <= end) return s.lr;
  }
  throw new RangeError(`Epoch ${epoch} is past the schedule's last epoch ${end}`);
}

/**
 * The schedule as text, e.g. `0.1:5,0.01:5`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSchedule } from "./schedule.ts";
 * assert.equal(formatSchedule([{ lr: 0.1, epochs: 5 }, { lr: 0.01, epochs: 5 }]), "0.1:5,0.01:5");
 * ```
 */
export function formatSchedule(stages: readonly Stage[]): string {
  return stages.map((s) => `${s.lr}:${s.epochs}`).join(",");
}

/**
 * The 1-based first epoch and learning rate of every stage (epoch 1 included), for chart markers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedule, stageStarts } from "./schedule.ts";
 * const starts = stageStarts(parseSchedule("0.1:5,0.01:5"));
 * assert.deepEqual(starts, [{ epoch: 1, lr: 0.1 }, { epoch: 6, lr: 0.01 }]);
 * ```
 */
export function stageStarts(stages: readonly Stage[]): { epoch: number; lr: number }[] {
  const out: { epoch: number; lr: number }[] = [];
  let start = 1;
  for (const s of stages) {
    out.push({ epoch: start, lr: s.lr });
    start += s.epochs;
  }
  return out;
}

/**
 * `head`'s stages as they are, then `tail`'s, each stage of `tail` merged
 * into the stage before it when their learning rates are equal: the full
 * schedule of a run that continues epochs already run (`head`). Neighbours
 * within `head` are left apart, as they were written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatStages, formatSchedule, parseSchedule } from "./schedule.ts";
 * const all = concatStages(parseSchedule("0.1:5"), parseSchedule("0.1:2,0.01:5"));
 * assert.equal(formatSchedule(all), "0.1:7,0.01:5");
 * // From no stages, one per epoch: the schedule those epochs ran.
 * assert.equal(formatSchedule(concatStages([], parseSchedule("0.1:1,0.1:1,0.01:1"))), "0.1:2,0.01:1");
 * ```
 */
export function concatStages(head: readonly Stage[], tail: readonly Stage[]): Stage[] {
  const out = head.map((s) => ({ ...s }));
  for (const s of tail) {
    const last = out.at(-1);
    if (last && last.lr === s.lr) last.epochs += s.epochs;
    else out.push({ ...s });
  }
  return out;
}

/**
 * The first `epochs` epochs of `stages` (the last stage kept cut short);
 * all of them when `epochs` is past the end, none when it is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstEpochs, parseSchedule } from "./schedule.ts";
 * assert.deepEqual(firstEpochs(parseSchedule("0.1:5,0.01:5"), 7), parseSchedule("0.1:5,0.01:2"));
 * ```
 */
export function firstEpochs(stages: readonly Stage[], epochs: number): Stage[] {
  const out: Stage[] = [];
  let left = epochs;
  for (const s of stages) {
    if (left <= 0) break;
    out.push({ lr: s.lr, epochs: Math.min(s.epochs, left) });
    left -= s.epochs;
  }
  return out;
}

/**
 * `stages` without their first `epochs` epochs (`epochs` >= 0): the rest of
 * a schedule whose start was run elsewhere; none when `epochs` covers them
 * all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dropEpochs, parseSchedule } from "./schedule.ts";
 * assert.deepEqual(dropEpochs(parseSchedule("0.1:5,0.01:5"), 7), parseSchedule("0.01:3"));
 * ```
 */
export function dropEpochs(stages: readonly Stage[], epochs: number): Stage[] {
  const out: Stage[] = [];
  let skip = epochs;
  for (const s of stages) {
    const keep = s.epochs - Math.min(skip, s.epochs);
    skip -= s.epochs - keep;
    if (keep > 0) out.push({ lr: s.lr, epochs: keep });
  }
  return out;
}

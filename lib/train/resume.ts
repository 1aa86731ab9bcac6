// Touches the disk: lists run folders and their checkpoints, and reads checkpoints.
/**
 * Lab 2's resume policy: which run and which checkpoint a run continues
 * from, with what settings, and what it may change.
 *
 * - `--resume auto --out DIR` continues DIR from its latest checkpoint that
 *   reads; a damaged one (a kill during a write, a full disk) is skipped and
 *   named. `--resume auto` alone picks the run under `runs/`
 *   ({@linkcode findRunToResume}).
 * - Settings not given again are the checkpoint's ({@linkcode resumeConfig}):
 *   a resume repeats nothing. Those that define the run (batch size, seed,
 *   data subset, optimizer) must equal the checkpoint's
 *   ({@linkcode checkResumable}); the schedule may only grow
 *   ({@linkcode scheduleExtends}).
 * - A run started from a file that records its own epochs (`--init` from a
 *   checkpoint or a final weights file of this toolkit) continues their
 *   numbering and carries their metrics ({@linkcode inheritedHistory}).
 *
 * @module
 */
import { join } from "node:path";
import { type Checkpoint, decodeCheckpoint } from "../formats/checkpoint.ts";
import { MAX_WEIGHTS_BYTES } from "../formats/weights.ts";
import { readFileNamed } from "../runtime/files.ts";
import { UsageError } from "../runtime/flags.ts";
import { quote } from "../runtime/quote.ts";
import { concatStages, formatSchedule, lrAt, parseSchedule, type Stage, totalEpochs } from "./schedule.ts";

/** Config keys that must equal the checkpoint's for an exact resume. */
export const RESUME_MUST_MATCH = [
  "batchSize",
  "seed",
  "limitTrain",
  "limitTest",
  "momentum",
  "weightDecay",
] as const;

/**
 * The flags of the {@linkcode RESUME_MUST_MATCH} keys that have one; the
 * others (momentum, weight decay) are the lab's and are named by their key.
 */
const RESUME_FLAGS: Partial<Record<typeof RESUME_MUST_MATCH[number], string>> = {
  batchSize: "--batch-size",
  seed: "--seed",
  limitTrain: "--limit-train",
  limitTest: "--limit-test",
};

/** The file name of epoch `epoch`'s checkpoint, `epoch-007.safetensors`. */
export function checkpointName(epoch: number): string {
  return `epoch-${String(epoch).padStart(3, "0")}.safetensors`;
}

/** One checkpoint file of a run folder. */
export interface CheckpointFile {
  /** The epoch in its name. */
  epoch: number;
  /** Its path. */
  path: string;
  /** Last modification, ms since the epoch (0 when unknown). */
  mtime: number;
}

/**
 * The `checkpoints/epoch-NNN.safetensors` files of run folder `out`, by
 * epoch, oldest first; `[]` when it has none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 * import { checkpointName, listCheckpoints } from "./resume.ts";
 * const out = await Deno.makeTempDir();
 * await Deno.mkdir(join(out, "checkpoints"));
 * for (const e of [10, 2]) await Deno.writeFile(join(out, "checkpoints", checkpointName(e)), new Uint8Array());
 * assert.deepEqual((await listCheckpoints(out)).map((c) => c.epoch), [2, 10]);
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function listCheckpoints(out: string): Promise<CheckpointFile[]> {
  const dir = join(out, "checkpoints");
  const found: CheckpointFile[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.name.match(/^epoch-(\d+)\.safetensors$/);
      if (!e.isFile || !m) continue;
      const path = join(dir, e.name);
      const mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
      found.push({ epoch: Number(m[1]), path, mtime });
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return [];
    throw e;
  }
  return found.sort((a, b) => a.epoch - b.epoch);
}

/**
 * The latest `checkpoints/epoch-NNN.safetensors` in run folder `out`, or
 * null when it has none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "node:path";
 * import { checkpointName, latestCheckpoint } from "./resume.ts";
 * const out = await Deno.makeTempDir();
 * assert.equal(await latestCheckpoint(out), null);
 * await Deno.mkdir(join(out, "checkpoints"));
 * for (const e of [2, 10]) await Deno.writeFile(join(out, "checkpoints", checkpointName(e)), new Uint8Array());
 * assert.equal(await latestCheckpoint(out), join(out, "checkpoints", "epoch-010.safetensors"));
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function latestCheckpoint(out: string): Promise<string | null> {
  return (await listCheckpoints(out)).at(-1)?.path ?? null;
}

/** What {@linkcode readLatestCheckpoint} found. */
export interface LatestCheckpoint {
  /** The newest checkpoint that reads. */
  path: string;
  checkpoint: Checkpoint;
  /** Newer checkpoints that did not read, newest first, each with why. */
  skipped: { path: string; reason: string }[];
}

/**
 * The newest checkpoint of run folder `out` that reads, skipping damaged
 * newer ones (a kill mid-write on a file system without atomic rename, a
 * full disk); null when the folder has no checkpoint. Throws the newest
 * one's error when none reads.
 *
 * @example
 * ```ts ignore
 * const found = await readLatestCheckpoint("runs/a");
 * for (const s of found?.skipped ?? []) console.error(`skipped ${s.path}: ${s.reason}`);
 * ```
 */
export async function readLatestCheckpoint(out: string): Promise<LatestCheckpoint | null> {
  const files = await listCheckpoints(out);
  const skipped: { path: string; reason: string }[] = [];
  let first: unknown = null;
  for (const file of files.reverse()) {
    try {
      const checkpoint = decodeCheckpoint(
        await readFileNamed(file.path, "checkpoint", { maxBytes: MAX_WEIGHTS_BYTES }),
        file.path,
      );
      return { path: file.path, checkpoint, skipped };
    } catch (e) {
      first ??= e;
      skipped.push({ path: file.path, reason: (e as Error).message.split("\n")[0] });
    }
  }
  if (first !== null) throw first;
  return null;
}

/**
 * This run's config when it resumes a checkpoint: the checkpoint's saved
 * config, with the values of the flags given again on the command line
 * (`given`, camelCase keys) on top. Nothing else is taken from the command
 * line's defaults, so `--resume auto` needs no flag repeated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resumeConfig } from "./resume.ts";
 * const saved = { schedule: "0.1:1", limitTrain: 64, seed: 0 };
 * assert.deepEqual(resumeConfig(saved, { schedule: "0.1:1,0.01:1" }), {
 *   schedule: "0.1:1,0.01:1", limitTrain: 64, seed: 0,
 * });
 * ```
 */
export function resumeConfig<T extends object>(
  saved: Readonly<Record<string, unknown>>,
  given: Partial<T>,
): T {
  const out: Record<string, unknown> = { ...saved };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) out[k] = v;
  return out as T;
}

/**
 * Throws a {@linkcode UsageError} naming the first key of
 * {@linkcode RESUME_MUST_MATCH} on which `saved` (a checkpoint's config)
 * and `wanted` (this run's) differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkResumable } from "./resume.ts";
 * const config = { batchSize: 128, seed: 0, limitTrain: null, limitTest: null, momentum: 0.9, weightDecay: 1e-4 };
 * checkResumable(config, { ...config }, "epoch-001.safetensors");
 * assert.throws(
 *   () => checkResumable(config, { ...config, seed: 1 }, "epoch-001.safetensors"),
 *   /epoch-001.safetensors was trained with --seed 0, this run asks for 1/,
 * );
 * ```
 */
export function checkResumable(
  saved: Readonly<Record<string, unknown>>,
  wanted: Readonly<Record<string, unknown>>,
  source: string,
): void {
  for (const key of RESUME_MUST_MATCH) {
    if (saved[key] !== wanted[key]) {
      const flag = RESUME_FLAGS[key];
      throw new UsageError(
        `${source} was trained with ${flag ?? key} ${JSON.stringify(saved[key]) ?? "(none)"}, ` +
          `this run asks for ${JSON.stringify(wanted[key])}: an exact resume needs the same value` +
          (flag ? ` (leave ${flag} out to keep it)` : ""),
      );
    }
  }
}

/**
 * Whether `next` runs every epoch of `old` at the same learning rate and
 * has at least as many epochs: only such a schedule may replace a run's
 * schedule on resume (what was trained stays true of the run).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedule } from "./schedule.ts";
 * import { scheduleExtends } from "./resume.ts";
 * const old = parseSchedule("0.1:5,0.01:5");
 * assert.equal(scheduleExtends(old, parseSchedule("0.1:5,0.01:10")), true);
 * assert.equal(scheduleExtends(old, parseSchedule("0.1:5,0.01:5,0.001:5")), true);
 * assert.equal(scheduleExtends(old, parseSchedule("0.1:5,0.001:5")), false);
 * assert.equal(scheduleExtends(old, parseSchedule("0.1:5,0.01:4")), false);
 * ```
 */
export function scheduleExtends(old: readonly Stage[], next: readonly Stage[]): boolean {
  const n = totalEpochs(old);
  if (totalEpochs(next) < n) return false;
  for (let e = 1; e <= n; e++) if (lrAt(old, e) !== lrAt(next, e)) return false;
  return true;
}

/**
 * Throws a {@linkcode UsageError} when schedule `next` does not extend
 * `old`, the schedule `source` was trained under.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkScheduleExtends } from "./resume.ts";
 * checkScheduleExtends("0.1:1", "0.1:1,0.01:1", "epoch-001.safetensors");
 * assert.throws(() => checkScheduleExtends("0.1:1,0.01:1", "0.05:2", "x"), /does not extend/);
 * ```
 */
export function checkScheduleExtends(old: string, next: string, source: string): void {
  if (scheduleExtends(parseSchedule(old), parseSchedule(next))) return;
  throw new UsageError(
    `--schedule ${quote(next)} does not extend the schedule ${quote(old)} of ${source}: ` +
      `a resume keeps the epochs already planned at their learning rates and may only add epochs ` +
      `(e.g. ${quote(`${old.replace(/:(\d+)$/, (_, n) => `:${Number(n) + 5}`)}`)}); ` +
      `to train differently, start a new run with --init`,
  );
}

/** Epochs a run inherited from the file it was started from, and their metrics rows. */
export interface InheritedHistory {
  /** Epochs completed before this run, numbered 1..epochs. */
  epochs: number;
  /** The schedule those epochs ran, from their learning rates. */
  stages: Stage[];
  /** One row per epoch, in order, as the file recorded them. */
  metrics: Record<string, number>[];
}

/**
 * The epochs a weights file records (a checkpoint, or `final.safetensors` /
 * `final.pth` of this toolkit): its `epoch` and one `metrics` row (JSON) per
 * epoch 1..epoch, each with a number `epoch` and `lr`. Null when the file
 * records none, or not consistently (a file from elsewhere: then a run
 * started from it counts from epoch 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inheritedHistory } from "./resume.ts";
 * const metrics = JSON.stringify([{ epoch: 1, lr: 0.1, test_acc: 0.5 }, { epoch: 2, lr: 0.1, test_acc: 0.6 }]);
 * const h = inheritedHistory({ epoch: "2", metrics })!;
 * assert.equal(h.epochs, 2);
 * assert.deepEqual(h.stages, [{ lr: 0.1, epochs: 2 }]);
 * assert.equal(inheritedHistory({ format: "pt" }), null);
 * ```
 */
export function inheritedHistory(metadata: Readonly<Record<string, string>>): InheritedHistory | null {
  const epochs = Number(metadata.epoch);
  if (!Number.isInteger(epochs) || epochs < 1 || metadata.metrics === undefined) return null;
  let rows: unknown;
  try {
    rows = JSON.parse(metadata.metrics);
  } catch {
    return null;
  }
  if (!Array.isArray(rows) || rows.length !== epochs) return null;
  const metrics: Record<string, number>[] = [];
  for (const [i, row] of rows.entries()) {
    if (typeof row !== "object" || row === null || Array.isArray(row)) return null;
    const r = row as Record<string, unknown>;
    const lr = Number(r.lr);
    if (r.epoch !== i + 1 || !(lr > 0) || !Number.isFinite(lr)) return null;
    const clean: Record<string, number> = {};
    for (const [k, v] of Object.entries(r)) if (typeof v === "number") clean[k] = v;
    metrics.push(clean);
  }
  const stages = concatStages([], metrics.map((r) => ({ lr: r.lr, epochs: 1 })));
  return { epochs, stages, metrics };
}

/**
 * `stages` after `inherited`, as one schedule text: the full schedule of a
 * run that continues a file's epochs ({@linkcode concatStages}, formatted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSchedule } from "./schedule.ts";
 * import { joinSchedules } from "./resume.ts";
 * assert.equal(joinSchedules(parseSchedule("0.1:5"), parseSchedule("0.01:5")), "0.1:5,0.01:5");
 * ```
 */
export function joinSchedules(inherited: readonly Stage[], stages: readonly Stage[]): string {
  return formatSchedule(concatStages(inherited, stages));
}

/** A run folder that `--resume auto` without `--out` could mean. */
export interface ResumeCandidate {
  /** The run folder. */
  dir: string;
  /** Its latest checkpoint's epoch. */
  epoch: number;
  /** The epochs its schedule plans (0 when run.json does not say). */
  planned: number;
  /** Whether it wrote its final weights. */
  finished: boolean;
  /** Its latest checkpoint's modification time, ms. */
  mtime: number;
}

/**
 * The run `--resume auto` without `--out` continues: among the folders under
 * `runsDir` written by `lab` that have a checkpoint, the one unfinished run;
 * when none is unfinished, the newest. Throws a {@linkcode UsageError} that
 * lists them when there is none, or several unfinished ones: it never
 * guesses between two runs, and never starts a fresh one.
 *
 * @example
 * ```ts ignore
 * const run = await findRunToResume("runs", "exp2");
 * console.error(`exp2: --resume auto continues ${run.dir} (epoch ${run.epoch} of ${run.planned})`);
 * ```
 */
export async function findRunToResume(runsDir: string, lab: string): Promise<ResumeCandidate> {
  const candidates: ResumeCandidate[] = [];
  try {
    for await (const e of Deno.readDir(runsDir)) {
      if (!e.isDirectory || e.name.startsWith(".")) continue;
      const dir = join(runsDir, e.name);
      let info: Record<string, unknown>;
      try {
        info = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
      } catch {
        continue; // not a run folder, or a damaged one: not a candidate
      }
      if (info?.lab !== lab) continue;
      const last = (await listCheckpoints(dir)).at(-1);
      if (!last) continue;
      let planned = 0;
      try {
        planned = totalEpochs(parseSchedule(String((info.config as Record<string, unknown>)?.schedule)));
      } catch {
        // Unknown plan.
      }
      let finished = false;
      try {
        finished = (await Deno.stat(join(dir, "final.safetensors"))).isFile && last.epoch >= planned;
      } catch {
        finished = false;
      }
      candidates.push({ dir, epoch: last.epoch, planned, finished, mtime: last.mtime });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  candidates.sort((a, b) => b.mtime - a.mtime);
  const describe = (c: ResumeCandidate) =>
    `${c.dir} (epoch ${c.epoch}${c.planned ? ` of ${c.planned}` : ""}${c.finished ? ", finished" : ""})`;
  const list = (cs: ResumeCandidate[]) =>
    cs.slice(0, 5).map(describe).join(", ") + (cs.length > 5 ? `, and ${cs.length - 5} more` : "");
  if (candidates.length === 0) {
    throw new UsageError(
      `--resume auto found no ${lab} run with a checkpoint under ${runsDir}/: give the run folder with --out, ` +
        `or start a new run without --resume`,
    );
  }
  const unfinished = candidates.filter((c) => !c.finished);
  if (unfinished.length > 1) {
    throw new UsageError(
      `--resume auto without --out is ambiguous: ${unfinished.length} unfinished ${lab} runs under ` +
        `${runsDir}/, newest first: ${list(unfinished)}: say which with --out DIR`,
    );
  }
  return unfinished[0] ?? candidates[0];
}

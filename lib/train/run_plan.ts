// Touches the disk: reads run folders, checkpoints and weights files (writes nothing).
/**
 * Where a Lab 2 run starts, decided before anything is written: a fresh run
 * into a new folder, a resume of a checkpoint (`--resume auto` or a file) in
 * its own folder or a new one, or a fresh run from weights that may record
 * epochs of their own (`--init`). The plan says which folder the run writes,
 * the config it runs with, the first epoch it trains and the metrics rows
 * before it; every refusal is a {@linkcode UsageError} naming the flag.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { type Checkpoint, decodeCheckpoint } from "../formats/checkpoint.ts";
import { decodeWeights, MAX_WEIGHTS_BYTES, type WeightsFile } from "../formats/weights.ts";
import { FileReadError, readFileNamed } from "../runtime/files.ts";
import { UsageError } from "../runtime/flags.ts";
import { quote } from "../runtime/quote.ts";
import {
  checkResumable,
  checkScheduleExtends,
  findRunToResume,
  inheritedHistory,
  joinSchedules,
  readLatestCheckpoint,
  resumeConfig,
} from "./resume.ts";
import { checkFreshOut, checkResumeOut, inspectOutFolder, type OutFolder } from "./run_folder_policy.ts";
import {
  concatStages,
  dropEpochs,
  firstEpochs,
  formatSchedule,
  parseSchedule,
  type Stage,
} from "./schedule.ts";

/** What defines a Lab 2 run; saved in run.json and every checkpoint. */
export type Lab2Config = {
  /** Every epoch's schedule, inherited epochs included. */
  schedule: string;
  batchSize: number;
  seed: number;
  dataDir: string;
  limitTrain: number | null;
  limitTest: number | null;
  momentum: number;
  weightDecay: number;
  backend: string;
  out: string;
  resume: string | null;
  init: string | null;
  /** Epochs the run inherited from `init` (numbered 1..inherited); 0 for none. */
  inherited: number;
};

/** What the command line asked for. */
export interface Lab2Request {
  /** The config from the flags and defaults (schedule: the `--schedule` given or the lab's). */
  config: Lab2Config;
  /** Config keys whose flags were given (`schedule`, `batchSize`, `limitTrain`...). */
  given: ReadonlySet<string>;
  /** `--out` when given. */
  out: string | null;
  /** Default `--out` of a new run. */
  newOut: string;
  /** Where `--resume auto` without `--out` looks. @default {"runs"} */
  runsDir?: string;
}

/** What {@linkcode planLab2Run} decided. */
export interface Lab2Plan {
  config: Lab2Config;
  stages: Stage[];
  /** The first epoch to train (past the last when there is nothing left). */
  start: number;
  /** `metrics.csv` rows of the epochs before `start`. */
  metrics: Record<string, number | string>[];
  /** The checkpoint resumed, with its path. */
  checkpoint: { path: string; value: Checkpoint } | null;
  /** The weights of `--init`. */
  init: WeightsFile | null;
  /** Whether the run continues a run in its own folder (keep its run.json history and steps.csv). */
  continues: boolean;
  /** Lines to print: which run `--resume auto` chose, checkpoints skipped, epochs inherited. */
  notices: string[];
}

/** The name of the column {@linkcode Lab2Plan.metrics} uses to mark inherited rows. */
const INHERITED = "inherited_from";

/**
 * Plans a Lab 2 run from its request: see the module doc.
 *
 * @example
 * ```ts ignore
 * const plan = await planLab2Run({ config, given, out: v.out ?? null, newOut: `runs/exp2-${timeStamp()}` });
 * for (const line of plan.notices) console.error(`exp2: ${line}`);
 * ```
 */
export async function planLab2Run(request: Lab2Request): Promise<Lab2Plan> {
  const { config, given } = request;
  const notices: string[] = [];
  if (config.resume === null) return await planFresh(request, notices);

  // Which checkpoint, and which folder the run writes.
  let path: string;
  let checkpoint: Checkpoint;
  let out: string;
  // Read once: nothing below writes to the run folder before the plan is made.
  let folder: OutFolder;
  if (config.resume === "auto") {
    let dir = request.out;
    if (dir === null) {
      const run = await findRunToResume(request.runsDir ?? "runs", "exp2");
      dir = run.dir;
      notices.push(
        `--resume auto continues ${dir} (the ${run.finished ? "newest" : "one unfinished"} exp2 run under ` +
          `${request.runsDir ?? "runs"}/ with a checkpoint, at epoch ${run.epoch})`,
      );
    }
    folder = await inspectOutFolder(dir);
    if (folder.kind === "missing") {
      throw new UsageError(
        `--out ${quote(dir)} does not exist: there is no run to continue with --resume auto`,
      );
    }
    if (folder.kind !== "run" || (folder.lab !== null && folder.lab !== "exp2")) {
      checkFreshOut(folder, "exp2");
    }
    const found = await readLatestCheckpoint(dir);
    if (found === null) {
      if (folder.runFile === "run.json" || folder.runFile === "steps.csv") {
        // Stopped in its first epoch: nothing was kept, start it again in place.
        notices.push(
          `${dir} has no checkpoint yet (it stopped in its first epoch): starting it again from epoch 1`,
        );
        return await planFresh({ ...request, out: dir }, notices, true);
      }
      throw new UsageError(
        `--resume auto: ${dir} has no checkpoint (no ${dir}/checkpoints/epoch-NNN.safetensors)`,
      );
    }
    for (const s of found.skipped) notices.push(`skipped the damaged ${s.path} (${s.reason})`);
    [path, checkpoint, out] = [found.path, found.checkpoint, dir];
  } else {
    path = config.resume;
    const bytes = await readFileNamed(path, "checkpoint", { maxBytes: MAX_WEIGHTS_BYTES }).catch((e) => {
      if (e instanceof FileReadError && /it is a directory/.test(e.message)) {
        throw new UsageError(
          `--resume ${quote(path)} is a folder: to continue the run in it, use --resume auto --out ${path}`,
        );
      }
      throw e;
    });
    if (bytes[0] === 0x50 && bytes[1] === 0x4b) {
      throw new UsageError(
        `--resume ${quote(path)} is a PyTorch .pth (weights only: no momentum buffers, data order or ` +
          `epoch to continue): start a run from its weights with --init ${path}`,
      );
    }
    checkpoint = decodeCheckpoint(bytes, path);
    const ownDir = basename(dirname(path)) === "checkpoints" ? dirname(dirname(path)) : null;
    const own = request.out === null && ownDir !== null ? await inspectOutFolder(ownDir) : null;
    out = request.out ?? (own?.lab === "exp2" ? own.path : request.newOut);
    folder = own?.path === out ? own : await inspectOutFolder(out);
    await checkResumeOut(folder, path, "exp2");
  }
  const continues = folder.kind === "run";

  // This run's config: the checkpoint's, with the flags given again on top.
  const saved = checkpoint.config;
  const inherited = typeof saved.inherited === "number" ? saved.inherited : 0;
  const asked = askedAgain(config, given, saved);
  const merged = resumeConfig<Lab2Config>(
    { ...config, ...saved, inherited },
    { ...asked, out, resume: config.resume },
  );
  checkResumable(saved, merged, path);
  if (asked.schedule !== undefined && typeof saved.schedule === "string") {
    checkScheduleExtends(saved.schedule, asked.schedule, path);
  }
  let stages: Stage[];
  try {
    stages = parseSchedule(merged.schedule);
  } catch (e) {
    throw new UsageError(`${path}: its schedule ${quote(String(merged.schedule))}: ${(e as Error).message}`);
  }
  merged.schedule = formatSchedule(stages);
  return {
    config: merged,
    stages,
    start: checkpoint.epoch + 1,
    metrics: checkpoint.metrics as Record<string, number | string>[],
    checkpoint: { path, value: checkpoint },
    init: null,
    continues,
    notices,
  };
}

/** The config values of the flags given on the command line (the schedule after any inherited epochs). */
function askedAgain(
  config: Lab2Config,
  given: ReadonlySet<string>,
  saved: Readonly<Record<string, unknown>>,
): Partial<Lab2Config> {
  const inherited = typeof saved.inherited === "number" ? saved.inherited : 0;
  const asked: Partial<Lab2Config> = {};
  for (const key of ["batchSize", "seed", "dataDir", "limitTrain", "limitTest", "init", "backend"] as const) {
    if (given.has(key)) (asked as Record<string, unknown>)[key] = config[key];
  }
  if (given.has("schedule")) {
    asked.schedule = inherited > 0 && typeof saved.schedule === "string"
      ? joinSchedules(firstEpochs(parseSchedule(saved.schedule), inherited), parseSchedule(config.schedule))
      : config.schedule;
  }
  return asked;
}

async function planFresh(request: Lab2Request, notices: string[], restart = false): Promise<Lab2Plan> {
  const out = request.out ?? request.newOut;
  let base: Lab2Config = request.config;
  if (restart) {
    // The stopped run's own settings, with the flags given again on top.
    let saved: Record<string, unknown> = {};
    try {
      saved = JSON.parse(await Deno.readTextFile(join(out, "run.json"))).config ?? {};
    } catch {
      // No readable run.json: the command line's settings.
    }
    base = resumeConfig<Lab2Config>({ ...request.config, ...saved, inherited: 0 }, {
      ...askedAgain(request.config, request.given, {}),
      resume: request.config.resume,
    });
    // The schedule saved is the whole one; an --init file adds its epochs again below.
    const inherited = Number(saved.inherited) || 0;
    if (inherited > 0 && !request.given.has("schedule")) {
      base.schedule = formatSchedule(dropEpochs(parseSchedule(String(saved.schedule)), inherited));
    }
  } else {
    checkFreshOut(await inspectOutFolder(out), "exp2");
  }
  const config: Lab2Config = { ...base, out, inherited: 0 };
  let stages = parseSchedule(config.schedule);
  let metrics: Record<string, number | string>[] = [];
  let init: WeightsFile | null = null;
  if (config.init !== null) {
    init = decodeWeights(
      await readFileNamed(config.init, "weights", { maxBytes: MAX_WEIGHTS_BYTES }),
      config.init,
    );
    const history = inheritedHistory(init.metadata);
    if (history) {
      stages = concatStages(history.stages, stages);
      config.inherited = history.epochs;
      metrics = history.metrics.map((row) => ({ ...row, [INHERITED]: basename(config.init!) }));
      notices.push(
        `${config.init} records ${history.epochs} epochs (${formatSchedule(history.stages)}): this run ` +
          `continues with epoch ${history.epochs + 1} and carries them into metrics.csv, marked inherited`,
      );
    }
  }
  config.schedule = formatSchedule(stages);
  return {
    config,
    stages,
    start: config.inherited + 1,
    metrics,
    checkpoint: null,
    init,
    continues: restart,
    notices,
  };
}

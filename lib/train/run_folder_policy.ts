// Touches the disk: looks at what a run folder holds before a lab writes into it.
/**
 * Where a lab may write: nothing a run wrote is ever overwritten by another
 * run. A fresh run (`exp1`, `exp2` without `--resume`) writes only into a new
 * or empty folder; a resumed run writes only into its own folder, from that
 * folder's latest checkpoint, or into a new one. Both labs follow the same
 * rule, whichever lab wrote the folder.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { UsageError } from "../runtime/flags.ts";
import { quote } from "../runtime/quote.ts";
import { listCheckpoints } from "./resume.ts";

/** Files that make a folder a run folder, most telling first (named in messages). */
export const RUN_FILES: readonly string[] = [
  "metrics.csv",
  "summary.csv",
  "final.safetensors",
  "final.pth",
  "model.pth",
  "per_class.csv",
  "confusion.csv",
  "checkpoints",
  "fit.csv",
  "steps.csv",
  "run.json",
];

/** What {@linkcode inspectOutFolder} found at a path. */
export interface OutFolder {
  /** The path as given. */
  path: string;
  /** `missing`, `empty`, a `run` folder, a folder of `other` files, or a `file`. */
  kind: "missing" | "empty" | "run" | "other" | "file";
  /** The lab of its `run.json` (`exp1`, `exp2`), when it has a readable one. */
  lab: string | null;
  /** The most telling run file in it, e.g. `metrics.csv`. */
  runFile: string | null;
  /** Some other entry, for a folder of other files. */
  other: string | null;
}

/**
 * Looks at `path` as a lab's `--out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inspectOutFolder } from "./run_folder_policy.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal((await inspectOutFolder(`${dir}/new`)).kind, "missing");
 * assert.equal((await inspectOutFolder(dir)).kind, "empty");
 * await Deno.writeTextFile(`${dir}/run.json`, '{"lab": "exp1"}');
 * await Deno.writeTextFile(`${dir}/summary.csv`, "run\n");
 * const f = await inspectOutFolder(dir);
 * assert.deepEqual([f.kind, f.lab, f.runFile], ["run", "exp1", "summary.csv"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function inspectOutFolder(path: string): Promise<OutFolder> {
  const folder: OutFolder = { path, kind: "missing", lab: null, runFile: null, other: null };
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return folder;
    throw e;
  }
  if (!stat.isDirectory) return { ...folder, kind: "file" };
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  // Temporary files of an interrupted write are not content.
  const content = names.filter((n) => !/\.tmp-\d+-[0-9a-f]{8}$/.test(n));
  if (content.length === 0) return { ...folder, kind: "empty" };
  const runFile = RUN_FILES.find((f) => content.includes(f)) ?? null;
  if (runFile === null) return { ...folder, kind: "other", other: content.sort()[0] };
  let lab: string | null = null;
  try {
    const info = JSON.parse(await Deno.readTextFile(join(path, "run.json")));
    if (typeof info?.lab === "string") lab = info.lab;
  } catch {
    // No readable run.json.
  }
  return { ...folder, kind: "run", lab, runFile };
}

/**
 * Throws a {@linkcode UsageError} unless a fresh run of `lab` may write into
 * `folder`: a new or empty folder only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFreshOut } from "./run_folder_policy.ts";
 * const run = { path: "runs/a", kind: "run" as const, lab: "exp2", runFile: "metrics.csv", other: null };
 * assert.throws(() => checkFreshOut(run, "exp2"), {
 *   message: '--out "runs/a" already holds a run (metrics.csv): continue it with --resume auto, or choose another --out',
 * });
 * checkFreshOut({ ...run, kind: "missing", lab: null, runFile: null }, "exp2"); // a new folder: fine
 * ```
 */
export function checkFreshOut(folder: OutFolder, lab: string): void {
  const out = `--out ${quote(folder.path)}`;
  switch (folder.kind) {
    case "missing":
    case "empty":
      return;
    case "file":
      throw new UsageError(`${out} is a file: give a new or empty folder for the run`);
    case "other":
      throw new UsageError(
        `${out} holds other files (${quote(folder.other ?? "")}): give a new or empty folder for the run`,
      );
    case "run": {
      const whose = folder.lab === null || folder.lab === lab ? "a run" : `an ${folder.lab} run`;
      const hint = lab === "exp2" && folder.lab === "exp2"
        ? "continue it with --resume auto, or choose another --out"
        : "choose another --out";
      throw new UsageError(`${out} already holds ${whose} (${folder.runFile}): ${hint}`);
    }
  }
}

/**
 * Throws a {@linkcode UsageError} unless a run resumed from `checkpoint`
 * (a file) may write into `folder`: a new or empty folder (a new run
 * branching from the checkpoint), or the checkpoint's own run folder when it
 * is that folder's latest checkpoint (continuing from an older one would
 * replace the epochs after it).
 *
 * @example
 * ```ts ignore
 * await checkResumeOut(await inspectOutFolder("runs/b"), "runs/a/checkpoints/epoch-003.safetensors", "exp2");
 * ```
 */
export async function checkResumeOut(folder: OutFolder, checkpoint: string, lab: string): Promise<void> {
  if (folder.kind === "missing" || folder.kind === "empty") return;
  const own = await sameFolder(folder.path, dirname(dirname(checkpoint))) &&
    basename(dirname(checkpoint)) === "checkpoints";
  if (folder.kind !== "run" || !own) {
    if (folder.kind === "run") {
      throw new UsageError(
        `--out ${quote(folder.path)} already holds another run (${folder.runFile}) than --resume ` +
          `${
            quote(checkpoint)
          }'s: give a new --out to continue that checkpoint there, or use --resume auto ` +
          `--out ${folder.path} to continue the run in it`,
      );
    }
    checkFreshOut(folder, lab);
  }
  if (folder.lab !== null && folder.lab !== lab) checkFreshOut(folder, lab);
  const latest = (await listCheckpoints(folder.path)).at(-1);
  if (latest && !(await sameFolder(latest.path, checkpoint))) {
    throw new UsageError(
      `--resume ${quote(checkpoint)} is not the latest checkpoint of ${folder.path} ` +
        `(${basename(latest.path)} is): continuing from it would replace the epochs after it; ` +
        `give a new --out to branch from it`,
    );
  }
}

/** Whether two paths name the same file or folder (after links), or the same path when absent. */
export async function sameFolder(a: string, b: string): Promise<boolean> {
  const real = async (p: string) => {
    try {
      return await Deno.realPath(p);
    } catch {
      return resolve(p);
    }
  };
  return (await real(a)) === (await real(b));
}

// Touches the disk (reads only): the files of a run folder, for `deno task watch`.
/**
 * Reading a run folder for the watch server without ever leaving it: every
 * path is resolved through its symbolic links and must land inside the
 * folder's own real path, so `..`, absolute paths and links pointing out are
 * refused the same way as a name that does not exist. Nothing here writes.
 *
 * @module
 */
import { join, sep } from "node:path";
import type { RunSnapshot } from "./run_state.ts";

/** Raised for a run folder that cannot be watched; the message names it. */
export class RunFilesError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RunFilesError";
  }
}

/** Largest file the watch server reads or serves: far above any run's CSV. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/**
 * The real path of the folder `dir` (links resolved), which every later read
 * is confined to.
 *
 * @example
 * ```ts ignore
 * const root = await realFolder("runs/exp2-20250101-120000");
 * ```
 */
export async function realFolder(dir: string): Promise<string> {
  let real: string;
  try {
    real = await Deno.realPath(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new RunFilesError(
        `Run folder "${dir}" does not exist: expected a folder written by deno task exp1 or exp2`,
      );
    }
    throw e;
  }
  if (!(await Deno.stat(real)).isDirectory) {
    throw new RunFilesError(
      `"${dir}" is not a folder: expected a run folder written by deno task exp1 or exp2`,
    );
  }
  return real;
}

/**
 * The real path of the regular file at `segments` under `root` (a
 * {@linkcode realFolder}), or null when there is none inside it: a segment
 * that is empty, `.`, `..`, hidden or holds a separator or NUL, a missing
 * file, a folder, or a path whose links lead out of `root`.
 *
 * @example
 * ```ts ignore
 * await fileInside(root, ["metrics.csv"]);      // "/abs/runs/a/metrics.csv"
 * await fileInside(root, ["..", "secret.txt"]); // null
 * ```
 */
export async function fileInside(root: string, segments: readonly string[]): Promise<string | null> {
  if (segments.length === 0) return null;
  for (const s of segments) {
    if (s === "" || s.startsWith(".") || /[/\\\0]/.test(s)) return null;
  }
  let real: string;
  try {
    real = await Deno.realPath(join(root, ...segments));
  } catch {
    return null;
  }
  if (!real.startsWith(root + sep)) return null;
  try {
    return (await Deno.stat(real)).isFile ? real : null;
  } catch {
    return null;
  }
}

/** A folder's top-level entries with their times and sizes; `key` changes whenever any of them does. */
export interface FolderListing {
  names: string[];
  /** Modification time of each entry, ms since 1970 (of the link itself for a link). */
  mtimes: Record<string, number>;
  /** Size of each entry in bytes. */
  sizes: Record<string, number>;
  /** Changes when an entry appears, goes, or changes size or time. */
  key: string;
}

/**
 * The top-level entries of `root`, cheap enough to poll every second.
 *
 * @example
 * ```ts ignore
 * const before = await listFolder(root);
 * // ... later
 * if ((await listFolder(root)).key !== before.key) console.log("changed");
 * ```
 */
export async function listFolder(root: string): Promise<FolderListing> {
  const names: string[] = [];
  for await (const e of Deno.readDir(root)) names.push(e.name);
  names.sort();
  const mtimes: Record<string, number> = {};
  const sizes: Record<string, number> = {};
  const parts: string[] = [];
  for (const name of names) {
    try {
      const info = await Deno.lstat(join(root, name));
      mtimes[name] = info.mtime?.getTime() ?? 0;
      sizes[name] = info.size;
      parts.push(`${name}\0${info.size}\0${mtimes[name]}`);
    } catch {
      // Gone between the listing and the stat (an atomic rename): the next poll sees it.
      parts.push(`${name}\0gone`);
    }
  }
  return { names, mtimes, sizes, key: parts.join("\n") };
}

/**
 * What {@linkcode runState} needs of `root`: its listing and the texts of
 * `run.json` and every top-level `.csv` file. Files that link out of the
 * folder or are too big are not read; `problems` says which. Texts of
 * files whose size and time are the same as in `previous` are reused.
 *
 * @example
 * ```ts ignore
 * const snap = await readSnapshot(root, await listFolder(root));
 * console.log(Object.keys(snap.texts));
 * ```
 */
export async function readSnapshot(
  root: string,
  listing: FolderListing,
  previous?: { listing: FolderListing; snapshot: RunSnapshot },
): Promise<RunSnapshot> {
  const texts: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of listing.names) {
    if (name !== "run.json" && !(name.endsWith(".csv") && !name.startsWith("."))) continue;
    const old = previous?.snapshot.texts[name];
    if (
      old !== undefined && previous!.listing.sizes[name] === listing.sizes[name] &&
      previous!.listing.mtimes[name] === listing.mtimes[name]
    ) {
      texts[name] = old;
      continue;
    }
    const path = await fileInside(root, [name]);
    if (path === null) {
      problems.push(`${name} is not a file inside the run folder (a link out of it?): not read`);
      continue;
    }
    try {
      const size = (await Deno.stat(path)).size;
      if (size > MAX_FILE_BYTES) {
        problems.push(`${name} is ${size} bytes, more than the ${MAX_FILE_BYTES} read: not read`);
        continue;
      }
      texts[name] = new TextDecoder().decode(await Deno.readFile(path));
    } catch (e) {
      // Replaced or removed since the listing: the next poll reads it again.
      if (!(e instanceof Deno.errors.NotFound)) {
        problems.push(`${name}: cannot read it (${(e as Error).message})`);
      }
    }
  }
  return { names: listing.names, texts, mtimes: listing.mtimes, problems };
}

/**
 * The run folder under `parent` whose `run.json` changed last (the newest run
 * started or resumed), or null when there is none.
 *
 * @example
 * ```ts ignore
 * const dir = await newestRun("runs"); // "runs/exp2-20250101-120000"
 * ```
 */
export async function newestRun(parent: string): Promise<string | null> {
  let best: [number, string] | null = null;
  try {
    for await (const e of Deno.readDir(parent)) {
      if (!e.isDirectory || e.name.startsWith(".")) continue;
      try {
        const t = (await Deno.stat(join(parent, e.name, "run.json"))).mtime?.getTime() ?? 0;
        if (!best || t > best[0]) best = [t, join(parent, e.name)];
      } catch {
        // No run.json: not a run folder.
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return best?.[1] ?? null;
}

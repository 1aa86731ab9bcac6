/**
 * File output that never leaves a half-written result (touches the disk):
 * write to a temporary file in the same folder, flush it to disk, then rename
 * over the target, which is atomic on POSIX file systems. A kill at any moment
 * leaves either the old file or the new one.
 *
 * @module
 */
import { dirname } from "node:path";

/**
 * Writes `data` to `path` atomically, creating the folder if needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/runs/a/metrics.csv`, "epoch,loss\n"); // creates runs/a
 * assert.equal(await Deno.readTextFile(`${dir}/runs/a/metrics.csv`), "epoch,loss\n");
 * const names = [...Deno.readDirSync(`${dir}/runs/a`)].map((e) => e.name);
 * assert.deepEqual(names, ["metrics.csv"]); // no temporary file left behind
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Writes `value` as pretty JSON, atomically.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeJsonAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeJsonAtomic(`${dir}/run.json`, { lab: "exp2", config: { seed: 0 } });
 * const text = await Deno.readTextFile(`${dir}/run.json`);
 * assert.equal(text, '{\n  "lab": "exp2",\n  "config": {\n    "seed": 0\n  }\n}\n');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Reads a file with an error that names it when it is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileNamed } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await assert.rejects(readFileNamed(`${dir}/final.safetensors`, "weights file"), {
 *   name: "NotFound",
 *   message: `Cannot read weights file "${dir}/final.safetensors": no such file`,
 * });
 * await Deno.remove(dir);
 * ```
 */
export async function readFileNamed(path: string, what = "file"): Promise<Uint8Array> {
  try {
    // A folder or a FIFO would fail late or block forever: refuse it by its kind first.
    const stat = await Deno.stat(path);
    if (stat.isDirectory) {
      throw new FileKindError(`Cannot read ${what} "${path}": it is a folder, not a file`);
    }
    if (!stat.isFile) throw new FileKindError(`Cannot read ${what} "${path}": it is not a regular file`);
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot read ${what} "${path}": no such file`);
    }
    throw e;
  }
}

/**
 * Raised when a path names a folder, FIFO or device where a regular file is
 * expected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileKindError, readFileNamed } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await assert.rejects(readFileNamed(dir, "weights"), FileKindError);
 * await Deno.remove(dir);
 * ```
 */
export class FileKindError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "FileKindError";
  }
}

/**
 * Whether `a` and `b` are the same file (after links): an output that is one
 * of a task's inputs would destroy it. False when either does not exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sameFile } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/w.safetensors`, "x");
 * assert.equal(await sameFile(`${dir}/w.safetensors`, `${dir}/./w.safetensors`), true);
 * assert.equal(await sameFile(`${dir}/w.safetensors`, `${dir}/out.csv`), false);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    return (await Deno.realPath(a)) === (await Deno.realPath(b));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Age after which a temporary file of {@linkcode writeFileAtomic} is taken as left by a kill. */
export const STALE_TEMP_MS = 60_000;

/**
 * Removes the temporary files {@linkcode writeFileAtomic} leaves in `dir`
 * when its process is killed mid-write (`NAME.tmp-PID-XXXXXXXX`) and that
 * are older than {@linkcode STALE_TEMP_MS} (a write in progress takes
 * seconds at most), except this process's. Returns the names removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeStaleTemps } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/metrics.csv.tmp-999999999-0a1b2c3d`, "half");
 * await Deno.utime(`${dir}/metrics.csv.tmp-999999999-0a1b2c3d`, 0, 0); // from a kill long ago
 * await Deno.writeTextFile(`${dir}/metrics.csv`, "whole");
 * assert.deepEqual(await removeStaleTemps(dir), ["metrics.csv.tmp-999999999-0a1b2c3d"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return removed;
    throw e;
  }
  for (const e of entries) {
    const m = e.name.match(/\.tmp-(\d+)-[0-9a-f]{8}$/);
    if (!e.isFile || !m) continue;
    if (Number(m[1]) === Deno.pid) continue;
    const path = `${dir}/${e.name}`;
    // A live write finishes within seconds (and renames its file away); an older one was cut short.
    const mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
    if (Date.now() - mtime < STALE_TEMP_MS) continue;
    await Deno.remove(path).catch(() => {});
    removed.push(e.name);
  }
  return removed;
}

/**
 * Whether `path` exists (any kind of file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exists } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(await exists(dir), true);
 * assert.equal(await exists(`${dir}/metrics.csv`), false);
 * await Deno.remove(dir);
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

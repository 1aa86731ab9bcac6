/**
 * File output that never leaves a half-written result (touches the disk):
 * write to a temporary file in the same folder, flush it to disk, then rename
 * over the target, which is atomic on POSIX file systems. A kill at any moment
 * leaves either the old file or the new one. File input that is bounded:
 * only regular files, never more bytes than the reader's limit.
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

/** The most {@linkcode readFileNamed} reads unless told otherwise: 1 GiB. */
export const DEFAULT_MAX_READ_BYTES = 2 ** 30;

/**
 * Raised by {@linkcode readFileNamed} for a path that is not a regular file
 * (a folder, a FIFO, a device, a socket) or one larger than its limit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FileReadError, readFileNamed } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await assert.rejects(readFileNamed(dir, "weights"), FileReadError);
 * await Deno.remove(dir);
 * ```
 */
export class FileReadError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "FileReadError";
  }
}

/** Options for {@linkcode readFileNamed}. */
export interface ReadFileOptions {
  /** Largest file accepted, in bytes; a larger one is refused before any of it is read. @default DEFAULT_MAX_READ_BYTES */
  maxBytes?: number;
}

function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * Reads a regular file of at most `maxBytes` bytes, with errors that name
 * it: missing, not a regular file (a directory, FIFO or device is refused
 * from its `stat`, never opened, so a FIFO cannot block the read), or too
 * large (refused from its size, before reading).
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
 * await Deno.writeFile(`${dir}/w.bin`, new Uint8Array(10));
 * assert.equal((await readFileNamed(`${dir}/w.bin`, "weights", { maxBytes: 10 })).length, 10);
 * await assert.rejects(readFileNamed(`${dir}/w.bin`, "weights", { maxBytes: 9 }), {
 *   name: "FileReadError",
 *   message: `Cannot read weights "${dir}/w.bin": its 10 bytes exceed the 9-byte limit for weights`,
 * });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readFileNamed(
  path: string,
  what = "file",
  options: ReadFileOptions = {},
): Promise<Uint8Array> {
  const { maxBytes = DEFAULT_MAX_READ_BYTES } = options;
  const fail = (why: string): never => {
    throw new FileReadError(`Cannot read ${what} "${path}": ${why}`);
  };
  const check = (info: Deno.FileInfo) => {
    if (!info.isFile) fail(`it is ${kindOf(info)}, not a regular file`);
    if (info.size > maxBytes) fail(`its ${info.size} bytes exceed the ${maxBytes}-byte limit for ${what}`);
  };
  let file: Deno.FsFile;
  try {
    // Checked before opening: opening a FIFO would block until a writer comes.
    check(await Deno.stat(path));
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot read ${what} "${path}": no such file`);
    }
    throw e;
  }
  try {
    // Again on the open file, in case the path was swapped after the stat.
    const info = await file.stat();
    check(info);
    const bytes = new Uint8Array(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const n = await file.read(bytes.subarray(filled));
      if (n === null) return bytes.subarray(0, filled);
      filled += n;
    }
    if ((await file.read(new Uint8Array(1))) !== null) fail(`it grew while being read`);
    return bytes;
  } finally {
    file.close();
  }
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

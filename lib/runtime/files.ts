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
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot read ${what} "${path}": no such file`);
    }
    throw e;
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

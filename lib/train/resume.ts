// Touches the disk: lists a run folder's checkpoints.
/**
 * Lab 2's resume policy: which checkpoint a run continues from, and whether
 * a checkpoint can continue this run exactly (the same batch size, seed,
 * data subset and optimizer settings; the schedule may grow).
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../runtime/flags.ts";

/** Config keys that must equal the checkpoint's for an exact resume. */
export const RESUME_MUST_MATCH = [
  "batchSize",
  "seed",
  "limitTrain",
  "limitTest",
  "momentum",
  "weightDecay",
] as const;

/** The file name of epoch `epoch`'s checkpoint, `epoch-007.safetensors`. */
export function checkpointName(epoch: number): string {
  return `epoch-${String(epoch).padStart(3, "0")}.safetensors`;
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
  const dir = join(out, "checkpoints");
  let best: [number, string] | null = null;
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = e.name.match(/^epoch-(\d+)\.safetensors$/);
      if (e.isFile && m && (!best || Number(m[1]) > best[0])) best = [Number(m[1]), join(dir, e.name)];
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  return best?.[1] ?? null;
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
 *   /epoch-001.safetensors was trained with seed 0, this run asks for 1/,
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
      throw new UsageError(
        `${source} was trained with ${key} ${JSON.stringify(saved[key]) ?? "(none)"}, ` +
          `this run asks for ${JSON.stringify(wanted[key])}: an exact resume needs the same value`,
      );
    }
  }
}

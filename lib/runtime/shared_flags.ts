/**
 * The flags several tasks share, written once: `--backend`, `--seed`,
 * `--out` and `--batch-size`. Each task puts them in its own table, with its
 * own default where the labs differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineFlags } from "./flags.ts";
 * import { backendFlag, seedFlag } from "./shared_flags.ts";
 * const cli = defineFlags("deno task x", { backend: backendFlag(), seed: seedFlag(0) });
 * assert.deepEqual(cli.parse(["--backend", "cpu"]).values, { backend: "cpu", seed: 0, help: false });
 * ```
 *
 * @module
 */
import { type BackendChoice, BACKENDS } from "./backend.ts";
import { flag } from "./flags.ts";

/** `--backend auto|webgpu|native|wasm|cpu`, by default `auto`. */
export function backendFlag(
  help = "what to run on; auto picks the fastest available",
  backend: BackendChoice = "auto",
) {
  return flag.choice(help, BACKENDS, { default: backend });
}

/** `--seed N`: one seed fixes a run. */
export function seedFlag(seed: number, help = "seeds the initial weights, the data order and augmentation") {
  return flag.int(help, { default: seed, min: 0, max: 2 ** 31 - 1 });
}

/** `--batch-size N` with the lab's default and largest value. */
export function batchSizeFlag(batchSize: number, max: number, help = "examples per optimisation step") {
  return flag.int(help, { default: batchSize, min: 1, max });
}

/** `--out DIR`: the run folder; `defaultText` says what it is when absent. */
export function outFlag(defaultText: string, help = "run folder (a new or empty one)") {
  return flag.path(help, { placeholder: "DIR", defaultText });
}

/** A folder name from the current time, `YYYYMMDD-HHMMSS` (UTC), for default run folders. */
export function timeStamp(date: Date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

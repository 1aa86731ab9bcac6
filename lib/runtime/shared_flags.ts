/**
 * The flags several tasks share, written once: `--backend`, `--seed`,
 * `--out`, `--batch-size`, and the labs' `--watch`, `--port` and `--stay`.
 * Each task puts them in its own table, with its own default where the labs
 * differ.
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
import { flag, UsageError } from "./flags.ts";

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

/**
 * `--watch`, `--port N` and `--stay`, for a lab that trains: spread them into
 * its table and resolve them with {@linkcode watchRequest}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineFlags } from "./flags.ts";
 * import { watchFlags, watchRequest } from "./shared_flags.ts";
 * const cli = defineFlags("deno task x", { ...watchFlags() });
 * assert.deepEqual(watchRequest(cli.parse(["--watch", "--port", "8080"]).values), { port: 8080, stay: false });
 * assert.equal(watchRequest(cli.parse([]).values), null);
 * ```
 */
export function watchFlags() {
  return {
    watch: flag.boolean("serve a live page of the run on 127.0.0.1 while it trains"),
    port: flag.int("port of --watch's page", { min: 1, max: 65535, defaultText: "a free one" }),
    stay: flag.boolean("keep serving --watch's page after the run ends, until Ctrl-C"),
  };
}

/** `--watch`: serve the live page on `port` (0: a free one), and keep it up after the run when `stay`. */
export interface WatchRequest {
  port: number;
  stay: boolean;
}

/**
 * What {@linkcode watchFlags} ask for, or null without `--watch`; throws a
 * `UsageError` for `--stay` or `--port` without `--watch`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { watchRequest } from "./shared_flags.ts";
 * assert.deepEqual(watchRequest({ watch: true, stay: true }), { port: 0, stay: true });
 * assert.throws(() => watchRequest({ watch: false, stay: true }), /--stay needs --watch/);
 * ```
 */
export function watchRequest(values: { watch: boolean; port?: number; stay: boolean }): WatchRequest | null {
  if (values.stay && !values.watch) throw new UsageError(`--stay needs --watch (it keeps the live page up)`);
  if (values.port !== undefined && !values.watch) {
    throw new UsageError(`--port needs --watch (the live page's port)`);
  }
  return values.watch ? { port: values.port ?? 0, stay: values.stay } : null;
}

/** A folder name from the current time, `YYYYMMDD-HHMMSS` (UTC), for default run folders. */
export function timeStamp(date: Date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

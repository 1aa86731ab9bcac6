/**
 * What a run records about itself so a result can be traced and repeated:
 * the resolved config, backend, device, versions, command line and time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import denoJson from "../../deno.json" with { type: "json" };
import type { BackendInfo } from "./backend.ts";
import { readEnv, shellQuote } from "./env.ts";

/** The `run.json` written into every run folder. */
export interface RunInfo {
  lab: string;
  started: string;
  command: string;
  config: unknown;
  backend: string;
  device: string;
  backendReason: string;
  /** What `--backend auto` measured on each candidate (per second), when it measured. */
  backendProbe?: Record<string, number>;
  versions: Record<string, string>;
  /**
   * Environment variables that change how a run executes (speed, not
   * results) when set: `GLIBC_TUNABLES` (set by the tasks), `OMP_NUM_THREADS`
   * (oneDNN's threads), `WEBGPU_SUBMIT_BATCH`.
   */
  environment: Record<string, string>;
}

/** This toolkit's version, from `deno.json`. */
export const TOOLKIT_VERSION: string = denoJson.version;

/** Variables recorded in {@linkcode RunInfo.environment}. */
const RECORDED_ENV = ["GLIBC_TUNABLES", "OMP_NUM_THREADS", "WEBGPU_SUBMIT_BATCH"];

/**
 * Describes a run started now.
 *
 * @example
 * ```ts ignore
 * const info = runInfo("exp1", config, await selectBackend("auto"));
 * ```
 */
export function runInfo(lab: string, config: unknown, backend: BackendInfo): RunInfo {
  return {
    lab,
    started: new Date().toISOString(),
    command: ["deno", "task", lab, ...Deno.args.map(shellQuote)].join(" "),
    config,
    backend: backend.backend,
    device: backend.device,
    backendReason: backend.reason,
    ...(backend.probe ? { backendProbe: backend.probe } : {}),
    versions: {
      toolkit: TOOLKIT_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      tfjs: tf.version_core,
      os: `${Deno.build.os}-${Deno.build.arch}`,
    },
    environment: Object.fromEntries(
      RECORDED_ENV.flatMap((name) => {
        const value = readEnv(name);
        return value === undefined ? [] : [[name, value]];
      }),
    ),
  };
}

/** One session of a run: a start or a resume. */
export interface RunSession {
  started: string;
  command: string;
  /** The first epoch the session trained. */
  startEpoch: number;
}

/**
 * `info` for a run that continues in its folder: `command` stays the one
 * that started the run, and `sessions` lists every start and resume (the
 * folder's previous `run.json`, `previous`, supplies the earlier ones), so
 * no resume loses how the run began.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { continuedRunInfo } from "./run_info.ts";
 * const first = { started: "2026-01-01T00:00:00Z", command: "deno task exp2 --out runs/a", startEpoch: 1 };
 * const next = { started: "2026-01-02T00:00:00Z", command: "deno task exp2 --resume auto --out runs/a" };
 * const info = continuedRunInfo(first, { ...next, startEpoch: 4 });
 * assert.equal(info.command, first.command);
 * assert.deepEqual(info.sessions.map((s) => s.startEpoch), [1, 4]);
 * ```
 */
export function continuedRunInfo<T extends { started: string; command: string; startEpoch: number }>(
  previous: unknown,
  info: T,
): T & { sessions: RunSession[] } {
  const prev = typeof previous === "object" && previous !== null ? previous as Record<string, unknown> : {};
  const earlier: RunSession[] = Array.isArray(prev.sessions)
    ? prev.sessions.filter((s): s is RunSession =>
      typeof s?.started === "string" && typeof s?.command === "string"
    )
    : typeof prev.started === "string" && typeof prev.command === "string"
    ? [{
      started: prev.started,
      command: prev.command,
      startEpoch: typeof prev.startEpoch === "number" ? prev.startEpoch : 1,
    }]
    : [];
  return {
    ...info,
    command: earlier[0]?.command ?? info.command,
    sessions: [...earlier, { started: info.started, command: info.command, startEpoch: info.startEpoch }],
  };
}

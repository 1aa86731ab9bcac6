/**
 * What a run records about itself so a result can be traced and repeated:
 * the resolved config, backend, device, versions, command line and time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import denoJson from "../../deno.json" with { type: "json" };
import type { BackendInfo } from "./backend.ts";
import { readEnv } from "./env.ts";

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
    command: ["deno", "task", lab, ...Deno.args].join(" "),
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

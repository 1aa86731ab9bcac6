/**
 * Environment variables read without ever prompting: a task that was not
 * granted `--allow-env` for a variable sees it as unset.
 *
 * @module
 */

/**
 * `Deno.env.get(name)` when the permission is granted, else undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEnv } from "./env.ts";
 * assert.equal(readEnv("TFJS_LAB_NOT_SET_ANYWHERE"), undefined);
 * ```
 */
export function readEnv(name: string): string | undefined {
  const granted = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  return granted ? Deno.env.get(name) : undefined;
}

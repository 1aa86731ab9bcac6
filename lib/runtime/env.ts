/**
 * Environment variables read without ever prompting: a task that was not
 * granted `--allow-env` for a variable sees it as unset; and paths the user
 * typed, resolved against the folder the task was started from.
 *
 * @module
 */
import { isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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

/** The project root: where `deno task` runs the tasks (the folder of deno.json). */
const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url)).replace(/[\\/]$/, "");

/**
 * `INIT_CWD` when this process is a task that `deno task` started: it runs
 * in the project root. A process started elsewhere (by a test, a script)
 * may have inherited a stale `INIT_CWD` and ignores it.
 */
function taskInitCwd(): string | undefined {
  if (!import.meta.url.startsWith("file:")) return undefined;
  try {
    return Deno.cwd() === PROJECT_ROOT ? readEnv("INIT_CWD") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A path the user typed, resolved against the folder they ran the task from:
 * `deno task` runs every task in the project root and exports the user's
 * folder as `INIT_CWD`. Absolute paths and paths given when `INIT_CWD` is
 * unset (or the project root) come back as given; others come back relative
 * to the project root when inside it, else absolute.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userPath } from "./env.ts";
 * assert.equal(userPath("/data/cifar"), "/data/cifar");
 * // From `cd labs && deno task exp1 --out myrun`: INIT_CWD is <root>/labs.
 * assert.equal(userPath("myrun", { initCwd: `${Deno.cwd()}/labs` }), "labs/myrun");
 * assert.equal(userPath("../x", { initCwd: "/elsewhere/dir" }), "/elsewhere/x");
 * ```
 */
export function userPath(path: string, options: { initCwd?: string } = {}): string {
  const initCwd = options.initCwd ?? taskInitCwd();
  if (!initCwd || isAbsolute(path) || resolve(initCwd) === Deno.cwd()) return path;
  const full = resolve(initCwd, path);
  const rel = relative(Deno.cwd(), full);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? full : rel;
}

/**
 * The inverse of {@linkcode userPath}: `path` (relative to the project root,
 * where tasks run) as the user would type it from the folder they started
 * the task in, for commands a lab prints ("continue with ...").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { displayPath } from "./env.ts";
 * assert.equal(displayPath("runs/a", { initCwd: Deno.cwd() }), "runs/a");
 * assert.equal(displayPath("labs/myrun", { initCwd: `${Deno.cwd()}/labs` }), "myrun");
 * assert.equal(displayPath("runs/a", { initCwd: `${Deno.cwd()}/labs` }), "../runs/a");
 * ```
 */
export function displayPath(path: string, options: { initCwd?: string } = {}): string {
  const initCwd = options.initCwd ?? taskInitCwd();
  if (!initCwd || isAbsolute(path) || resolve(initCwd) === Deno.cwd()) return path;
  const rel = relative(resolve(initCwd), resolve(path));
  return rel === "" ? "." : rel;
}

/**
 * `text` quoted for a POSIX shell when it holds anything but plain path
 * characters, so that a printed command can be pasted back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shellQuote } from "./env.ts";
 * assert.equal(shellQuote("runs/a-1"), "runs/a-1");
 * assert.equal(shellQuote("my runs/it's"), `'my runs/it'\\''s'`);
 * ```
 */
export function shellQuote(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

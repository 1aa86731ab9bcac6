/**
 * Command-line plumbing shared by the labs: typed flag values with errors
 * that name the flag and the offending value, and a `main` wrapper that turns
 * any error into one clear line on stderr and a non-zero exit.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** A bad command line: the message names the flag and value. Exit code 2. */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options for {@linkcode numberFlag}. */
export interface NumberFlagOptions {
  /** Smallest allowed value. @default {-Infinity} */
  min?: number;
  /** Largest allowed value. @default {Infinity} */
  max?: number;
  /** Whole numbers only. @default {false} */
  integer?: boolean;
  /** Exclude `min` itself. @default {false} */
  exclusiveMin?: boolean;
}

/**
 * Parses `--name VALUE` as a number within bounds.
 *
 * @example
 * ```ts
 * import { numberFlag } from "./flags.ts";
 * console.assert(numberFlag("epochs", "100", { integer: true, min: 1 }) === 100);
 * ```
 */
export function numberFlag(name: string, value: string, options: NumberFlagOptions = {}): number {
  const v = value.trim() === "" ? NaN : Number(value);
  const { min = -Infinity, max = Infinity, integer = false, exclusiveMin = false } = options;
  const kind = integer ? "an integer" : "a number";
  const range = [
    min > -Infinity ? `${exclusiveMin ? "above" : "at least"} ${min}` : "",
    max < Infinity ? `at most ${max}` : "",
  ].filter(Boolean).join(" and ");
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name} must be ${kind}, got "${value}"`);
  }
  if (v < min || (exclusiveMin && v === min) || v > max) {
    throw new UsageError(`--${name} must be ${kind} ${range}, got "${value}"`);
  }
  return v;
}

/**
 * Parses `--name VALUE` as one of `choices`.
 *
 * @example
 * ```ts
 * import { choiceFlag } from "./flags.ts";
 * console.assert(choiceFlag("optimizer", "sgd", ["adam", "sgd"] as const) === "sgd");
 * ```
 */
export function choiceFlag<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${value}"`);
  }
  return value as T;
}

/**
 * `parseArgs` from `node:util` in strict mode, with unknown flags and missing
 * values reported as {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const { values } = parseFlags(["--epochs", "5"], { epochs: { type: "string" } });
 * console.assert(values.epochs === "5");
 * ```
 */
export function parseFlags<
  T extends Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>,
>(args: string[], options: T, allowPositionals = false) {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    if (
      Object.hasOwn(options, name) && options[name].type === "string" && /^-(?!-)/.test(args[i + 1] ?? "")
    ) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else joined.push(args[i]);
  }
  try {
    return parseArgs({ args: joined, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message.split("\n")[0].replace(/\. To specify.*$/s, ""));
  }
}

/**
 * `Deno.env.get(name)` when `--allow-env` grants it, else undefined (never
 * prompts).
 *
 * @example
 * ```ts
 * import { readEnv } from "./flags.ts";
 * console.log(readEnv("NOT_SET_ANYWHERE")); // undefined
 * ```
 */
export function readEnv(name: string): string | undefined {
  const granted = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  return granted ? Deno.env.get(name) : undefined;
}

/**
 * Runs a lab's `main`, printing any error as one line and exiting non-zero
 * (2 for usage errors, 1 otherwise). Set `DEBUG=1` for the stack trace.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    const debug = readEnv("DEBUG");
    console.error(`error: ${debug ? err.stack : err.message}`);
    Deno.exit(err instanceof UsageError ? 2 : 1);
  }
}

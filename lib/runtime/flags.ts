/**
 * Command-line flags as one declarative table per task: each flag's name,
 * kind, default (with its unit), bounds and one line of help. The table
 * generates the help text, parses with `node:util`'s strict `parseArgs`,
 * validates and returns a typed config, so a flag is written once.
 *
 * Errors are {@linkcode UsageError}s that name the flag and quote the value;
 * an unknown flag gets a "did you mean". Numbers are plain decimals
 * (`128`, `-5`, `0.01`, `1e-4`): `0x10`, `0b10`, `1_000` and empty values are
 * errors, never read as something else.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineFlags, flag } from "./flags.ts";
 * const cli = defineFlags("deno task fit [flags]", {
 *   epochs: flag.int("passes over the data", { default: 100, min: 1 }),
 *   "x-min": flag.number("input range start", { default: -5 }),
 *   out: flag.string("run folder", { placeholder: "DIR" }),
 * });
 * const { values } = cli.parse(["--epochs", "7", "--x-min", "-2.5"]);
 * assert.deepEqual(values, { epochs: 7, xMin: -2.5, out: undefined, help: false });
 * assert.throws(() => cli.parse(["--epoch", "7"]), /Unknown flag --epoch \(did you mean --epochs\?\)/);
 * assert.match(cli.help(), /--epochs N\s+passes over the data \(default 100\)/);
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { quote, quoteBare } from "./quote.ts";
import { userPath } from "./env.ts";

/** A bad command line: the message names the flag and value. Exit code 2. */
export class UsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * One flag of a table. `T` is the parsed value; `D` is whether the flag
 * always has a value (a default, or a boolean).
 */
export interface Flag<T, D extends boolean = boolean> {
  /** `string` flags take a value, `boolean` ones do not. */
  readonly kind: "string" | "boolean";
  /** One line of help. */
  readonly help: string;
  /** What the value looks like in the help, e.g. `N` or `DIR`. */
  readonly placeholder: string;
  /** The value when the flag is absent. */
  readonly default: D extends true ? T : T | undefined;
  /** How the default reads in the help (e.g. `runs/exp2-<time>`); from `default` when absent. */
  readonly defaultText?: string;
  /** Turns the command-line text into the value; throws {@linkcode UsageError}. */
  readonly parse: (text: string, name: string) => T;
  /** Also accepted as `-x`. */
  readonly short?: string;
  /** The task cannot run without it. */
  readonly required?: boolean;
}

/** Options shared by every flag builder. */
export interface FlagOptions<T> {
  /** The value when the flag is absent. */
  default?: T;
  /** How the default reads in the help when it is computed at run time. */
  defaultText?: string;
  /** What the value looks like in the help. */
  placeholder?: string;
  /** A one-letter alias. */
  short?: string;
  /** The task cannot run without it (`--help` still works). */
  required?: boolean;
}

/** Bounds of a numeric flag. */
export interface NumberBounds {
  /** Smallest allowed value. @default {-Infinity} */
  min?: number;
  /** Largest allowed value. @default {Infinity} */
  max?: number;
  /** Exclude `min` itself. @default {false} */
  exclusiveMin?: boolean;
  /** Unit shown after the default in the help (e.g. `epochs`). */
  unit?: string;
}

type WithDefault<T, O> = O extends { default: T } | { required: true } ? Flag<T, true> : Flag<T, false>;

/** A decimal number as people type it: digits, optional sign, point and exponent. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses `value` as a decimal number within bounds, for `--name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numberFlag } from "./flags.ts";
 * assert.equal(numberFlag("epochs", "100", { integer: true, min: 1 }), 100);
 * assert.throws(() => numberFlag("batch-size", "0b10", { integer: true }), /must be an integer, got "0b10"/);
 * ```
 */
export function numberFlag(
  name: string,
  value: string,
  options: NumberBounds & { integer?: boolean } = {},
): number {
  const text = value.trim();
  const v = DECIMAL.test(text) ? Number(text) : NaN;
  const { min = -Infinity, max = Infinity, integer = false, exclusiveMin = false } = options;
  const kind = integer ? "an integer" : "a number";
  const range = [
    min > -Infinity ? `${exclusiveMin ? "above" : "at least"} ${min}` : "",
    max < Infinity ? `at most ${max}` : "",
  ].filter(Boolean).join(" and ");
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${name} must be ${kind}, got ${quote(value)}`);
  }
  if (v < min || (exclusiveMin && v === min) || v > max) {
    throw new UsageError(`--${name} must be ${kind} ${range}, got ${quote(value)}`);
  }
  return v;
}

/**
 * Parses `value` as one of `choices`, for `--name`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { choiceFlag } from "./flags.ts";
 * assert.equal(choiceFlag("optimizer", "sgd", ["adam", "sgd"] as const), "sgd");
 * ```
 */
export function choiceFlag<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got ${quote(value)}`);
  }
  return value as T;
}

function defaultHelp(value: unknown, unit?: string): string | undefined {
  if (value === undefined || value === false) return undefined;
  const text = Array.isArray(value) ? value.join(",") : String(value);
  return unit ? `${text} ${unit}` : text;
}

/**
 * Builders for the flags of a table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flag } from "./flags.ts";
 * const lr = flag.number("learning rate", { default: 0.01, min: 0, exclusiveMin: true });
 * assert.equal(lr.parse("0.1", "lr"), 0.1);
 * assert.throws(() => lr.parse("0", "lr"), /--lr must be a number above 0, got "0"/);
 * ```
 */
export const flag = {
  /** A whole number within bounds. */
  int<O extends FlagOptions<number> & NumberBounds>(help: string, options: O): WithDefault<number, O> {
    return numeric(help, options, true) as WithDefault<number, O>;
  },
  /** A decimal number within bounds. */
  number<O extends FlagOptions<number> & NumberBounds>(help: string, options: O): WithDefault<number, O> {
    return numeric(help, options, false) as WithDefault<number, O>;
  },
  /** One of `choices`. */
  choice<C extends string, O extends FlagOptions<C>>(
    help: string,
    choices: readonly C[],
    options: O,
  ): WithDefault<C, O> {
    return {
      kind: "string",
      help: `${choices.join(" | ")}: ${help}`,
      placeholder: options.placeholder ?? "NAME",
      default: options.default,
      defaultText: options.defaultText ?? defaultHelp(options.default),
      parse: (text: string, name: string) => choiceFlag(name, text, choices),
      short: options.short,
      required: options.required,
    } as WithDefault<C, O>;
  },
  /** Any non-empty text (a path, an expression). */
  string<O extends FlagOptions<string>>(help: string, options: O): WithDefault<string, O> {
    return custom(help, (text) => text, options) as WithDefault<string, O>;
  },
  /**
   * A file or folder: non-empty text, resolved against the folder the user
   * ran the task from ({@linkcode userPath}: `deno task` runs in the project root).
   */
  path<O extends FlagOptions<string>>(help: string, options: O): WithDefault<string, O> {
    return custom(help, (text) => userPath(text), { placeholder: "PATH", ...options }) as WithDefault<
      string,
      O
    >;
  },
  /** Present or absent; takes no value. */
  boolean(help: string, options: { short?: string } = {}): Flag<boolean, true> {
    return {
      kind: "boolean",
      help,
      placeholder: "",
      default: false,
      parse: () => true,
      short: options.short,
    };
  },
  /** Text turned into a value by `parse`, which throws {@linkcode UsageError} for bad input. */
  custom: custom as <T, O extends FlagOptions<T>>(
    help: string,
    parse: (text: string, name: string) => T,
    options: O,
  ) => WithDefault<T, O>,
};

function custom<T>(
  help: string,
  parse: (text: string, name: string) => T,
  options: FlagOptions<T>,
): Flag<T> {
  return {
    kind: "string",
    help,
    placeholder: options.placeholder ?? "VALUE",
    default: options.default,
    defaultText: options.defaultText ?? defaultHelp(options.default),
    parse: (text, name) => {
      if (text.trim() === "") throw new UsageError(`--${name} needs a value, got ${quote(text)}`);
      return parse(text, name);
    },
    short: options.short,
    required: options.required,
  };
}

function numeric(help: string, options: FlagOptions<number> & NumberBounds, integer: boolean): Flag<number> {
  return {
    kind: "string",
    help,
    placeholder: options.placeholder ?? (integer ? "N" : "X"),
    default: options.default,
    defaultText: options.defaultText ?? defaultHelp(options.default, options.unit),
    parse: (text, name) => numberFlag(name, text, { ...options, integer }),
    short: options.short,
    required: options.required,
  };
}

/** A flag table: kebab-case names to flags. */
export type FlagTable = Record<string, Flag<unknown>>;

type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;

/** The typed values of a table: camelCase names; flags without a default may be undefined. */
export type FlagValues<T extends FlagTable> =
  & {
    [K in keyof T & string as Camel<K>]: T[K] extends Flag<infer V, true> ? V
      : T[K] extends Flag<infer V> ? V | undefined
      : never;
  }
  & { help: boolean };

/** What {@linkcode defineFlags} returns. */
export interface FlagParser<T extends FlagTable> {
  /** The table, for tasks that share flags. */
  readonly table: T;
  /** The help text: usage line, description, one line per flag with its default. */
  help(): string;
  /**
   * Parses `args`: typed values (defaults filled in; `help` is true for
   * `--help`/`-h`), the positional arguments when the task takes them, and
   * the names of the flags given on the command line (kebab-case).
   */
  parse(args: readonly string[]): { values: FlagValues<T>; positionals: string[]; given: Set<string> };
}

/** Options for {@linkcode defineFlags}. */
export interface DefineFlagsOptions {
  /** Paragraphs printed after the usage line. */
  description?: string;
  /** Example command lines printed after the flags. */
  examples?: readonly string[];
  /** What positional arguments are, e.g. `IMAGE...`; without it they are errors. */
  positionals?: string;
}

/**
 * Builds the parser and help text of a task from its flag table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineFlags, flag } from "./flags.ts";
 * const cli = defineFlags("deno task predict --weights FILE IMAGE...", {
 *   weights: flag.string("model weights", { placeholder: "FILE" }),
 *   top: flag.int("classes to show", { default: 3, min: 1, max: 10 }),
 * }, { positionals: "IMAGE..." });
 * const { values, positionals } = cli.parse(["--weights", "w.pth", "cat.png"]);
 * assert.deepEqual([values.weights, values.top, positionals], ["w.pth", 3, ["cat.png"]]);
 * ```
 */
export function defineFlags<T extends FlagTable>(
  usage: string,
  table: T,
  options: DefineFlagsOptions = {},
): FlagParser<T> {
  const names = Object.keys(table);
  return {
    table,
    help: () => helpText(usage, table, options),
    parse(args) {
      const spec: Record<string, { type: "string" | "boolean"; short?: string }> = {
        help: { type: "boolean", short: "h" },
      };
      for (const name of names) {
        const { kind, short } = table[name];
        spec[name] = short ? { type: kind, short } : { type: kind };
      }
      const { values: raw, positionals } = parseStrict(args, spec, options.positionals !== undefined, names);
      const values: Record<string, unknown> = { help: raw.help === true };
      const given = new Set(names.filter((name) => raw[name] !== undefined));
      for (const name of names) {
        const f = table[name];
        const text = raw[name];
        if (text === undefined && f.required && !values.help) {
          throw new UsageError(`--${name}${f.placeholder ? ` ${f.placeholder}` : ""} is required: ${f.help}`);
        }
        values[camel(name)] = text === undefined ? f.default : f.parse(String(text), name);
      }
      return { values: values as FlagValues<T>, positionals, given };
    },
  };
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Columns of the help text. */
const HELP_WIDTH = 100;

/** `text` in lines of at most `width` characters, broken at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

function helpText(usage: string, table: FlagTable, options: DefineFlagsOptions): string {
  const rows = Object.entries(table).map(([name, f]) => {
    const left = `--${name}${f.placeholder ? ` ${f.placeholder}` : ""}${f.short ? `, -${f.short}` : ""}`;
    const def = f.defaultText ?? defaultHelp(f.default);
    const note = f.required ? " (required)" : def === undefined ? "" : ` (default ${def})`;
    return [left, f.help + note];
  });
  rows.push(["--help, -h", "show this help"]);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const lines = [`Usage: ${usage}`, ""];
  if (options.description) lines.push(options.description, "");
  for (const [left, right] of rows) {
    const wrapped = wrap(right, Math.max(40, HELP_WIDTH - width - 2));
    lines.push(
      `  ${left.padEnd(width)}${wrapped[0]}`,
      ...wrapped.slice(1).map((l) => " ".repeat(width + 2) + l),
    );
  }
  if (options.examples?.length) lines.push("", "Examples:", ...options.examples.map((e) => `  ${e}`));
  return lines.join("\n") + "\n";
}

/**
 * `parseArgs` in strict mode: a string flag may take a value that starts
 * with a dash (`--x-min -5`); errors become one-line {@linkcode UsageError}s,
 * an unknown flag with the closest known name.
 */
function parseStrict(
  args: readonly string[],
  spec: Record<string, { type: "string" | "boolean"; short?: string }>,
  allowPositionals: boolean,
  names: string[],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    if (Object.hasOwn(spec, name) && spec[name].type === "string" && /^-(?!-)/.test(args[i + 1] ?? "")) {
      joined.push(`${args[i]}=${args[++i]}`);
    } else joined.push(args[i]);
  }
  try {
    const { values, positionals } = parseArgs({
      args: joined,
      options: spec,
      strict: true,
      allowPositionals,
    });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (e) {
    const message = (e as Error).message.split("\n")[0].replace(/\. To specify.*$/s, "");
    const unknown = message.match(/^Unknown option '(-{1,2})([^']*)'/);
    if (unknown) {
      const given = unknown[2].split("=")[0];
      const near = closest(given, names);
      throw new UsageError(
        `Unknown flag ${unknown[1]}${quoteBare(given)}` +
          (near ? ` (did you mean --${near}?)` : ": see --help"),
      );
    }
    throw new UsageError(message);
  }
}

/** The name within edit distance 2 of `given` (or starting with it), if one. */
function closest(given: string, names: string[]): string | undefined {
  let best: [number, string] | undefined;
  for (const name of names) {
    const d = name.startsWith(given) && given.length >= 3 ? 1 : distance(given, name);
    if (d <= 2 && (!best || d < best[0])) best = [d, name];
  }
  return best?.[1];
}

/** Levenshtein distance, for short flag names. */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

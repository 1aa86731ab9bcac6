/**
 * Short, bounded renderings of untrusted values for error messages: a value
 * read from a file or typed on the command line is shown cut to 80
 * characters, so that a hostile input can neither flood the terminal nor,
 * being deeply nested or shared many times over, cost more than a few
 * hundred steps to describe. Pure.
 *
 * @module
 */

/** Most characters {@linkcode quote} and {@linkcode preview} show. */
export const QUOTE_LIMIT = 80;

/**
 * `text` cut to at most `limit` characters, the last three of a cut text
 * being `...`. Nothing is escaped: for text already made safe, or see
 * {@linkcode quote}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clip } from "./quote.ts";
 * assert.equal(clip("layer1.0.conv1.weight", 80), "layer1.0.conv1.weight");
 * assert.equal(clip("abcdefghij", 8), "abcde...");
 * ```
 */
export function clip(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit - 3)}...` : text;
}

/**
 * `"value"` as JSON, cut to {@linkcode QUOTE_LIMIT} characters so that a
 * hostile value cannot flood the terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quote } from "./quote.ts";
 * assert.equal(quote("abc"), '"abc"');
 * assert.equal(quote("x".repeat(1000)).length, 82); // 77 x's, "...", two quotes
 * ```
 */
export function quote(value: string): string {
  return JSON.stringify(clip(value, QUOTE_LIMIT));
}

/**
 * `value` cut and escaped as {@linkcode quote} does, without the quotes: for
 * a name shown inside a message's own quotes or after a `--`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteBare } from "./quote.ts";
 * assert.equal(quoteBare("conv1.weight"), "conv1.weight");
 * assert.equal(quoteBare("a\u001b[2Jb\n"), "a\\u001b[2Jb\\n"); // no terminal escapes
 * assert.equal(quoteBare("x".repeat(1000)).length, 80);
 * ```
 */
export function quoteBare(value: string): string {
  return quote(value).slice(1, -1);
}

/**
 * `'name'`: a name read from a file (a tensor, a zip entry), cut and escaped
 * as {@linkcode quote} does, in the single quotes messages use for names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quoteName } from "./quote.ts";
 * assert.equal(quoteName("layer1.0.bn1.running_var"), "'layer1.0.bn1.running_var'");
 * assert.equal(quoteName("a\u001b[2Jb"), "'a\\u001b[2Jb'"); // no terminal escapes
 * ```
 */
export function quoteName(value: string): string {
  return `'${quoteBare(value)}'`;
}

/**
 * Any value (parsed JSON, unpickled Python data) rendered JSON-like in at most
 * `limit` characters: it visits only what it shows, at most 4 levels deep, so
 * a list nested a million deep or shared a billion times costs as little as a
 * small one. Maps show as `{key: value}`, class instances by class name,
 * bigints with an `n`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preview } from "./quote.ts";
 * assert.equal(preview([1, "a", null, [2n]]), '[1, "a", null, [2n]]');
 * assert.equal(preview(new Map([["epoch", 5]])), '{"epoch": 5}');
 * let deep: unknown[] = [];
 * for (let i = 0; i < 1e6; i++) deep = [deep];
 * assert.equal(preview(deep), "[[[[[...]]]]]");
 * assert.ok(preview(Array(1e6).fill(7)).length <= 80);
 * ```
 */
export function preview(value: unknown, limit: number = QUOTE_LIMIT): string {
  let out = "";
  // Appends until the budget is spent; true once it is.
  const emit = (s: string): boolean => {
    out += s;
    return out.length > limit;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (v === null || v === undefined) return emit(String(v));
    switch (typeof v) {
      case "string":
        return emit(JSON.stringify(v.length > limit ? v.slice(0, limit) : v));
      case "number":
      case "boolean":
        return emit(String(v));
      case "bigint":
        return emit(`${v}n`);
      case "object":
        break;
      default:
        return emit(`<${typeof v}>`);
    }
    const isArray = Array.isArray(v);
    if (!isArray && !(v instanceof Map)) {
      const name = (v as object).constructor?.name;
      return emit(name && name !== "Object" ? `<${name}>` : "{...}");
    }
    const [open, close] = isArray ? ["[", "]"] : ["{", "}"];
    if (depth >= 4) return emit(`${open}...${close}`);
    if (emit(open)) return true;
    let first = true;
    const items = isArray ? (v as unknown[]) : (v as Map<unknown, unknown>).entries();
    // Only as many items are visited as fit: the budget ends the loop.
    for (const item of items as Iterable<unknown>) {
      if (!first && emit(", ")) return true;
      first = false;
      if (isArray) {
        if (walk(item, depth + 1)) return true;
      } else {
        const [k, val] = item as [unknown, unknown];
        if (walk(k, depth + 1) || emit(": ") || walk(val, depth + 1)) return true;
      }
    }
    return emit(close);
  };
  const over = walk(value, 0);
  return over || out.length > limit ? `${out.slice(0, limit - 3)}...` : out;
}

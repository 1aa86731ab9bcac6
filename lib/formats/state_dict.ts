/**
 * Host-side weights as PyTorch names them: the common currency of the
 * safetensors and .pth readers and the model loader. Layouts are PyTorch's
 * (conv weights OIHW, linear weights `[out, in]`); `num_batches_tracked` is
 * the only I64 tensor in a ResNet20.
 *
 * @module
 */
import { clip, QUOTE_LIMIT, quoteBare } from "../runtime/quote.ts";

/** Element types the weight files may hold. */
export type DType = "F32" | "I64";

/** A tensor held in host memory, row-major (C order). */
export interface HostTensor {
  /** Element type; decides the class of {@linkcode HostTensor.data}. */
  dtype: DType;
  /** Dimensions; `[]` is a scalar. */
  shape: number[];
  /** `Float32Array` for F32, `BigInt64Array` for I64; length is the product of the shape. */
  data: Float32Array | BigInt64Array;
}

/** Tensors by PyTorch state_dict name, in file order. */
export type StateDict = Map<string, HostTensor>;

/** What a tensor must look like: see {@linkcode checkStateDict}. */
export interface TensorSpec {
  /** Expected element type. */
  dtype: DType;
  /** Expected dimensions. */
  shape: number[];
  /** Smallest value that means something (0 for a variance or a count). @default -Infinity */
  min?: number;
  /** Largest value that means something (2^53 - 1 for a count kept as a JS number). @default Infinity */
  max?: number;
}

/** Most dimensions a tensor read from a file may have (PyTorch's own limit is 64). */
export const MAX_TENSOR_DIMS = 64;

/**
 * Thrown when a state dict does not match what a model expects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStateDict, StateDictError } from "./state_dict.ts";
 * const t = { dtype: "F32" as const, shape: [3], data: new Float32Array(3) };
 * assert.throws(
 *   () => checkStateDict(new Map([["b", t]]), new Map([["b", { dtype: "F32", shape: [2] }]])),
 *   StateDictError,
 * );
 * ```
 */
export class StateDictError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "StateDictError";
  }
}

/** Bytes per element of each {@linkcode DType}. */
export const ITEM_SIZE: Readonly<Record<DType, number>> = { F32: 4, I64: 8 };

/**
 * Number of elements of a shape (1 for a scalar).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numel } from "./state_dict.ts";
 * assert.equal(numel([16, 3, 3, 3]), 432);
 * assert.equal(numel([]), 1);
 * ```
 */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Removes `prefix` from every name when all names carry it (as
 * `nn.DataParallel` adds `module.`); otherwise returns the same entries.
 * A prefix on only some names is left alone so the mismatch shows up in
 * {@linkcode checkStateDict} instead of being half-fixed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stripPrefix } from "./state_dict.ts";
 * const t = { dtype: "F32" as const, shape: [1], data: new Float32Array(1) };
 * const out = stripPrefix(new Map([["module.linear.bias", t]]), "module.");
 * assert.deepEqual([...out.keys()], ["linear.bias"]);
 * ```
 */
export function stripPrefix(state: StateDict, prefix: string): StateDict {
  const names = [...state.keys()];
  if (names.length === 0 || !names.every((n) => n.startsWith(prefix))) return state;
  return new Map(names.map((n) => [n.slice(prefix.length), state.get(n)!]));
}

/**
 * Brings a ResNet20 checkpoint from a common CIFAR-10 repository to the names
 * of `../shared/reference/pytorch_resnet20.py` (akamaster's). The mapping,
 * applied in this order and nothing beyond it:
 *
 * 1. `module.` is stripped when every name has it (saved from `nn.DataParallel`).
 * 2. `fc.weight` / `fc.bias` become `linear.weight` / `linear.bias`
 *    (kuangliu- and torchvision-style head name).
 * 3. `*.shortcut.*` and `*.downsample.*` entries with zero elements are
 *    dropped: an option-A (parameter-free) shortcut has no weights, and
 *    some code registers it as an empty module. Shortcut entries that do
 *    hold weights (option B, 1x1 conv + BN) are kept, so that
 *    {@linkcode checkStateDict} reports them rather than silently loading
 *    a different architecture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeResnet20Names } from "./state_dict.ts";
 * const t = { dtype: "F32" as const, shape: [10], data: new Float32Array(10) };
 * const empty = { dtype: "F32" as const, shape: [0], data: new Float32Array(0) };
 * const state = new Map([["module.fc.bias", t], ["module.layer1.0.shortcut.0", empty]]);
 * const out = normalizeResnet20Names(state);
 * assert.deepEqual([...out.keys()], ["linear.bias"]);
 * ```
 */
export function normalizeResnet20Names(state: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [name, t] of stripPrefix(state, "module.")) {
    const renamed = name === "fc.weight" || name === "fc.bias" ? `linear.${name.slice(3)}` : name;
    if (/(^|\.)(shortcut|downsample)\./.test(renamed) && t.data.length === 0) continue;
    out.set(renamed, t);
  }
  return out;
}

function describe(t: TensorSpec | undefined): string {
  if (!t) return "-";
  const dims = t.shape.length > 8 ? [...t.shape.slice(0, 8), `... ${t.shape.length} dims`] : t.shape;
  return `${t.dtype} [${dims.join(", ")}]`;
}

/** Where {@linkcode firstNonFinite} found a NaN or an infinity. */
export interface NonFinite {
  /** The tensor's name. */
  name: string;
  /** The flat (row-major) index of the value. */
  index: number;
  /** The value: NaN, Infinity or -Infinity. */
  value: number;
}

/**
 * The first F32 tensor of `state` holding a NaN or an infinity, with the
 * value and its flat index; null when every F32 value is finite. I64 tensors
 * are skipped (they cannot hold either). Takes a {@linkcode StateDict} or any
 * `[name, tensor]` pairs, so one tensor is `[[name, t]]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstNonFinite } from "./state_dict.ts";
 * const ok = { dtype: "F32" as const, shape: [2], data: Float32Array.of(1, 2) };
 * const bad = { dtype: "F32" as const, shape: [2], data: Float32Array.of(1, Infinity) };
 * assert.equal(firstNonFinite(new Map([["a", ok]])), null);
 * assert.deepEqual(firstNonFinite(new Map([["a", ok], ["b", bad]])), { name: "b", index: 1, value: Infinity });
 * assert.deepEqual(firstNonFinite([["b", bad]]), { name: "b", index: 1, value: Infinity });
 * ```
 */
export function firstNonFinite(state: Iterable<readonly [string, HostTensor]>): NonFinite | null {
  for (const [name, t] of state) {
    if (!(t.data instanceof Float32Array)) continue;
    const index = t.data.findIndex((v) => !Number.isFinite(v));
    if (index >= 0) return { name, index, value: t.data[index] };
  }
  return null;
}

/** Rows shown in the name-mismatch table; the rest are counted. */
const TABLE_ROWS = 24;

/** Options for {@linkcode checkStateDict}. */
export interface CheckStateDictOptions {
  /** File or origin named in error messages. @default "state dict" */
  source?: string;
  /** Reject NaN and infinities in F32 tensors. @default true */
  requireFinite?: boolean;
}

/**
 * Checks that `state` holds exactly the tensors of `expected`, with the same
 * dtypes and shapes, (by default) only finite F32 values, and values within
 * each spec's `min` and `max` (what they mean: a variance is never
 * negative). Throws a {@linkcode StateDictError}: on name mismatch with a
 * table of the missing and unexpected names (the first 24, then a count), on
 * a dtype or shape mismatch naming the tensor and both shapes, on a
 * non-finite or out-of-range value naming tensor, value and index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStateDict } from "./state_dict.ts";
 * const expected = new Map([["b", { dtype: "F32" as const, shape: [2] }]]);
 * const t = { dtype: "F32" as const, shape: [2], data: new Float32Array(2) };
 * checkStateDict(new Map([["b", t]]), expected); // matches: returns
 * assert.throws(
 *   () => checkStateDict(new Map([["b", { ...t, data: Float32Array.of(0, NaN) }]]), expected),
 *   { name: "StateDictError", message: /non-finite value 'NaN' at flat index 1/ },
 * );
 * const variance = new Map([["bn.running_var", { dtype: "F32" as const, shape: [2], min: 0 }]]);
 * assert.throws(
 *   () => checkStateDict(new Map([["bn.running_var", { ...t, data: Float32Array.of(1, -0.5) }]]), variance),
 *   { message: "Tensor 'bn.running_var' in 'state dict' holds -0.5 at flat index 1, expected at least 0" },
 * );
 * ```
 */
export function checkStateDict(
  state: StateDict,
  expected: ReadonlyMap<string, TensorSpec>,
  options: CheckStateDictOptions = {},
): void {
  const { source = "state dict", requireFinite = true } = options;
  const missing = [...expected.keys()].filter((n) => !state.has(n));
  const unexpected = [...state.keys()].filter((n) => !expected.has(n));
  if (missing.length > 0 || unexpected.length > 0) {
    const names = [...missing, ...unexpected].sort();
    const rows = names.slice(0, TABLE_ROWS).map((n) => [
      clip(n, QUOTE_LIMIT),
      describe(expected.get(n)),
      describe(state.get(n)),
    ]);
    if (names.length > TABLE_ROWS) rows.push([`... and ${names.length - TABLE_ROWS} more`, "", ""]);
    const header = ["name", "expected", "found"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const table = [header, ...rows].map((r) =>
      "  " + r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()
    );
    throw new StateDictError(
      `Tensor names in '${source}' do not match the model: expected ${expected.size}, found ${state.size}; ` +
        `${missing.length} missing, ${unexpected.length} unexpected:\n${table.join("\n")}`,
    );
  }
  for (const [name_, spec] of expected) {
    const t = state.get(name_)!;
    const name = quoteBare(name_);
    const sameShape = t.shape.length === spec.shape.length && t.shape.every((d, i) => d === spec.shape[i]);
    if (t.dtype !== spec.dtype || !sameShape) {
      throw new StateDictError(
        `Tensor '${name}' in '${source}' is ${describe(t)}, expected ${describe(spec)}`,
      );
    }
    const rightClass = t.dtype === "F32" ? t.data instanceof Float32Array : t.data instanceof BigInt64Array;
    if (!rightClass || t.data.length !== numel(t.shape)) {
      throw new StateDictError(
        `Tensor '${name}' in '${source}' holds ${t.data.length} values in a ${t.data.constructor.name} ` +
          `for ${describe(t)}`,
      );
    }
    const bad = requireFinite ? firstNonFinite([[name_, t]]) : null;
    if (bad) {
      throw new StateDictError(
        `Tensor '${name}' in '${source}' holds a non-finite value '${bad.value}' at flat index ${bad.index}`,
      );
    }
    const { min = -Infinity, max = Infinity } = spec;
    if (min > -Infinity || max < Infinity) {
      for (let i = 0; i < t.data.length; i++) {
        // Rounding a huge I64 to a number keeps it out of any safe-integer range; NaN fails both tests.
        const v = Number(t.data[i]);
        if (!(v >= min && v <= max)) {
          throw new StateDictError(
            `Tensor '${name}' in '${source}' holds ${t.data[i]} at flat index ${i}, expected ` +
              (v >= min ? `at most ${max}` : `at least ${min}`),
          );
        }
      }
    }
  }
}

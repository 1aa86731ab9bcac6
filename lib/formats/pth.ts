/**
 * PyTorch `.pth` checkpoints (the zip container `torch.save` writes since
 * 1.6), bytes in and bytes out, limited to contiguous float32 and int64
 * tensors. The zip holds `<archive>/data.pkl` (a pickle read by the
 * restricted {@linkcode unpickle}), one `<archive>/data/<key>` entry per
 * storage (raw little-endian elements) and `<archive>/version`.
 *
 * Reading is bounded by what the file holds: the zip directory is checked
 * first, the declared sizes of all entries must fit `maxBytes`, and each
 * entry is inflated one at a time, stopped as soon as it passes its declared
 * size, and checked against its CRC-32, before the pickle is read.
 *
 * @module
 */
import { zipSync } from "fflate";
import { preview, quote, quoteName } from "../runtime/quote.ts";
import { PickleError, TorchStorageType, TorchTensorRef, unpickle } from "./pickle.ts";
import { copyTensorData } from "./safetensors.ts";
import { type DType, type HostTensor, numel, type StateDict } from "./state_dict.ts";
import { readZipDirectory, readZipEntry, ZipError } from "./zip.ts";

/**
 * Thrown for a malformed, unsafe or unsupported .pth file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePth, PthError } from "./pth.ts";
 * assert.throws(() => decodePth(new TextEncoder().encode("not a zip"), { source: "x.pth" }), PthError);
 * ```
 */
export class PthError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PthError";
  }
}

/** Keys under which checkpoints commonly nest their state_dict, in the order tried. */
export const STATE_DICT_KEYS: readonly string[] = ["net", "state_dict", "model"];

/** Default of {@linkcode DecodePthOptions.maxBytes}: 256 MiB, 60 million float32 values. */
export const MAX_PTH_BYTES = 256 * 2 ** 20;
/** Largest `data.pkl` read: a state_dict's pickle takes ~150 bytes per tensor. */
export const MAX_PICKLE_BYTES = 16 * 2 ** 20;

const ITEM_SIZES: Record<string, number> = {
  float64: 8,
  int64: 8,
  float32: 4,
  int32: 4,
  float16: 2,
  bfloat16: 2,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};
const DTYPES: Record<string, DType> = { float32: "F32", int64: "I64" };

/** Options for {@linkcode decodePth}. */
export interface DecodePthOptions {
  /** File name used in error messages. @default "pth" */
  source?: string;
  /**
   * Largest total of the zip entries, in inflated bytes: checked against the
   * declared sizes first, then counted while inflating.
   * @default MAX_PTH_BYTES
   */
  maxBytes?: number;
}

/** What {@linkcode decodePth} returns. */
export interface DecodedPth {
  /** The tensors, in pickle order. */
  state: StateDict;
  /** Top-level key holding the state_dict (`net`, `state_dict` or `model`), `null` when it is the top level. */
  key: string | null;
  /**
   * Scalar siblings of `key` (`acc`, `epoch`, ...): numbers, bigints, strings, booleans, nulls; a
   * one-value tensor as its number.
   */
  extra: Record<string, unknown>;
}

/** A storage resolved from a persistent id: its bytes, not yet typed. */
interface StorageRef {
  key: string;
  dtype: string;
  numel: number;
  bytes: Uint8Array;
}

function isScalar(v: unknown): boolean {
  return v === null || ["number", "bigint", "string", "boolean"].includes(typeof v);
}

/** `'a', 'b', ...`: the first few of `items` (names quoted, anything else previewed), never walking the rest. */
function listSome(items: Iterable<unknown>, n = 8): string {
  const out: string[] = [];
  for (const item of items) {
    if (out.length === n) {
      out.push("...");
      break;
    }
    out.push(typeof item === "string" ? quoteName(item) : preview(item));
  }
  return out.join(", ");
}

/**
 * Reads a `torch.save` zip checkpoint without executing any pickled code.
 * The state_dict is either the top-level dict or sits under `net`,
 * `state_dict` or `model`. Storages shared between tensors (views with an
 * offset) are supported; non-contiguous strides and dtypes other than
 * float32 and int64 are refused, naming the tensor. Every zip entry must
 * inflate to exactly its declared size and CRC-32, all of them together
 * within `maxBytes`; a zip bomb stops one inflate step past the size its
 * entry declares.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePth, encodePth } from "./pth.ts";
 * const bias = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
 * const state = new Map([["linear.bias", bias]]);
 * // As torch.save({"net": state_dict, "epoch": 5}, path) writes it.
 * const decoded = decodePth(encodePth(state, { key: "net", extra: { epoch: 5 } }), { source: "ckpt.pth" });
 * assert.equal(decoded.key, "net");
 * assert.deepEqual(decoded.extra, { epoch: 5 });
 * assert.deepEqual(decoded.state, state);
 * ```
 */
export function decodePth(bytes: Uint8Array, options: DecodePthOptions = {}): DecodedPth {
  const { source = "pth" } = options;
  try {
    return decode(bytes, source, options.maxBytes ?? MAX_PTH_BYTES);
  } catch (e) {
    if (e instanceof PthError || e instanceof PickleError) throw e;
    if (e instanceof ZipError) throw new PthError(e.message);
    // Anything else (out of range, stack) is still this file's fault: say so, briefly.
    throw new PthError(`Could not read '${source}': ${preview(String((e as Error)?.message ?? e))}`);
  }
}

function decode(bytes: Uint8Array, source: string, maxBytes: number): DecodedPth {
  const fail = (message: string): never => {
    throw new PthError(`${message} in '${source}'`);
  };
  if (bytes.length >= 1 && bytes[0] === 0x80) {
    fail(`Legacy (pre-1.6, non-zip) torch.save format is not supported; re-save with a newer torch`);
  }
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) fail(`File is not a zip archive`);
  const entries = readZipDirectory(bytes, { source });
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    fail(
      `Expected one '<archive>/data.pkl' entry, found ${pickles.length} among ${entries.size} entries ` +
        `(${listSome(entries.keys())})`,
    );
  }
  const pickleSize = entries.get(pickles[0])!.size;
  if (pickleSize > MAX_PICKLE_BYTES) {
    fail(
      `'${pickles[0]}' declares ${pickleSize} bytes, more than the ${MAX_PICKLE_BYTES} a state_dict needs`,
    );
  }
  let declared = 0;
  for (const e of entries.values()) declared += e.size;
  if (declared > maxBytes) {
    fail(`Zip entries declare ${declared} bytes in all, more than the ${maxBytes} allowed`);
  }
  // Every entry is checked, one at a time, before anything is interpreted.
  const files = new Map<string, Uint8Array>();
  for (const e of entries.values()) files.set(e.name, readZipEntry(bytes, e, { source, maxBytes }));

  const archive = pickles[0].slice(0, -"/data.pkl".length);
  const byteorder = files.get(`${archive}/byteorder`);
  if (byteorder) {
    const text = new TextDecoder().decode(byteorder.subarray(0, 64)).trim();
    if (text !== "little") fail(`Byte order ${quote(text)} is not supported, expected 'little'`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage") {
      return fail(`Persistent id ${preview(pid)} is not a ('storage', type, key, location, numel) tuple`);
    }
    const [, type, key, , count] = pid;
    if (!(type instanceof TorchStorageType)) {
      return fail(`Persistent id storage type is not a torch storage class`);
    }
    if (typeof key !== "string" || !/^[A-Za-z0-9_]{1,64}$/.test(key)) {
      return fail(`Storage key ${preview(key)} is not 1 to 64 letters, digits or underscores`);
    }
    if (!Number.isSafeInteger(count) || count < 0) {
      return fail(`Storage '${key}' declares ${preview(count)} elements, expected a non-negative integer`);
    }
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== type.dtype || cached.numel !== count) {
        fail(
          `Storage '${key}' is referenced as both ${cached.dtype}[${cached.numel}] and ${type.dtype}[${count}]`,
        );
      }
      return cached;
    }
    const entry = files.get(`${archive}/data/${key}`);
    if (entry === undefined) return fail(`Storage '${key}' has no zip entry '${archive}/data/${key}'`);
    // Checked against the entry's size before anything is allocated for the tensor.
    const expectedBytes = count * ITEM_SIZES[type.dtype];
    if (expectedBytes !== entry.length) {
      fail(
        `Storage '${key}' declares ${count} ${type.dtype} elements (${expectedBytes} bytes) but its zip entry ` +
          `'${archive}/data/${key}' holds ${entry.length} bytes`,
      );
    }
    const ref = { key, dtype: type.dtype, numel: count, bytes: entry };
    storages.set(key, ref);
    return ref;
  };

  let root: unknown;
  try {
    root = unpickle(files.get(pickles[0])!, { source: `${source}:${pickles[0]}`, persistentLoad });
  } catch (e) {
    if (e instanceof PthError || e instanceof PickleError || e instanceof ZipError) throw e;
    throw new PthError(`Could not read the pickle in '${source}': ${preview((e as Error).message)}`);
  }

  if (!(root instanceof Map)) return fail(`Top level is not a dict`);
  const isTensorMap = (v: unknown) =>
    v instanceof Map && v.size > 0 && [...v.values()].every((t) => t instanceof TorchTensorRef);
  let key: string | null = null;
  let dict: Map<unknown, unknown>;
  if (isTensorMap(root)) {
    dict = root;
  } else {
    const found = STATE_DICT_KEYS.filter((k) => root.get(k) instanceof Map);
    if (found.length !== 1) {
      return fail(
        found.length === 0
          ? `No state_dict found: expected a dict of tensors or one under 'net', 'state_dict' or 'model'; ` +
            `top-level keys are ${root.size ? listSome(root.keys()) : "(none)"}`
          : `Ambiguous checkpoint: ${found.map((k) => `'${k}'`).join(" and ")} both hold dicts`,
      );
    }
    key = found[0];
    dict = root.get(key);
  }
  const extra: Record<string, unknown> = {};
  if (key !== null) {
    for (const [k, v] of root) if (k !== key && typeof k === "string" && isScalar(v)) extra[k] = v;
  }

  const state: StateDict = new Map();
  const read = (name: string, ref: TorchTensorRef): HostTensor => {
    const where = `Tensor ${quoteName(name)}`;
    const storage = ref.storage as StorageRef;
    if (!storages.has(storage?.key) || storages.get(storage.key) !== storage) {
      return fail(`${where} is not backed by a zip storage`);
    }
    const dtype = DTYPES[storage.dtype];
    if (dtype === undefined) fail(`${where} has dtype '${storage.dtype}', expected float32 or int64`);
    const n = numel(ref.shape);
    let expected = 1;
    for (let d = ref.shape.length - 1; d >= 0; d--) {
      if (ref.shape[d] !== 1 && ref.stride[d] !== expected) {
        fail(
          `${where} is not contiguous: shape [${ref.shape.join(", ")}] with strides [${
            ref.stride.join(", ")
          }] (save tensor.contiguous())`,
        );
      }
      expected *= ref.shape[d];
    }
    if (n > 0 && ref.offset + n > storage.numel) {
      fail(`${where} spans elements ${ref.offset}..${ref.offset + n} of a ${storage.numel}-element storage`);
    }
    const itemSize = ITEM_SIZES[storage.dtype];
    const slice = storage.bytes.subarray(ref.offset * itemSize, (ref.offset + n) * itemSize);
    return { dtype, shape: [...ref.shape], data: copyTensorData(slice, dtype, n) };
  };
  for (const [name, ref] of dict) {
    if (typeof name !== "string") return fail(`State dict key ${preview(name)} is not a string`);
    if (!(ref instanceof TorchTensorRef)) {
      return fail(`Tensor ${quoteName(name)} is not a tensor (got ${typeof ref})`);
    }
    state.set(name, read(name, ref));
  }
  // A one-value tensor beside the state dict (an `acc` saved as a tensor) is a number here.
  if (key !== null) {
    for (const [k, v] of root) {
      if (k === key || typeof k !== "string" || !(v instanceof TorchTensorRef) || numel(v.shape) !== 1) {
        continue;
      }
      const t = read(k, v);
      extra[k] = t.dtype === "F32" ? t.data[0] : Number(t.data[0]);
    }
  }
  return { state, key, extra };
}

/** Options for {@linkcode encodePth}. */
export interface EncodePthOptions {
  /** Nest the state_dict under this top-level key (e.g. `net`); `null` saves it as the top level. @default null */
  key?: string | null;
  /**
   * Siblings of `key`: integers are written as Python ints, strings, booleans and None as themselves,
   * and tensors as tensors. A float is better given as a 0-dim F32 tensor: `torch.load(...,
   * weights_only=True)` of torch 1.13 refuses pickled floats. @default {}
   */
  extra?: Record<string, number | string | boolean | null | HostTensor>;
  /** Name of the zip's top folder. @default "archive" */
  archive?: string;
}

class PickleWriter {
  #chunks: number[] = [];
  op(...codes: number[]) {
    this.#chunks.push(...codes);
  }
  u32(v: number) {
    this.op(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.op(0x58);
    this.u32(b.length);
    for (const x of b) this.#chunks.push(x);
  }
  int(v: number) {
    if (!Number.isSafeInteger(v)) throw new PthError(`Cannot pickle '${v}' as an integer`);
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= -(2 ** 31) && v < 2 ** 31) {
      this.op(0x4a);
      return this.u32(v >>> 0);
    }
    // LONG1: 8-byte two's complement is enough for any safe integer.
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(v), true);
    this.op(0x8a, 8, ...b);
  }
  float(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.op(0x47, ...b);
  }
  global(module: string, name: string) {
    this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  scalar(v: number | string | boolean | null) {
    if (v === null) this.op(0x4e);
    else if (typeof v === "boolean") this.op(v ? 0x88 : 0x89);
    else if (typeof v === "string") this.str(v);
    else if (Number.isInteger(v)) this.int(v);
    else this.float(v);
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.#chunks);
  }
}

/**
 * Writes a zip checkpoint that `torch.load` reads (protocol-2 pickle, one
 * stored entry per tensor, contiguous layouts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePth } from "./pth.ts";
 * const n = { dtype: "I64" as const, shape: [], data: new BigInt64Array([3n]) };
 * const state = new Map([["bn1.num_batches_tracked", n]]);
 * const bytes = encodePth(state, { key: "net", extra: { acc: 0.5 } });
 * assert.deepEqual([...bytes.subarray(0, 4)], [0x50, 0x4b, 3, 4]); // a zip: "PK\x03\x04"
 * ```
 */
export function encodePth(state: StateDict, options: EncodePthOptions = {}): Uint8Array {
  const { key = null, extra = {}, archive = "archive" } = options;
  if (!/^[A-Za-z0-9_.-]+$/.test(archive) || archive.includes("..")) {
    throw new PthError(`Archive name '${archive}' must be a plain folder name`);
  }
  const w = new PickleWriter();
  const files: Record<string, [Uint8Array, { level: 0 }]> = {};
  w.op(0x80, 2); // PROTO 2
  if (key !== null) {
    w.op(0x7d, 0x28); // EMPTY_DICT MARK
    w.str(key);
  }
  const emptyOrderedDict = () => {
    w.global("collections", "OrderedDict");
    w.op(0x29, 0x52); // EMPTY_TUPLE REDUCE
  };
  emptyOrderedDict();
  w.op(0x28); // MARK
  let index = 0;
  const tensor = (name: string, t: HostTensor) => {
    const count = numel(t.shape);
    if (t.data.length !== count) {
      throw new PthError(`Tensor '${name}' holds ${t.data.length} values for shape [${t.shape.join(", ")}]`);
    }
    const storageKey = String(index++);
    files[`${archive}/data/${storageKey}`] = [
      new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
      { level: 0 },
    ];
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op(0x28, 0x28); // MARK MARK
    w.str("storage");
    w.global("torch", t.dtype === "F32" ? "FloatStorage" : "LongStorage");
    w.str(storageKey);
    w.str("cpu");
    w.int(count);
    w.op(0x74, 0x51); // TUPLE BINPERSID
    w.int(0);
    const strides = t.shape.map((_, d) => numel(t.shape.slice(d + 1)));
    for (const dims of [t.shape, strides]) {
      w.op(0x28);
      dims.forEach((d) => w.int(d));
      w.op(0x74);
    }
    w.op(0x89); // NEWFALSE (requires_grad)
    emptyOrderedDict(); // backward hooks
    w.op(0x74, 0x52); // TUPLE REDUCE
  };
  for (const [name, t] of state) {
    w.str(name);
    tensor(name, t);
  }
  w.op(0x75); // SETITEMS
  if (key !== null) {
    for (const [k, v] of Object.entries(extra)) {
      w.str(k);
      if (v !== null && typeof v === "object") tensor(k, v);
      else w.scalar(v);
    }
    w.op(0x75);
  }
  w.op(0x2e); // STOP
  const entries = {
    [`${archive}/data.pkl`]: [w.bytes(), { level: 0 }] as [Uint8Array, { level: 0 }],
    ...files,
    [`${archive}/version`]: [new TextEncoder().encode("3\n"), { level: 0 }] as [Uint8Array, { level: 0 }],
  };
  // Local-time 1980-01-01 so the bytes do not depend on the clock or time zone.
  return zipSync(entries, { mtime: new Date(1980, 0, 1) });
}

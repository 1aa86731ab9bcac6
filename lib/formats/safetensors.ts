/**
 * The safetensors weights format, bytes in and bytes out, limited to F32 and
 * I64 tensors. Byte-compatible with `save_safetensors` / `load_safetensors`
 * in `../shared/reference/pytorch_resnet20.py`:
 *
 * ```
 * u64 LE  N             header length in bytes
 * N bytes JSON header   {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 *                        "__metadata__": {string: string}}; padded with spaces to a multiple of 8
 * rest    data region   little-endian tensor bytes; offsets are relative to its start
 * ```
 *
 * @module
 */
import { preview, quoteName } from "../runtime/quote.ts";
import {
  type DType,
  type HostTensor,
  ITEM_SIZE,
  MAX_TENSOR_DIMS,
  numel,
  type StateDict,
} from "./state_dict.ts";

/** Bytes of the little-endian u64 header length. */
export const HEADER_LENGTH_BYTES = 8;
/**
 * Largest accepted JSON header by default: 16 MiB, ~200,000 tensors (a
 * ResNet20's is 10 KB). The reference Rust implementation allows 100 MB, but
 * parsing that much JSON can take gigabytes of memory.
 */
export const MAX_HEADER_BYTES = 16 * 2 ** 20;
const METADATA_KEY = "__metadata__";

/**
 * Thrown for a malformed or unsupported safetensors file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, SafetensorsError } from "./safetensors.ts";
 * assert.throws(() => decodeSafetensors(new Uint8Array(4), { source: "cut.safetensors" }), SafetensorsError);
 * ```
 */
export class SafetensorsError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Options for {@linkcode decodeSafetensors}. */
export interface DecodeSafetensorsOptions {
  /** File name used in error messages. @default "safetensors" */
  source?: string;
  /** Largest JSON header accepted, in bytes. @default MAX_HEADER_BYTES */
  maxHeaderBytes?: number;
}

/** What {@linkcode decodeSafetensors} returns. */
export interface DecodedSafetensors {
  /** Tensors in data-offset (file) order. */
  state: StateDict;
  /** The `__metadata__` string map, `{}` when absent. */
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Copies little-endian bytes into a fresh, aligned typed array of `count`
 * elements; `bytes.length` must equal `count * ITEM_SIZE[dtype]`. Shared
 * with the .pth reader.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { copyTensorData } from "./safetensors.ts";
 * const data = copyTensorData(new Uint8Array([0, 0, 128, 63]), "F32", 1); // 1.0f, little-endian
 * assert.deepEqual(data, Float32Array.of(1));
 * ```
 */
export function copyTensorData(bytes: Uint8Array, dtype: DType, count: number): Float32Array | BigInt64Array {
  const data = dtype === "F32" ? new Float32Array(count) : new BigInt64Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(data.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      if (data instanceof Float32Array) data[i] = view.getFloat32(i * 4, true);
      else data[i] = view.getBigInt64(i * 8, true);
    }
  }
  return data;
}

/**
 * Parses a safetensors file, validating the header length, the JSON, every
 * dtype, shape and offset, and copies the tensors out into aligned typed
 * arrays (the result does not alias `bytes`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const b = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
 * const bytes = encodeSafetensors(new Map([["b", b]]), { metadata: { seed: "0" } });
 * const { state, metadata } = decodeSafetensors(bytes, { source: "tiny.safetensors" });
 * assert.deepEqual(state.get("b"), { dtype: "F32", shape: [2], data: Float32Array.of(1, 2) });
 * assert.deepEqual(metadata, { seed: "0" });
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: DecodeSafetensorsOptions = {},
): DecodedSafetensors {
  const { source = "safetensors", maxHeaderBytes = MAX_HEADER_BYTES } = options;
  const fail = (message: string): never => {
    throw new SafetensorsError(`${message} in '${source}'`);
  };
  if (bytes.length < HEADER_LENGTH_BYTES) {
    fail(`File of ${bytes.length} bytes is too short for the ${HEADER_LENGTH_BYTES}-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Read as BigInt so that a length like 2^60 is compared, never allocated.
  const headerLength = view.getBigUint64(0, true);
  const available = bytes.length - HEADER_LENGTH_BYTES;
  if (headerLength > BigInt(Math.min(available, maxHeaderBytes))) {
    fail(
      `Header length '${headerLength}' exceeds the ${available} bytes after the length field ` +
        `(or the ${maxHeaderBytes}-byte limit)`,
    );
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + n),
    );
    header = JSON.parse(text);
  } catch (e) {
    fail(`Header is not valid UTF-8 JSON (${preview((e as Error).message)})`);
  }
  if (!isPlainObject(header)) return fail(`Header is not a JSON object`);

  const metadata: Record<string, string> = {};
  const rawMeta = header[METADATA_KEY];
  if (rawMeta !== undefined) {
    if (!isPlainObject(rawMeta)) fail(`'${METADATA_KEY}' is not an object`);
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== "string") {
        fail(`Metadata value for ${quoteName(k)} is ${preview(v)}, expected a string`);
      }
      metadata[k] = v as string;
    }
  }

  const dataStart = HEADER_LENGTH_BYTES + n;
  const dataLength = bytes.length - dataStart;
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const where = `tensor ${quoteName(name)}`;
    if (!isPlainObject(info)) return fail(`Entry for ${where} is not an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (dtype !== "F32" && dtype !== "I64") {
      return fail(`Unsupported dtype '${String(dtype)}' for ${where}: expected F32 or I64`);
    }
    if (
      !Array.isArray(shape) || shape.length > MAX_TENSOR_DIMS ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      return fail(
        `Shape ${
          preview(shape)
        } of ${where} is not a list of at most ${MAX_TENSOR_DIMS} non-negative integers`,
      );
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      return fail(`Data offsets ${preview(offsets)} of ${where} are not two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) {
      fail(`Data offsets [${begin}, ${end}] of ${where} are outside the ${dataLength}-byte data region`);
    }
    const expectedBytes = numel(shape) * ITEM_SIZE[dtype];
    if (end - begin !== expectedBytes) {
      fail(
        `Tensor ${quoteName(name)} has ${end - begin} bytes but ${dtype} [${
          shape.join(", ")
        }] needs ${expectedBytes}`,
      );
    }
    entries.push({ name, dtype, shape: [...shape], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    const [prev, cur] = [entries[i - 1], entries[i]];
    // Zero-byte tensors occupy nothing and cannot overlap.
    if (cur.begin < prev.end && cur.end > cur.begin) {
      fail(
        `Data of tensor ${quoteName(cur.name)} [${cur.begin}, ${cur.end}] overlaps tensor ${
          quoteName(prev.name)
        } ` +
          `[${prev.begin}, ${prev.end}]`,
      );
    }
  }

  const state: StateDict = new Map();
  for (const { name, dtype, shape, begin, end } of entries) {
    const data = copyTensorData(bytes.subarray(dataStart + begin, dataStart + end), dtype, numel(shape));
    state.set(name, { dtype, shape, data } satisfies HostTensor);
  }
  return { state, metadata };
}

/** Options for {@linkcode encodeSafetensors}. */
export interface EncodeSafetensorsOptions {
  /** String map stored as `__metadata__`. @default {} (no metadata entry) */
  metadata?: Record<string, string>;
}

/** JSON like Python's `json.dumps(..., separators=(",", ":"))`: non-ASCII as `\uXXXX`. */
function pythonJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Serialises tensors in map order, byte-identical to the reference's
 * `save_safetensors` for the same names, shapes, values and metadata.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "./safetensors.ts";
 * const n = { dtype: "I64" as const, shape: [], data: new BigInt64Array([5n]) };
 * const bytes = encodeSafetensors(new Map([["bn.num_batches_tracked", n]]), { metadata: { seed: "0" } });
 * const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
 * assert.equal(headerLength % 8, 0); // padded with spaces, as the reference does
 * assert.equal(bytes.length, 8 + headerLength + 8); // one 8-byte I64
 * ```
 */
export function encodeSafetensors(state: StateDict, options: EncodeSafetensorsOptions = {}): Uint8Array {
  const { metadata } = options;
  // Built by hand so that integer-like names keep their order (a JS object would sort them first).
  const parts: string[] = [];
  let offset = 0;
  for (const [name, t] of state) {
    if (name === METADATA_KEY) throw new SafetensorsError(`Tensor name '${METADATA_KEY}' is reserved`);
    const rightClass = t.dtype === "F32"
      ? t.data instanceof Float32Array
      : t.dtype === "I64" && t.data instanceof BigInt64Array;
    if (!rightClass) {
      throw new SafetensorsError(
        `Tensor '${name}' has dtype '${t.dtype}' with a ${t.data.constructor.name}: expected F32 with ` +
          `Float32Array or I64 with BigInt64Array`,
      );
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || t.data.length !== numel(t.shape)) {
      throw new SafetensorsError(
        `Tensor '${name}' holds ${t.data.length} values for shape ${JSON.stringify(t.shape)}`,
      );
    }
    const end = offset + t.data.byteLength;
    parts.push(
      `${pythonJson(name)}:${pythonJson({ dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] })}`,
    );
    offset = end;
  }
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw new SafetensorsError(`Metadata value for '${k}' is ${JSON.stringify(v)}, expected a string`);
      }
    }
    parts.push(`${pythonJson(METADATA_KEY)}:${pythonJson(metadata)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(HEADER_LENGTH_BYTES + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, HEADER_LENGTH_BYTES);
  out.fill(0x20, HEADER_LENGTH_BYTES + json.length, HEADER_LENGTH_BYTES + headerLength);
  let pos = HEADER_LENGTH_BYTES + headerLength;
  for (const t of state.values()) {
    const view = new DataView(out.buffer, pos, t.data.byteLength);
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    } else if (t.data instanceof Float32Array) {
      t.data.forEach((v, i) => view.setFloat32(i * 4, v, true));
    } else {
      t.data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
    }
    pos += t.data.byteLength;
  }
  return out;
}

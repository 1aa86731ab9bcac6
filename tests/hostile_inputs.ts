/**
 * Hostile inputs made in memory, for the readers' tests and
 * `bench/hostile_inputs.ts`: pickles that share or nest values without
 * bound, zip archives whose directory lies about sizes, deflate streams that
 * inflate a thousand-fold, PNG headers declaring huge images, safetensors
 * headers nested a million deep. Each is a few bytes to a few megabytes,
 * built without ever allocating what it expands to.
 *
 * @module
 */
import { crc32 } from "../lib/data/crc32.ts";
import { encodeSafetensors } from "../lib/formats/safetensors.ts";
import type { StateDict } from "../lib/formats/state_dict.ts";

/** Pickle opcodes used below. */
export const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  LIST: 0x6c,
  APPEND: 0x61,
  APPENDS: 0x65,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  BININT1: 0x4b,
  BININT: 0x4a,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  LONG_BINPUT: 0x72,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  NEWFALSE: 0x89,
  POP: 0x30,
} as const;

/** Little-endian u16 bytes. */
function u16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

/** Little-endian u32 bytes. */
function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** Grows a byte array without the 64k-argument limit of `push(...bytes)`. */
class Bytes {
  #buf = new Uint8Array(1024);
  length = 0;
  push(...values: number[]): this {
    return this.append(values);
  }
  append(values: ArrayLike<number>): this {
    if (this.length + values.length > this.#buf.length) {
      const next = new Uint8Array(Math.max(2 * this.#buf.length, this.length + values.length));
      next.set(this.#buf.subarray(0, this.length));
      this.#buf = next;
    }
    this.#buf.set(values, this.length);
    this.length += values.length;
    return this;
  }
  /** SHORT_BINUNICODE. */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.push(0x8c, b.length).append(b);
  }
  global(module: string, name: string): this {
    return this.push(0x63).append(new TextEncoder().encode(`${module}\n${name}\n`));
  }
  bytes(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/**
 * Pushes a list that holds `leaves` small integers when written out, in
 * `levels` doubling steps: `L0 = [1, 1, ...]` (`leaves` ints), then
 * `L(i+1) = [L(i), L(i)]` through the memo. About 14 bytes a level:
 * 1,000 ints doubled 19 times is 524 million integers in 300 bytes.
 */
function pushDag(p: Bytes, leaves: number, levels: number, memoBase: number): void {
  p.push(OP.EMPTY_LIST, OP.LONG_BINPUT, ...u32(memoBase), OP.MARK);
  for (let i = 0; i < leaves; i++) p.push(OP.BININT1, 1);
  p.push(OP.APPENDS);
  for (let i = 1; i <= levels; i++) {
    p.push(
      OP.POP,
      OP.MARK,
      OP.LONG_BINGET,
      ...u32(memoBase + i - 1),
      OP.LONG_BINGET,
      ...u32(memoBase + i - 1),
    );
    p.push(OP.LIST, OP.LONG_BINPUT, ...u32(memoBase + i));
  }
}

/** Pushes a value nested `depth` deep, one byte a level: `((((),),),)`. */
function pushDeep(p: Bytes, depth: number): void {
  p.push(OP.EMPTY_TUPLE);
  for (let i = 0; i < depth; i++) p.push(OP.TUPLE1);
}

/** Where a hostile value goes in a state_dict pickle. */
export type PickleSlot = "size" | "persistent id" | "key" | "top-level key";

/**
 * A protocol-2 `data.pkl` of a state dict `{name: tensor}` with `value`
 * (built by `push`) placed in `slot`: as the tensor's size tuple, as its
 * storage's persistent id, as the state dict key, or as a second key of the
 * top-level dict. The storage it names is `archive/data/0`, 4 float32s.
 */
function stateDictPickle(slot: PickleSlot, push: (p: Bytes) => void): Uint8Array {
  const p = new Bytes().push(OP.PROTO, 2, OP.EMPTY_DICT);
  if (slot === "top-level key") {
    // A top-level dict that is neither a state dict nor holds one under 'net': its keys get listed.
    push(p);
    return p.push(OP.EMPTY_DICT, OP.SETITEM, OP.STOP).bytes();
  }
  if (slot === "key") push(p);
  else p.str("w");
  p.global("torch._utils", "_rebuild_tensor_v2").push(OP.MARK);
  if (slot === "persistent id") push(p);
  else {
    p.push(OP.MARK).str("storage").global("torch", "FloatStorage").str("0").str("cpu");
    p.push(OP.BININT1, 4, OP.TUPLE);
  }
  p.push(OP.BINPERSID, OP.BININT1, 0);
  if (slot === "size") push(p);
  else p.push(OP.BININT1, 4, OP.TUPLE1);
  p.push(OP.BININT1, 1, OP.TUPLE1, OP.NEWFALSE, OP.EMPTY_DICT, OP.TUPLE, OP.REDUCE, OP.SETITEM, OP.STOP);
  return p.bytes();
}

/**
 * A state-dict pickle whose `slot` holds a list of 524 million small
 * integers once written out (shared, so 300 bytes here): anything that
 * stringifies it (`String`, `JSON.stringify`) runs out of memory.
 */
export function dagPickle(slot: PickleSlot, levels = 19, leaves = 1000): Uint8Array {
  return stateDictPickle(slot, (p) => pushDag(p, leaves, levels, 100));
}

/** A valid state-dict pickle `{"w": <4 float32s in archive/data/0>}`, for {@linkcode pthWith}. */
export function smallStatePickle(): Uint8Array {
  return stateDictPickle("size", (p) => p.push(OP.BININT1, 4, OP.TUPLE1));
}

/** A state-dict pickle whose `slot` holds a tuple nested `depth` deep (1 byte a level). */
export function deepPickle(slot: PickleSlot, depth = 1_000_000): Uint8Array {
  return stateDictPickle(slot, (p) => pushDeep(p, depth));
}

/** A pickle that builds `count` empty dicts in one list (2 bytes each, ~100 bytes of memory each). */
export function manyDictsPickle(count: number): Uint8Array {
  const p = new Bytes().push(OP.PROTO, 2, OP.EMPTY_LIST);
  for (let i = 0; i < count; i++) p.push(OP.EMPTY_DICT, OP.APPEND);
  return p.push(OP.STOP).bytes();
}

/** One entry of {@linkcode makeZip}. */
export interface RawZipEntry {
  name: string;
  /** The bytes stored in the archive (compressed when `method` is 8). */
  data: Uint8Array;
  /** 0 stored, 8 deflated. @default 0 */
  method?: number;
  /** The inflated size the directory declares. @default data.length */
  size?: number;
  /** The CRC-32 the directory declares. @default crc32(data), right for a stored entry */
  crc?: number;
}

/** Little-endian u64 bytes of a safe integer. */
function u64(v: number): number[] {
  return [...u32(v % 2 ** 32), ...u32(Math.floor(v / 2 ** 32))];
}

/**
 * A zip archive written byte by byte, so its directory can say whatever a
 * test needs (sizes that lie, CRCs that do not match); with `zip64`, every
 * size and offset goes in zip64 extra fields and records, as a writer does
 * for archives over 4 GiB.
 */
export function makeZip(entries: RawZipEntry[], options: { zip64?: boolean } = {}): Uint8Array {
  const zip64 = options.zip64 ?? false;
  const out = new Bytes();
  const central = new Bytes();
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const method = e.method ?? 0;
    const size = e.size ?? e.data.length;
    const crc = e.crc ?? crc32(e.data);
    const offset = out.length;
    const sizes = zip64 ? [...u32(0xffffffff), ...u32(0xffffffff)] : [...u32(e.data.length), ...u32(size)];
    const common = [20, 0, 0, 0, method, 0, 0, 0, 0, 0, ...u32(crc), ...sizes];
    const localExtra = zip64 ? [1, 0, 16, 0, ...u64(size), ...u64(e.data.length)] : [];
    const centralExtra = zip64 ? [1, 0, 24, 0, ...u64(size), ...u64(e.data.length), ...u64(offset)] : [];
    out.push(0x50, 0x4b, 3, 4, ...common, ...u16(name.length), ...u16(localExtra.length))
      .append(name).push(...localExtra).append(e.data);
    // Then: comment length, disk, internal and external attributes, the local header's offset.
    central.push(0x50, 0x4b, 1, 2, 20, 0, ...common, ...u16(name.length), ...u16(centralExtra.length))
      .push(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u32(zip64 ? 0xffffffff : offset)).append(name).push(
        ...centralExtra,
      );
  }
  const dirOffset = out.length;
  out.append(central.bytes());
  const n = entries.length;
  if (zip64) {
    const record = out.length;
    out.push(0x50, 0x4b, 6, 6, ...u64(44), 45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    out.push(...u64(n), ...u64(n), ...u64(central.length), ...u64(dirOffset));
    out.push(0x50, 0x4b, 6, 7, 0, 0, 0, 0, ...u64(record), 1, 0, 0, 0);
    out.push(
      0x50,
      0x4b,
      5,
      6,
      0,
      0,
      0,
      0,
      0xff,
      0xff,
      0xff,
      0xff,
      ...u32(0xffffffff),
      ...u32(0xffffffff),
      0,
      0,
    );
  } else {
    out.push(
      0x50,
      0x4b,
      5,
      6,
      0,
      0,
      0,
      0,
      ...u16(n),
      ...u16(n),
      ...u32(central.length),
      ...u32(dirOffset),
      0,
      0,
    );
  }
  return out.bytes();
}

/** Writes bits least-significant first, as deflate packs them. */
class BitWriter {
  #out: Uint8Array;
  #pos = 0;
  #bit = 0;
  constructor(capacity: number) {
    this.#out = new Uint8Array(capacity);
  }
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.#push((value >> i) & 1);
  }
  /** A Huffman code, which deflate stores most-significant bit first. */
  code(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) this.#push((value >> i) & 1);
  }
  #push(b: number): void {
    this.#out[this.#pos] |= b << this.#bit;
    if (++this.#bit === 8) [this.#bit, this.#pos] = [0, this.#pos + 1];
  }
  bytes(): Uint8Array {
    return this.#out.slice(0, this.#pos + (this.#bit ? 1 : 0));
  }
}

/**
 * A raw deflate stream of `n` zero bytes (n >= 1), written directly in
 * fixed-Huffman codes: a literal 0, then copies of 258 bytes at distance 1
 * (13 bits each), so 1 GiB takes 6.8 MB and nothing of that gigabyte is
 * ever allocated here.
 */
export function deflateZeros(n: number): Uint8Array {
  const copies = Math.floor((n - 1) / 258);
  const rest = (n - 1) % 258;
  const w = new BitWriter(Math.ceil((16 + 13 * (copies + 1) + 7) / 8) + 4);
  w.bits(1, 1); // BFINAL
  w.bits(1, 2); // BTYPE 01: fixed Huffman codes
  w.code(0x30, 8); // literal 0
  const copy = (length: number) => {
    // Length codes 257..285 with extra bits; distance code 0 (distance 1), 5 bits.
    const bases = [
      3,
      4,
      5,
      6,
      7,
      8,
      9,
      10,
      11,
      13,
      15,
      17,
      19,
      23,
      27,
      31,
      35,
      43,
      51,
      59,
      67,
      83,
      99,
      115,
      131,
      163,
      195,
      227,
      258,
    ];
    const extra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    let k = bases.length - 1;
    while (bases[k] > length) k--;
    const symbol = 257 + k;
    if (symbol < 280) w.code(symbol - 256, 7);
    else w.code(0xc0 + symbol - 280, 8);
    w.bits(length - bases[k], extra[k]);
    w.code(0, 5);
  };
  for (let i = 0; i < copies; i++) copy(258);
  if (rest >= 3) copy(rest);
  else for (let i = 0; i < rest; i++) w.code(0x30, 8);
  w.code(0, 7); // end of block
  return w.bytes();
}

/** A zlib stream (as PNG's image data) of `n` zero bytes: header, {@linkcode deflateZeros}, Adler-32. */
export function zlibZeros(n: number): Uint8Array {
  const body = deflateZeros(n);
  const out = new Uint8Array(2 + body.length + 4);
  out.set([0x78, 0x01]);
  out.set(body, 2);
  // Adler-32 of n zeros: a stays 1, b adds 1 per byte.
  const b = n % 65521;
  new DataView(out.buffer).setUint32(2 + body.length, ((b << 16) | 1) >>> 0);
  return out;
}

/**
 * A `.pth` (zip) whose `archive/data.pkl` is `pickle`, with a 4-float32
 * storage `archive/data/0` and any `extra` entries.
 */
export function pthWith(pickle: Uint8Array, extra: RawZipEntry[] = []): Uint8Array {
  return makeZip([
    { name: "archive/data.pkl", data: pickle },
    { name: "archive/data/0", data: new Uint8Array(16) },
    ...extra,
    { name: "archive/version", data: new TextEncoder().encode("3\n") },
  ]);
}

/** A PNG chunk with its CRC. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Joins byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * An 8-bit greyscale PNG of `width` x `height` with valid CRCs whose image
 * data is `idat` (by default: zeros, exactly as many scanline bytes as the
 * header needs, which is megabytes of deflate for a huge image; pass a small
 * stream to make a tiny file that only declares a huge image), plus any
 * `extra` chunks before it.
 */
export function makePng(
  width: number,
  height: number,
  options: { idat?: Uint8Array; extra?: Uint8Array[]; interlace?: boolean } = {},
): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 0, 0, 0, options.interlace ? 1 : 0], 8); // depth 8, greyscale, deflate, filter 0, interlace
  const idat = options.idat ?? zlibZeros(height * (width + 1));
  return concat([
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    pngChunk("IHDR", ihdr),
    ...(options.extra ?? []),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** A safetensors file whose JSON header is `header` verbatim, with `data` after it. */
export function safetensorsWithHeader(header: string, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** A safetensors header whose one tensor's shape is an array nested `depth` deep (2 bytes a level). */
export function nestedShapeSafetensors(depth = 1_000_000): Uint8Array {
  const shape = "[".repeat(depth) + "]".repeat(depth);
  return safetensorsWithHeader(`{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`);
}

/** An exp1 model file: the tensors `state`, the metadata config `config` (any JSON). */
export function mlpFile(state: StateDict, config: unknown): Uint8Array {
  return encodeSafetensors(state, {
    metadata: { format: "pt", model: "mlp", config: JSON.stringify(config) },
  });
}

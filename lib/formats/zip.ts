/**
 * A bounded zip reader for the containers `torch.save` writes: the central
 * directory is read and checked first (every entry's name, method and byte
 * range, zip64 included), and an entry's bytes only when asked for, one at a
 * time. Stored entries are views of the input; deflated ones are inflated in
 * small steps with a running count that stops at the size the directory
 * declares, so an entry that declares 100 bytes and inflates to a gigabyte
 * costs at most one step past 100 bytes. CRC-32s are checked. Pure.
 *
 * @module
 */
import { crc32 } from "../data/crc32.ts";
import { inflateBounded, InflateError } from "../data/inflate.ts";
import { preview, quoteName } from "../runtime/quote.ts";

/**
 * Thrown for a malformed, unsupported or over-large zip archive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readZipDirectory, ZipError } from "./zip.ts";
 * assert.throws(() => readZipDirectory(new Uint8Array(30), { source: "x.pth" }), ZipError);
 * ```
 */
export class ZipError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ZipError";
  }
}

/** One file of the archive as its central directory describes it. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated. */
  name: string;
  /** 0 stored, 8 deflated (the only two accepted). */
  method: 0 | 8;
  /** Bytes the entry occupies in the archive. */
  compressedSize: number;
  /** Bytes it holds once inflated, as declared. */
  size: number;
  /** Declared CRC-32 of the inflated bytes. */
  crc32: number;
  /** Offset of the entry's (compressed) data in the archive. */
  dataOffset: number;
}

/** Options for {@linkcode readZipDirectory}. */
export interface ReadZipDirectoryOptions {
  /** File name used in error messages. @default "zip" */
  source?: string;
  /** Most entries accepted; a torch checkpoint holds one per storage plus three (a ResNet20 about 120). @default 10000 */
  maxEntries?: number;
}

/** Options for {@linkcode readZipEntry}. */
export interface ReadZipEntryOptions {
  /** File name used in error messages. @default "zip" */
  source?: string;
  /** Largest entry accepted, in inflated bytes; checked against the declared size before inflating. @default 268435456 */
  maxBytes?: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

function u64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  // Beyond 2^53 no offset or size can be inside an in-memory archive.
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
}

/**
 * Reads and checks the central directory of a zip archive: the entries by
 * name, each with a byte range inside `bytes`, a local header that agrees
 * with it, method stored or deflate, no encryption, and a safe relative path
 * (no absolute, drive, backslash, `.` or `..` parts). Nothing is inflated.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zipSync } from "fflate";
 * import { readZipDirectory } from "./zip.ts";
 * const zip = zipSync({ "archive/version": new TextEncoder().encode("3\n") });
 * const entries = readZipDirectory(zip, { source: "tiny.pth" });
 * assert.deepEqual([...entries.keys()], ["archive/version"]);
 * assert.equal(entries.get("archive/version")!.size, 2);
 * ```
 */
export function readZipDirectory(
  bytes: Uint8Array,
  options: ReadZipDirectoryOptions = {},
): Map<string, ZipEntry> {
  const { source = "zip", maxEntries = 10_000 } = options;
  const fail = (message: string): never => {
    throw new ZipError(`${message} in '${source}'`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  // The end record is 22 bytes plus a comment of at most 65535.
  let eocd = -1;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD && i + 22 + view.getUint16(i + 20, true) === n) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail(`Truncated or corrupt zip (no end of central directory record)`);
  let count: number = view.getUint16(eocd + 10, true);
  let dirSize: number = view.getUint32(eocd + 12, true);
  let dirOffset: number = view.getUint32(eocd + 16, true);
  let dirEnd = eocd;
  if (count === 0xffff || dirSize === U32_MAX || dirOffset === U32_MAX) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== ZIP64_LOCATOR) {
      fail(`Zip64 end of central directory locator is missing`);
    }
    const at = u64(view, locator + 8);
    if (!(at + 56 <= locator) || view.getUint32(at, true) !== ZIP64_EOCD) {
      fail(`Zip64 end of central directory record at ${at} is missing or out of range`);
    }
    count = u64(view, at + 32);
    dirSize = u64(view, at + 40);
    dirOffset = u64(view, at + 48);
    dirEnd = at;
  }
  if (!(dirOffset + dirSize <= dirEnd)) {
    fail(`Zip central directory [${dirOffset}, ${dirOffset + dirSize}) is outside the archive`);
  }
  // Each central entry takes at least 46 bytes.
  if (count > maxEntries || count * 46 > dirSize) {
    fail(
      `Zip declares ${count} entries: more than ${maxEntries} or than its ${dirSize}-byte directory holds`,
    );
  }
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const entries = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > dirOffset + dirSize || view.getUint32(p, true) !== CENTRAL) {
      fail(`Zip central directory entry ${k} at byte ${p} is malformed`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize: number = view.getUint32(p + 20, true);
    let size: number = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localOffset: number = view.getUint32(p + 42, true);
    const next = p + 46 + nameLength + extraLength + commentLength;
    if (next > dirOffset + dirSize) fail(`Zip central directory entry ${k} runs past the directory`);
    let name: string;
    try {
      name = utf8.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    } catch {
      return fail(`Zip entry ${k} has a name that is not UTF-8`);
    }
    const where = `Zip entry ${quoteName(name)}`;
    // Zip64: the 64-bit values stand in an extra field, in this order, for the fields set to 0xffffffff.
    if (size === U32_MAX || compressedSize === U32_MAX || localOffset === U32_MAX) {
      let e = p + 46 + nameLength;
      const end = e + extraLength;
      let found = false;
      while (e + 4 <= end) {
        const id = view.getUint16(e, true);
        const length = view.getUint16(e + 2, true);
        if (e + 4 + length > end) break;
        if (id === 1) {
          let q = e + 4;
          const take = (): number => {
            if (q + 8 > e + 4 + length) return fail(`${where} has a short zip64 extra field`);
            const v = u64(view, q);
            q += 8;
            return v;
          };
          if (size === U32_MAX) size = take();
          if (compressedSize === U32_MAX) compressedSize = take();
          if (localOffset === U32_MAX) localOffset = take();
          found = true;
          break;
        }
        e += 4 + length;
      }
      if (!found) fail(`${where} lacks the zip64 extra field its sizes call for`);
    }
    if (flags & 1) fail(`${where} is encrypted`);
    if (method !== 0 && method !== 8) {
      fail(`${where} uses compression method ${method}, expected stored (0) or deflate (8)`);
    }
    if (method === 0 && compressedSize !== size) {
      fail(`${where} is stored but declares ${compressedSize} bytes in the archive and ${size} inflated`);
    }
    if (
      name.length === 0 || name.startsWith("/") || name.includes("\\") || /^[A-Za-z]:/.test(name) ||
      name.split("/").some((part) => part === ".." || part === ".")
    ) {
      fail(`Refusing zip entry ${quoteName(name)}: absolute, backslash or '..' paths are not allowed`);
    }
    if (entries.has(name)) fail(`${where} appears twice`);
    if (!(localOffset + 30 <= dirOffset) || view.getUint32(localOffset, true) !== LOCAL) {
      fail(`${where} has no local header at byte ${localOffset}`);
    }
    const localNameLength = view.getUint16(localOffset + 26, true);
    const localName = bytes.subarray(localOffset + 30, localOffset + 30 + localNameLength);
    const centralName = bytes.subarray(p + 46, p + 46 + nameLength);
    if (localNameLength !== nameLength || !localName.every((b, i) => b === centralName[i])) {
      fail(`${where} has a different name in its local header`);
    }
    const dataOffset = localOffset + 30 + localNameLength + view.getUint16(localOffset + 28, true);
    if (!(dataOffset + compressedSize <= dirOffset)) {
      fail(`${where} data [${dataOffset}, ${dataOffset + compressedSize}) runs past the archive's data`);
    }
    entries.set(name, { name, method: method as 0 | 8, compressedSize, size, crc32: crc, dataOffset });
    p = next;
  }
  return entries;
}

/**
 * The bytes of one entry found by {@linkcode readZipDirectory}: a view for a
 * stored entry, a fresh array for a deflated one. The declared size is
 * checked against `maxBytes` before any work, inflation stops as soon as it
 * passes the declared size, and the result must match the declared size and
 * CRC-32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zipSync } from "fflate";
 * import { readZipDirectory, readZipEntry } from "./zip.ts";
 * const zip = zipSync({ "a/data/0": [new Uint8Array(1000).fill(7), { level: 9 }] });
 * const entry = readZipDirectory(zip).get("a/data/0")!;
 * assert.equal(readZipEntry(zip, entry).length, 1000);
 * assert.throws(() => readZipEntry(zip, entry, { maxBytes: 999, source: "x.pth" }), {
 *   name: "ZipError",
 *   message: "Zip entry 'a/data/0' declares 1000 bytes, more than the 999 allowed in 'x.pth'",
 * });
 * ```
 */
export function readZipEntry(
  bytes: Uint8Array,
  entry: ZipEntry,
  options: ReadZipEntryOptions = {},
): Uint8Array {
  const { source = "zip", maxBytes = 256 * 2 ** 20 } = options;
  const where = `Zip entry ${quoteName(entry.name)}`;
  const fail = (message: string): never => {
    throw new ZipError(`${where} ${message} in '${source}'`);
  };
  if (entry.size > maxBytes) fail(`declares ${entry.size} bytes, more than the ${maxBytes} allowed`);
  const packed = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    out = packed;
  } else {
    try {
      out = inflateBounded([packed], entry.size);
    } catch (e) {
      if (!(e instanceof InflateError)) throw e;
      if (e.reason === "long") fail(`inflates to more than the ${entry.size} bytes it declares`);
      if (e.reason === "short") fail(`inflates to ${e.inflated} bytes, not the ${entry.size} it declares`);
      return fail(`is not valid deflate data (${preview((e.cause as Error).message)})`);
    }
  }
  const actual = crc32(out);
  if (actual !== entry.crc32) {
    fail(
      `has CRC-32 ${actual.toString(16).padStart(8, "0")}, not the ${
        entry.crc32.toString(16).padStart(8, "0")
      } it declares`,
    );
  }
  return out;
}

/**
 * Whether `bytes` start as a zip does, with a local file header
 * (`PK\x03\x04`): how a `.pth` (`torch.save`'s zip) is told from
 * safetensors by its bytes, not its name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isZip } from "./zip.ts";
 * assert.equal(isZip(Uint8Array.of(0x50, 0x4b, 3, 4, 20)), true);
 * assert.equal(isZip(new TextEncoder().encode("{}")), false);
 * ```
 */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;
}

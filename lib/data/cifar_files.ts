// Touches the disk and the network: finds, reads and downloads the CIFAR-10 files.
/**
 * Loading CIFAR-10 from a folder of the official binary files (or of
 * torchvision's python files), downloading and checking the official tarball
 * when asked to.
 *
 * The folder given may be the one holding the files, or a parent of
 * `cifar-10-batches-bin/` or `cifar-10-batches-py/` ({@linkcode locateCifar10}).
 * Every file read must be a regular, non-empty file of the right size; the
 * python files are md5-checked, then decoded by a function the caller passes
 * (`lib/formats/cifar_python.ts`: pickles are a file format, read after this
 * layer). Nothing is downloaded unless the caller says so.
 *
 * The archive logic ({@linkcode extractCifarTarball}) is a pure function of
 * bytes; the rest is thin disk and fetch code around it and
 * `parseCifarBatch`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { unpackTar } from "modern-tar";
import {
  cifarRecordCount,
  type CifarSplit,
  CLASS_NAMES,
  concatSplits,
  parseCifarBatch,
  RECORD_BYTES,
  TEST_FILE,
  TRAIN_FILES,
} from "./cifar.ts";
import { readEnv, userPath } from "../runtime/env.ts";
import { exists, FileReadError, readFileNamed, writeFileAtomic } from "../runtime/files.ts";

/** Where the official binary tarball is downloaded from. */
export const CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/** md5 of the official `cifar-10-binary.tar.gz`. */
export const CIFAR_TARBALL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
/** md5 of each official `.bin` file. */
export const CIFAR_FILE_MD5: Readonly<Record<string, string>> = Object.freeze({
  "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
  "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
  "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
  "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
  "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
  "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
});
/** The folder inside the tarball that holds the files. */
export const CIFAR_ARCHIVE_DIR = "cifar-10-batches-bin";
/** The class-names file extracted alongside the batches (checked by content, no official md5 is published). */
export const CIFAR_META_FILE = "batches.meta.txt";
/** The seven files extracted from the tarball. */
export const CIFAR_FILES: readonly string[] = Object.freeze([
  ...TRAIN_FILES,
  TEST_FILE,
  CIFAR_META_FILE,
]);
/** Folder used when neither `--data-dir` nor `CIFAR10_DIR` is given. */
export const DEFAULT_CIFAR_DIR = "data/cifar-10-batches-bin";
/** torchvision's folder of the python version. */
export const CIFAR_PY_DIR = "cifar-10-batches-py";
/** md5 of each file of torchvision's `cifar-10-batches-py` (as torchvision checks them). */
export const CIFAR_PY_MD5: Readonly<Record<string, string>> = Object.freeze({
  data_batch_1: "c99cafc152244af753f735de768cd75f",
  data_batch_2: "d4bba439e000b95fd0a9bffe97cbabec",
  data_batch_3: "54ebc095f3ab1f0389bbae665268c751",
  data_batch_4: "634d18415352ddfa80567beed471001a",
  data_batch_5: "482c414d41f54cd18b22e5b47cb7c3cb",
  test_batch: "40351d587109b95175f43aff81a1287e",
});
/**
 * Largest file of the python version read, in bytes: each official one is
 * about 31 MB (10000 images of 3072 bytes, pickled), so twice that.
 */
const MAX_CIFAR_PY_FILE_BYTES = 64 * 2 ** 20;
/** Size of the official tarball, for progress before the server says. */
export const CIFAR_TARBALL_BYTES = 170_052_171;

/**
 * Thrown when the tarball or one of its entries fails a check.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CifarArchiveError, extractCifarTarball } from "./cifar_files.ts";
 * // Bytes that are not the official tarball fail its md5 check.
 * await assert.rejects(extractCifarTarball(new Uint8Array(16)), CifarArchiveError);
 * ```
 */
export class CifarArchiveError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CifarArchiveError";
  }
}

/**
 * Thrown when the CIFAR-10 files are missing and cannot be downloaded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CifarFilesError, loadCifar10 } from "./cifar_files.ts";
 * const dir = await Deno.makeTempDir(); // empty
 * await assert.rejects(loadCifar10(dir, { download: false }), CifarFilesError);
 * await Deno.remove(dir);
 * ```
 */
export class CifarFilesError extends Error {
  /** Creates the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CifarFilesError";
  }
}

/** Progress of a download or of writing the extracted files. */
export interface CifarProgress {
  /** What is happening: fetching the tarball, or writing one extracted file. */
  stage: "download" | "write";
  /** Bytes done so far. */
  loaded: number;
  /** Bytes expected in all, when known. */
  total?: number;
  /** The file written, for stage "write". */
  file?: string;
}

/**
 * The CIFAR-10 folder: the `--data-dir` flag value if given, else the
 * `CIFAR10_DIR` environment variable, else {@linkcode DEFAULT_CIFAR_DIR}.
 * Empty values count as not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CIFAR_DIR, resolveCifarDir } from "./cifar_files.ts";
 * assert.equal(resolveCifarDir("/data/cifar"), "/data/cifar");
 * assert.equal(resolveCifarDir(), Deno.env.get("CIFAR10_DIR") || DEFAULT_CIFAR_DIR);
 * ```
 */
export function resolveCifarDir(flag?: string): string {
  if (flag) return flag;
  const env = readEnv("CIFAR10_DIR");
  if (env) return userPath(env);
  return DEFAULT_CIFAR_DIR;
}

/** md5 of bytes, lowercase hex. */
function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** Options for {@linkcode extractCifarTarball}. */
export interface ExtractOptions {
  /**
   * Expected md5 of the gzipped tarball; `null` skips the check.
   * @default {CIFAR_TARBALL_MD5}
   */
  tarballMd5?: string | null;
  /**
   * Expected md5 of each `.bin` file.
   * @default {CIFAR_FILE_MD5}
   */
  fileMd5?: Readonly<Record<string, string>>;
}

/** Whether a tar entry name could escape the extraction folder. */
function unsafeName(name: string): boolean {
  return name.startsWith("/") || name.includes("\\") ||
    /^[A-Za-z]:/.test(name) ||
    name.split("/").some((part) => part === "..");
}

/**
 * Checks and unpacks the official `cifar-10-binary.tar.gz` in memory.
 *
 * Checks the tarball's md5, then accepts only regular files named exactly
 * `cifar-10-batches-bin/<name>` for the seven {@linkcode CIFAR_FILES}, each
 * once, and checks each `.bin` file's md5 and the class names in
 * `batches.meta.txt`. Directories and other regular files with safe names
 * (the archive's `readme.html`) are skipped; links, devices, any other entry
 * type, and any name that is absolute or contains `..` are errors.
 *
 * @returns The seven files' bytes by bare name (e.g. `"test_batch.bin"`).
 * @example
 * ```ts ignore
 * // Needs the real 163 MB tarball (see CifarArchiveError for a check failing).
 * import assert from "node:assert/strict";
 * import { extractCifarTarball } from "./cifar_files.ts";
 * const gz = await Deno.readFile("cifar-10-binary.tar.gz");
 * const files = await extractCifarTarball(gz);
 * assert.equal(files.get("test_batch.bin")!.length, 30730000);
 * ```
 */
export async function extractCifarTarball(
  gzipped: Uint8Array,
  options: ExtractOptions = {},
): Promise<Map<string, Uint8Array>> {
  const tarballMd5 = options.tarballMd5 === undefined ? CIFAR_TARBALL_MD5 : options.tarballMd5;
  const fileMd5 = options.fileMd5 ?? CIFAR_FILE_MD5;
  if (tarballMd5 !== null) {
    const got = md5(gzipped);
    if (got !== tarballMd5) {
      throw new CifarArchiveError(
        `CIFAR-10 tarball has md5 "${got}", expected "${tarballMd5}" (${gzipped.length} bytes): ` +
          `the download is corrupt or not the official cifar-10-binary.tar.gz`,
      );
    }
  }
  let tar: Uint8Array;
  try {
    tar = gunzipSync(gzipped);
  } catch (e) {
    throw new CifarArchiveError(
      `CIFAR-10 tarball is not valid gzip: ${(e as Error).message}`,
    );
  }
  let entries;
  try {
    entries = await unpackTar(tar, { strict: true });
  } catch (e) {
    throw new CifarArchiveError(
      `CIFAR-10 tarball is not a valid tar archive: ${(e as Error).message}`,
    );
  }
  const wanted = new Set(CIFAR_FILES);
  const files = new Map<string, Uint8Array>();
  for (const { header, data } of entries) {
    const name = header.name;
    const type = header.type ?? "file";
    if (unsafeName(name)) {
      throw new CifarArchiveError(
        `CIFAR-10 tarball entry "${name}" has an unsafe path, expected "${CIFAR_ARCHIVE_DIR}/<file>"`,
      );
    }
    if (type === "directory") continue;
    if (type !== "file") {
      throw new CifarArchiveError(
        `CIFAR-10 tarball entry "${name}" is a ${type}, expected only regular files and directories`,
      );
    }
    const prefix = `${CIFAR_ARCHIVE_DIR}/`;
    const bare = name.startsWith(prefix) ? name.slice(prefix.length) : "";
    if (!wanted.has(bare)) continue;
    if (files.has(bare)) {
      throw new CifarArchiveError(
        `CIFAR-10 tarball holds "${name}" more than once`,
      );
    }
    const bytes = data ?? new Uint8Array(0);
    if (bytes.length !== header.size) {
      throw new CifarArchiveError(
        `CIFAR-10 tarball entry "${name}" has ${bytes.length} bytes, its header says ${header.size}`,
      );
    }
    files.set(bare, bytes);
  }
  for (const file of CIFAR_FILES) {
    const bytes = files.get(file);
    if (!bytes) {
      throw new CifarArchiveError(
        `CIFAR-10 tarball lacks "${CIFAR_ARCHIVE_DIR}/${file}", expected all of ${CIFAR_FILES.join(", ")}`,
      );
    }
    if (file === CIFAR_META_FILE) {
      const names = new TextDecoder().decode(bytes).split(/\r?\n/).map((s) => s.trim()).filter((s) => s);
      if (names.join(",") !== CLASS_NAMES.join(",")) {
        throw new CifarArchiveError(
          `CIFAR-10 tarball's "${file}" lists classes "${names.join(",")}", expected "${
            CLASS_NAMES.join(",")
          }"`,
        );
      }
      continue;
    }
    const got = md5(bytes);
    if (got !== fileMd5[file]) {
      throw new CifarArchiveError(
        `CIFAR-10 tarball's "${file}" has md5 "${got}", expected "${fileMd5[file]}"`,
      );
    }
  }
  return files;
}

/** Options for {@linkcode downloadCifar10}. */
export interface DownloadOptions extends ExtractOptions {
  /**
   * Where the tarball is fetched from.
   * @default {CIFAR_URL}
   */
  url?: string;
  /**
   * The fetch function (replaceable in tests).
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /** Called for each received chunk of the tarball (often thousands of times: throttle any printing) and once per file written. */
  onProgress?: (progress: CifarProgress) => void;
  /**
   * Replace files that already exist in `dir`.
   * @default {false}
   */
  overwrite?: boolean;
}

function whereToPutFiles(dir: string): string {
  return `Put the CIFAR-10 binary files (${CIFAR_FILES.join(", ")}) in "${dir}", ` +
    `or point the lab at a folder holding them with --data-dir or the CIFAR10_DIR environment variable`;
}

/**
 * Downloads the official tarball, checks it with
 * {@linkcode extractCifarTarball} and writes the seven files into `dir`
 * (created if needed), each atomically; existing files are kept unless
 * `overwrite`.
 *
 * @returns The names of the files written.
 * @example
 * ```ts ignore
 * // Downloads 163 MB from www.cs.toronto.edu.
 * import { downloadCifar10 } from "./cifar_files.ts";
 * await downloadCifar10("data/cifar-10-batches-bin", {
 *   onProgress: (p) => console.log(p.stage, p.file ?? "", p.loaded, p.total),
 * });
 * ```
 */
export async function downloadCifar10(
  dir: string,
  options: DownloadOptions = {},
): Promise<string[]> {
  const url = options.url ?? CIFAR_URL;
  const fetchFn = options.fetch ?? globalThis.fetch;
  const onProgress = options.onProgress;
  let response: Response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    throw new CifarFilesError(
      `Could not download CIFAR-10 from ${url} (${(e as Error).message}). ${whereToPutFiles(dir)}`,
      { cause: e },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new CifarFilesError(
      `Could not download CIFAR-10 from ${url}: HTTP ${response.status} ${response.statusText}. ${
        whereToPutFiles(dir)
      }`,
    );
  }
  const header = Number(response.headers.get("content-length"));
  const total = Number.isFinite(header) && header > 0 ? header : undefined;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    for await (const chunk of response.body) {
      chunks.push(chunk);
      loaded += chunk.length;
      onProgress?.({ stage: "download", loaded, total });
    }
  } catch (e) {
    throw new CifarFilesError(
      `Download of CIFAR-10 from ${url} broke off after ${loaded} bytes (${(e as Error).message}). ${
        whereToPutFiles(dir)
      }`,
      { cause: e },
    );
  }
  const gz = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    gz.set(c, at);
    at += c.length;
  }
  chunks.length = 0;
  const files = await extractCifarTarball(gz, options);
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, bytes] of files) {
    const path = `${dir}/${name}`;
    if (!options.overwrite && await exists(path)) continue;
    await writeFileAtomic(path, bytes);
    written.push(name);
    onProgress?.({
      stage: "write",
      loaded: bytes.length,
      total: bytes.length,
      file: name,
    });
  }
  return written;
}

/** Where {@linkcode locateCifar10} found the files. */
export interface CifarLocation {
  /** The folder holding them. */
  dir: string;
  /** The official binary files (`data_batch_1.bin`...), or torchvision's python ones (`data_batch_1`...). */
  format: "bin" | "py";
}

/** The file names of `format`: five training files and the test file. */
function fileNames(format: "bin" | "py"): { train: readonly string[]; test: string } {
  return format === "bin"
    ? { train: TRAIN_FILES, test: TEST_FILE }
    : { train: TRAIN_FILES.map((f) => f.replace(/\.bin$/, "")), test: TEST_FILE.replace(/\.bin$/, "") };
}

async function holdsAny(dir: string, names: readonly string[]): Promise<boolean> {
  for (const name of names) if (await exists(`${dir}/${name}`)) return true;
  return false;
}

/**
 * Finds the CIFAR-10 files from `dir`: in it, else in its
 * `cifar-10-batches-bin/`, else in its `cifar-10-batches-py/` (the python
 * version torchvision downloads). Null when `dir` does not exist or none of
 * them holds a CIFAR-10 file; an error when `dir` is a file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { locateCifar10 } from "./cifar_files.ts";
 * const parent = await Deno.makeTempDir();
 * await Deno.mkdir(`${parent}/cifar-10-batches-bin`);
 * await Deno.writeFile(`${parent}/cifar-10-batches-bin/test_batch.bin`, new Uint8Array(3073));
 * assert.deepEqual(await locateCifar10(parent), { dir: `${parent}/cifar-10-batches-bin`, format: "bin" });
 * assert.equal(await locateCifar10(`${parent}/nowhere`), null);
 * await Deno.remove(parent, { recursive: true });
 * ```
 */
export async function locateCifar10(dir: string): Promise<CifarLocation | null> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  if (!stat.isDirectory) {
    throw new CifarFilesError(
      `CIFAR-10 folder "${dir}" is a file, not a folder: give the folder holding ` +
        `${TRAIN_FILES[0]} ... ${TEST_FILE} (or its parent)`,
    );
  }
  const bin = fileNames("bin");
  const py = fileNames("py");
  if (await holdsAny(dir, [...bin.train, bin.test])) return { dir, format: "bin" };
  if (await holdsAny(dir, [...py.train, py.test])) return { dir, format: "py" };
  const inBin = `${dir}/${CIFAR_ARCHIVE_DIR}`;
  if (await holdsAny(inBin, [...bin.train, bin.test])) return { dir: inBin, format: "bin" };
  const inPy = `${dir}/${CIFAR_PY_DIR}`;
  if (await holdsAny(inPy, [...py.train, py.test])) return { dir: inPy, format: "py" };
  return null;
}

/** Options for {@linkcode loadCifar10}. */
export interface LoadCifarOptions {
  /**
   * Use only the first `limitTrain` training records (in file order,
   * `data_batch_1.bin` first); only the files and bytes needed are read.
   * @default {all (50,000)}
   */
  limitTrain?: number;
  /**
   * Use only the first `limitTest` test records.
   * @default {all (10,000)}
   */
  limitTest?: number;
  /**
   * Download the official tarball into `dir` when no CIFAR-10 files are
   * found there (or a needed binary file is missing). Labs allow it for the
   * default folder and with `--download` only, so that a mistyped path
   * never starts a 170 MB download.
   * @default {false}
   */
  download?: boolean;
  /**
   * What to tell the user instead of "add --download" when files are
   * missing and `download` is off.
   * @default {"add --download to fetch the official archive (170 MB) into it"}
   */
  downloadHint?: string;
  /** Download progress, see {@linkcode downloadCifar10}. */
  onProgress?: (progress: CifarProgress) => void;
  /**
   * The fetch function used for a download (replaceable in tests).
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Decodes one file of torchvision's python version (`decodeCifarPython`
   * of `lib/formats/cifar_python.ts`); without it such a folder is an error
   * that says what to do.
   */
  decodePython?: (bytes: Uint8Array, source: string) => CifarSplit;
  /**
   * Expected md5 of each python file; `null` skips the check (tests).
   * @default {CIFAR_PY_MD5}
   */
  pythonMd5?: Readonly<Record<string, string>> | null;
}

/** What {@linkcode loadCifar10} returns. */
export interface LoadedCifar {
  train: CifarSplit;
  test: CifarSplit;
  /** Where the files were read from (may be inside the folder given). */
  dir: string;
  format: "bin" | "py";
  /** Whether they were downloaded by this call. */
  downloaded: boolean;
}

/** Reads the first `length` bytes of a file. */
async function readPrefix(path: string, length: number): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const bytes = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await file.read(bytes.subarray(at));
    if (n === null) {
      throw new CifarFilesError(
        `File "${path}" ended after ${at} bytes, expected ${length}`,
      );
    }
    at += n;
  }
  return bytes;
}

/**
 * The size of a regular, non-empty data file; errors name it otherwise. Only
 * a precheck with CIFAR's messages: whole files are then read by
 * {@linkcode readDataFile}, which checks them again as it opens them.
 */
async function dataFileSize(path: string, dir: string): Promise<number> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new CifarFilesError(`CIFAR-10 file "${path}" is missing. ${whereToPutFiles(dir)}`);
  }
  // A FIFO would block the read forever; a folder or device is not data.
  if (!stat.isFile) {
    throw new CifarFilesError(`CIFAR-10 file "${path}" is not a regular file (a folder, FIFO or device)`);
  }
  if (stat.size === 0) {
    throw new CifarFilesError(
      `CIFAR-10 file "${path}" is empty (0 bytes): replace it with the official file`,
    );
  }
  return stat.size;
}

/** All of a data file, by the one bounded reader (`readFileNamed`), its refusals as {@linkcode CifarFilesError}. */
async function readDataFile(path: string, maxBytes: number): Promise<Uint8Array> {
  try {
    return await readFileNamed(path, "CIFAR-10 file", { maxBytes });
  } catch (e) {
    if (e instanceof FileReadError) throw new CifarFilesError(e.message);
    throw e;
  }
}

/** Reads up to `limit` records from binary `files` in order, reading only what is needed. */
async function readSplit(
  dir: string,
  files: readonly string[],
  limit: number,
): Promise<CifarSplit> {
  const parts: CifarSplit[] = [];
  let remaining = limit;
  for (const file of files) {
    if (remaining <= 0) break;
    const path = `${dir}/${file}`;
    const size = await dataFileSize(path, dir);
    const records = cifarRecordCount(size, { source: path });
    const take = Math.min(records, remaining);
    const bytes = take === records
      ? await readDataFile(path, size)
      : await readPrefix(path, take * RECORD_BYTES);
    parts.push(parseCifarBatch(bytes, { source: path, expectedRecords: take }));
    remaining -= take;
  }
  return parts.length === 1 ? parts[0] : concatSplits(parts);
}

/** Reads up to `limit` records from python `files` in order (each is read whole: it is one pickle). */
async function readPythonSplit(
  dir: string,
  files: readonly string[],
  limit: number,
  options: LoadCifarOptions,
): Promise<CifarSplit> {
  const decode = options.decodePython;
  if (!decode) {
    throw new CifarFilesError(
      `"${dir}" holds torchvision's python version of CIFAR-10, which this task does not read: ` +
        `point it at the binary files (cifar-10-batches-bin), or let a lab download them`,
    );
  }
  const expected = options.pythonMd5 === undefined ? CIFAR_PY_MD5 : options.pythonMd5;
  const parts: CifarSplit[] = [];
  let remaining = limit;
  for (const file of files) {
    if (remaining <= 0) break;
    const path = `${dir}/${file}`;
    await dataFileSize(path, dir);
    const bytes = await readDataFile(path, MAX_CIFAR_PY_FILE_BYTES);
    if (expected !== null) {
      const got = md5(bytes);
      if (got !== expected[file]) {
        throw new CifarFilesError(
          `CIFAR-10 file "${path}" has md5 "${got}", expected "${expected[file]}" (torchvision's ` +
            `${CIFAR_PY_DIR}): the file is damaged or not the official one`,
        );
      }
    }
    const split = decode(bytes, path);
    const take = Math.min(split.count, remaining);
    parts.push(
      take === split.count ? split : {
        images: split.images.subarray(0, take * split.images.length / split.count),
        labels: split.labels.subarray(0, take),
        count: take,
      },
    );
    remaining -= take;
  }
  return parts.length === 1 ? parts[0] : concatSplits(parts);
}

function checkLimit(name: string, value: number | undefined): number {
  if (value === undefined) return Infinity;
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Option ${name} must be a non-negative integer, got ${value}`,
    );
  }
  return value;
}

/**
 * Loads CIFAR-10 from `dir` ({@linkcode locateCifar10}: the folder holding
 * the files, or a parent of `cifar-10-batches-bin/` or
 * `cifar-10-batches-py/`), downloading the official tarball into `dir` first
 * when there are none and `download` is on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RECORD_BYTES } from "./cifar.ts";
 * import { loadCifar10 } from "./cifar_files.ts";
 * // Two-record stand-ins for the first training file and the test file.
 * const dir = await Deno.makeTempDir();
 * await Deno.writeFile(`${dir}/data_batch_1.bin`, new Uint8Array(2 * RECORD_BYTES));
 * await Deno.writeFile(`${dir}/test_batch.bin`, new Uint8Array(2 * RECORD_BYTES));
 * const { train, test } = await loadCifar10(dir, { limitTrain: 2, limitTest: 1 });
 * assert.equal(train.count, 2);
 * assert.equal(test.count, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadCifar10(
  dir: string,
  options: LoadCifarOptions = {},
): Promise<LoadedCifar> {
  const limitTrain = checkLimit("limitTrain", options.limitTrain);
  const limitTest = checkLimit("limitTest", options.limitTest);
  const hint = options.downloadHint ?? `add --download to fetch the official archive (170 MB) into it`;
  let location = await locateCifar10(dir);
  let downloaded = false;
  const download = async () => {
    await downloadCifar10(dir, { onProgress: options.onProgress, fetch: options.fetch });
    downloaded = true;
    return { dir, format: "bin" as const };
  };
  if (location === null) {
    if (!options.download) {
      const what = (await exists(dir)) ? `holds no CIFAR-10 files` : `does not exist`;
      throw new CifarFilesError(
        `CIFAR-10 folder "${dir}" ${what} (looked for ${TRAIN_FILES[0]} ... ${TEST_FILE} in it and in its ` +
          `${CIFAR_ARCHIVE_DIR}/ and ${CIFAR_PY_DIR}/): point --data-dir or CIFAR10_DIR at the folder ` +
          `holding them, or ${hint}`,
      );
    }
    location = await download();
  }
  const names = fileNames(location.format);
  // The training files needed: until the limit is reached (sizes are only
  // known once they exist, so count official 10,000-record files).
  const trainNeeded = limitTrain === 0 ? [] : names.train.slice(
    0,
    Math.min(names.train.length, Math.ceil(limitTrain / 10000)),
  );
  const needed = [...trainNeeded, ...(limitTest === 0 ? [] : [names.test])];
  const missing: string[] = [];
  for (const file of needed) {
    if (!await exists(`${location.dir}/${file}`)) missing.push(file);
  }
  if (missing.length > 0) {
    if (!options.download || location.format === "py" || location.dir !== dir) {
      throw new CifarFilesError(
        `CIFAR-10 file "${location.dir}/${missing[0]}" is missing. ${whereToPutFiles(location.dir)}`,
      );
    }
    location = await download();
  }
  const read = (files: readonly string[], limit: number) =>
    location!.format === "bin"
      ? readSplit(location!.dir, files, limit)
      : readPythonSplit(location!.dir, files, limit, options);
  const train = await read(names.train, limitTrain);
  const test = await read([names.test], limitTest);
  return { train, test, dir: location.dir, format: location.format, downloaded };
}

/**
 * Finds and opens the native libraries behind the `native` backend (reads
 * shared libraries from the system's library paths through `Deno.dlopen`):
 * oneDNN 2.x for convolutions and batch norm, else a CBLAS for
 * im2col + sgemm convolutions.
 *
 * Search order: `libdnnl.so.2`, then `libopenblas.so.0`, `libopenblas.so`,
 * `libblas.so.3` (Linux; the dynamic loader's search path), then macOS
 * Accelerate, then Windows DLLs (on `PATH`). `TFJS_LAB_DNNL` and
 * `TFJS_LAB_BLAS` name a library to use instead of searching (`none` skips
 * that kind). oneDNN 3 (Homebrew's, newer distributions') has another C API:
 * it is reported, by version and path, and the BLAS path used. Needs
 * `--allow-ffi`.
 *
 * @module
 */
import { readEnv } from "../runtime/env.ts";
import { Blas } from "./blas.ts";
import { Dnnl, UnsupportedDnnlError } from "./dnnl.ts";

/** oneDNN library names tried, in order (3.x names only to report them as unsupported). */
export const DNNL_CANDIDATES = [
  "libdnnl.so.2",
  "libdnnl.2.dylib",
  "dnnl.dll",
  "libdnnl.so.3",
  "libdnnl.3.dylib",
  "/opt/homebrew/lib/libdnnl.3.dylib",
];

/** CBLAS library names tried, in order. */
export const BLAS_CANDIDATES = [
  "libopenblas.so.0",
  "libopenblas.so",
  "libblas.so.3",
  "/System/Library/Frameworks/Accelerate.framework/Accelerate",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "libopenblas.dll",
  "openblas.dll",
];

/** The libraries the native backend runs on. */
export interface NativeLibraries {
  /** oneDNN, when found: convolutions and batch norm. */
  dnnl: Dnnl | null;
  /** A CBLAS, when found: the convolution fallback. */
  blas: Blas | null;
  /** One line saying what was chosen, e.g. `"oneDNN 2.6.3 (libdnnl.so.2)"`. */
  description: string;
}

/** Options for {@linkcode loadNativeLibraries}. */
export interface LoadNativeOptions {
  /** Try oneDNN (false tests the BLAS-only path). @default {true} */
  dnnl?: boolean;
  /** oneDNN names to try. @default {[$TFJS_LAB_DNNL] or DNNL_CANDIDATES} */
  dnnlPaths?: string[];
  /** CBLAS names to try. @default {[$TFJS_LAB_BLAS] or BLAS_CANDIDATES} */
  blasPaths?: string[];
}

/**
 * Raised when no usable native library (or no FFI permission) is found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadNativeLibraries, NativeUnavailableError } from "./ffi.ts";
 * assert.throws(
 *   () => loadNativeLibraries({ dnnl: false, blasPaths: ["libno-such-blas.so"] }),
 *   NativeUnavailableError,
 * );
 * ```
 */
export class NativeUnavailableError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "NativeUnavailableError";
  }
}

/**
 * Opens the first oneDNN and the first CBLAS that load. Throws
 * {@linkcode NativeUnavailableError} when FFI is not permitted or neither is
 * found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadNativeLibraries } from "./ffi.ts";
 * const libs = loadNativeLibraries(); // needs --allow-ffi
 * assert.ok(libs.dnnl !== null || libs.blas !== null);
 * // e.g. "oneDNN 2.6.3 (libdnnl.so.2) + BLAS libopenblas.so.0"
 * assert.match(libs.description, /oneDNN|BLAS/);
 * assert.equal(loadNativeLibraries({ dnnl: false }).dnnl, null); // the BLAS-only path
 * ```
 */
export function loadNativeLibraries(
  options: LoadNativeOptions = {},
): NativeLibraries {
  const ffi = Deno.permissions.querySync({ name: "ffi" });
  if (ffi.state !== "granted") {
    throw new NativeUnavailableError(
      `FFI permission is "${ffi.state}": run Deno with --allow-ffi to use the native backend`,
    );
  }
  const failures: Failure[] = [];
  const dnnl = options.dnnl === false
    ? null
    : openFirst(options.dnnlPaths ?? fromEnv("TFJS_LAB_DNNL") ?? DNNL_CANDIDATES, Dnnl.open, failures);
  const blas = openFirst(
    options.blasPaths ?? fromEnv("TFJS_LAB_BLAS") ?? BLAS_CANDIDATES,
    Blas.open,
    failures,
  );
  const newer = failures.map((f) => f.error).find((e) => e instanceof UnsupportedDnnlError);
  const unsupported = newer
    ? `oneDNN ${newer.version} at ${newer.path} skipped: this toolkit speaks oneDNN 2.x`
    : "";
  const errors = failures.map((f) => `${f.path}: ${firstLine(f.error)}`);
  if (dnnl === null && blas === null) {
    throw new NativeUnavailableError(
      `No oneDNN or CBLAS library found (install libdnnl2 or libopenblas0-pthread)` +
        `${unsupported ? ` (${unsupported})` : ""}; tried ${errors.join("; ")}`,
    );
  }
  const parts = [];
  if (dnnl) parts.push(`oneDNN ${dnnl.version} (${dnnl.path})`);
  if (blas) parts.push(`BLAS ${blas.path}`);
  const description = parts.join(" + ") + (unsupported ? ` (${unsupported})` : "");
  return { dnnl, blas, description };
}

/** The one path in environment variable `name`, `[]` for `none`, undefined when unset. */
function fromEnv(name: string): string[] | undefined {
  const value = readEnv(name)?.trim();
  if (!value) return undefined;
  return value.toLowerCase() === "none" ? [] : [value];
}

/** A library that did not open, and why. */
interface Failure {
  path: string;
  error: unknown;
}

/** The first of `paths` that `open` opens, or null; each failure goes to `failures`. */
function openFirst<T>(paths: string[], open: (path: string) => T, failures: Failure[]): T | null {
  for (const path of paths) {
    try {
      return open(path);
    } catch (error) {
      failures.push({ path, error });
    }
  }
  return null;
}

function firstLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split("\n")[0];
}

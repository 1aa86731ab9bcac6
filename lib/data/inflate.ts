/**
 * Inflation bounded by a declared size, for the zip entries of a `.pth` and
 * the image data of a PNG: the compressed bytes are fed to fflate in steps of
 * {@linkcode INFLATE_STEP} with a running count that stops as soon as it
 * passes the size the container declares, so a stream that declares 100 bytes
 * and inflates to a gigabyte costs at most one step past 100 bytes. Pure.
 *
 * @module
 */
import { Inflate, Unzlib } from "fflate";

/**
 * Compressed bytes pushed per inflate step: at most ~1032 times that comes
 * out of one step (deflate's largest ratio), so this bounds the overshoot.
 */
export const INFLATE_STEP = 16 * 1024;

/**
 * Thrown by {@linkcode inflateBounded}; `reason` says which way the stream
 * failed so that callers can word it for their format, and `inflated` how
 * many bytes came out before it stopped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InflateError, inflateBounded } from "./inflate.ts";
 * assert.throws(() => inflateBounded([Uint8Array.of(0xff)], 10), InflateError);
 * ```
 */
export class InflateError extends Error {
  /**
   * `"long"`: more than the expected bytes came out; `"short"`: fewer;
   * `"corrupt"`: fflate refused the stream (its error is the `cause`).
   */
  readonly reason: "long" | "short" | "corrupt";
  /** Bytes inflated when it stopped (for `"long"`, counted up to the step that overshot). */
  readonly inflated: number;
  /** Creates the error. */
  constructor(
    message: string,
    reason: "long" | "short" | "corrupt",
    inflated: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "InflateError";
    this.reason = reason;
    this.inflated = inflated;
  }
}

/** Options for {@linkcode inflateBounded}. */
export interface InflateBoundedOptions {
  /** `"deflate"`: a raw deflate stream (a zip entry); `"zlib"`: with zlib's header and Adler-32 (a PNG). @default "deflate" */
  format?: "deflate" | "zlib";
  /** Whether to keep the bytes; false only counts them (the result is then empty), for a caller that only checks the size. @default true */
  keep?: boolean;
}

/**
 * Inflates the stream formed by `parts` (in order, however it is cut into
 * parts) to exactly `expected` bytes, stopping one step after the output
 * passes `expected`. Throws {@linkcode InflateError} when the stream
 * inflates to more or fewer bytes, or is not valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deflateSync, zlibSync } from "fflate";
 * import { inflateBounded } from "./inflate.ts";
 * const packed = deflateSync(new Uint8Array(1000).fill(7));
 * assert.deepEqual(inflateBounded([packed], 1000), new Uint8Array(1000).fill(7));
 * // A stream cut anywhere reads the same; zlib's wrapper is read when asked for.
 * const zlib = zlibSync(new Uint8Array(10));
 * assert.equal(inflateBounded([zlib.subarray(0, 3), zlib.subarray(3)], 10, { format: "zlib" }).length, 10);
 * assert.throws(() => inflateBounded([packed], 100), {
 *   name: "InflateError",
 *   reason: "long",
 *   message: "Deflate data inflates to more than the 100 bytes expected",
 * });
 * assert.throws(() => inflateBounded([packed], 2000), {
 *   reason: "short",
 *   message: "Deflate data inflates to 1000 bytes, not the 2000 expected",
 * });
 * ```
 */
export function inflateBounded(
  parts: readonly Uint8Array[],
  expected: number,
  options: InflateBoundedOptions = {},
): Uint8Array {
  const { format = "deflate", keep = true } = options;
  const kind = format === "zlib" ? "Zlib" : "Deflate";
  const out = new Uint8Array(keep ? expected : 0);
  let inflated = 0;
  const onData = (chunk: Uint8Array) => {
    if (inflated + chunk.length > expected) {
      throw new InflateError(
        `${kind} data inflates to more than the ${expected} bytes expected`,
        "long",
        inflated + chunk.length,
      );
    }
    if (keep) out.set(chunk, inflated);
    inflated += chunk.length;
  };
  const inflater = format === "zlib" ? new Unzlib(onData) : new Inflate(onData);
  try {
    // Fed in steps of INFLATE_STEP bytes however the stream is cut into parts, so a million
    // one-byte parts cost what one part does; whole steps inside a part are pushed without a copy.
    const step = new Uint8Array(INFLATE_STEP);
    const total = parts.reduce((n, d) => n + d.length, 0);
    let filled = 0;
    let fed = 0;
    for (const data of parts) {
      for (let at = 0; at < data.length;) {
        const n = Math.min(INFLATE_STEP - filled, data.length - at);
        if (filled === 0 && n === INFLATE_STEP) {
          fed += n;
          inflater.push(data.subarray(at, at + n), fed === total);
          at += n;
          continue;
        }
        step.set(data.subarray(at, at + n), filled);
        [filled, at, fed] = [filled + n, at + n, fed + n];
        if (filled === INFLATE_STEP || fed === total) {
          inflater.push(step.subarray(0, filled), fed === total);
          filled = 0;
        }
      }
    }
    if (total === 0) inflater.push(step.subarray(0, 0), true);
  } catch (e) {
    if (e instanceof InflateError) throw e;
    throw new InflateError(`${kind} data is not valid (${(e as Error).message})`, "corrupt", inflated, {
      cause: e,
    });
  }
  if (inflated !== expected) {
    throw new InflateError(
      `${kind} data inflates to ${inflated} bytes, not the ${expected} expected`,
      "short",
      inflated,
    );
  }
  return out;
}

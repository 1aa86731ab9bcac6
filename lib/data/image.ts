/**
 * Turns a decoded image of any size into what the classifier eats: a 32x32
 * RGB image in CIFAR's planar layout `[3, 32, 32]` uint8. Greyscale is
 * replicated to RGB, palettes are looked up, alpha is dropped, 16-bit samples
 * are scaled to 8 bits, and other sizes are resampled by area averaging
 * (each output pixel is the coverage-weighted mean of the source pixels under
 * it). Reads PNG and JPEG (baseline and progressive, by `jpeg-js`), told
 * apart by their bytes. Pure.
 *
 * A PNG is checked before it is decoded, with work bounded by its header:
 * the chunk layout and CRCs, the size in `IHDR` against
 * {@linkcode MAX_IMAGE_PIXELS} and {@linkcode MAX_IMAGE_DATA_BYTES}, and the
 * image data inflated with a running count that stops at the exact size the
 * header implies. Only the chunks the image needs reach the decoder.
 *
 * @module
 */
import { decode } from "fast-png";
import { preview } from "../runtime/quote.ts";
import jpeg from "jpeg-js";
import { IMAGE_SIZE } from "./cifar.ts";
import { crc32 } from "./crc32.ts";
import { inflateBounded, InflateError } from "./inflate.ts";

/** Largest image accepted, in pixels (a 24-megapixel photo is 6000x4000). */
export const MAX_IMAGE_PIXELS = 32_000_000;
/** Largest decoded image data (filtered scanlines), in bytes: 16-bit RGBA at 16 megapixels. */
export const MAX_IMAGE_DATA_BYTES = 128 * 2 ** 20;
/**
 * Largest image file worth reading (PNG or JPEG): a PNG's largest image data
 * stored without compression, plus room.
 */
export const MAX_IMAGE_FILE_BYTES = 160 * 2 ** 20;

/** An image as rows of interleaved samples. */
export interface RasterImage {
  width: number;
  height: number;
  /** Samples per pixel: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: number;
  /** Bits per sample: 8 or 16 (or 1, 2, 4 with a palette). */
  depth: number;
  data: Uint8Array | Uint16Array | Uint8ClampedArray;
  /** RGB(A) entries for indexed images. */
  palette?: number[][];
}

/**
 * Raised for an image the lab cannot read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePng, ImageError } from "./image.ts";
 * assert.throws(() => decodePng(new Uint8Array(8), "blank.png"), ImageError);
 * ```
 */
export class ImageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ImageError";
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Bit depths allowed for each PNG colour type, and its samples per pixel. */
const COLOR_TYPES: Record<number, { depths: number[]; channels: number }> = {
  0: { depths: [1, 2, 4, 8, 16], channels: 1 },
  2: { depths: [8, 16], channels: 3 },
  3: { depths: [1, 2, 4, 8], channels: 1 },
  4: { depths: [8, 16], channels: 2 },
  6: { depths: [8, 16], channels: 4 },
};
/** Chunks the decoder gets; every other (ancillary) chunk is dropped before decoding. */
const KEPT_CHUNKS = new Set(["IHDR", "PLTE", "tRNS", "IDAT", "IEND"]);

/** What {@linkcode checkPng} learns from a PNG's header. */
export interface PngHeader {
  width: number;
  height: number;
  /** Bits per sample. */
  depth: number;
  /** PNG colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
  /** Whether rows are Adam7-interlaced. */
  interlaced: boolean;
  /** Bytes of filtered scanlines the image data must inflate to. */
  dataBytes: number;
}

/** Filtered scanline bytes of a `width` x `height` image: one filter byte and the packed samples per row. */
function scanlineBytes(width: number, height: number, bitsPerPixel: number): number {
  return width === 0 || height === 0 ? 0 : height * (1 + Math.ceil((width * bitsPerPixel) / 8));
}

/**
 * Checks a PNG's structure without decoding its pixels, with time and
 * memory bounded by what the header declares: the signature, every chunk's
 * length and CRC, an `IHDR` first with a valid colour type and bit depth, at
 * most {@linkcode MAX_IMAGE_PIXELS} pixels and
 * {@linkcode MAX_IMAGE_DATA_BYTES} of scanlines (both refused from the
 * header, before inflating anything), a palette where one is needed, and
 * image data that inflates to exactly the scanlines the header implies
 * (inflation stops as soon as it passes that size). Returns the header and
 * the PNG with only the chunks an image needs (`IHDR`, `PLTE`, `tRNS`,
 * `IDAT`, `IEND`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "fast-png";
 * import { crc32 } from "./crc32.ts";
 * import { checkPng } from "./image.ts";
 * const png = encode({ width: 3, height: 2, channels: 3, data: new Uint8Array(18) });
 * const { header } = checkPng(png, "small.png");
 * assert.deepEqual([header.width, header.height, header.dataBytes], [3, 2, 2 * (1 + 9)]);
 * // A header that declares 2^31-1 columns is refused before any pixel is decoded.
 * const huge = png.slice();
 * new DataView(huge.buffer).setUint32(16, 2 ** 31 - 1); // IHDR width, then its CRC
 * new DataView(huge.buffer).setUint32(29, crc32(huge.subarray(12, 29)));
 * assert.throws(() => checkPng(huge, "huge.png"), { name: "ImageError", message: /^huge\.png: 4294967294 pixels/ });
 * ```
 */
export function checkPng(bytes: Uint8Array, source = "image"): { header: PngHeader; png: Uint8Array } {
  const fail = (message: string): never => {
    throw new ImageError(`${source}: ${message}`);
  };
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    fail(`not a readable PNG (no PNG signature)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: PngHeader | null = null;
  let palette = false;
  const kept: [number, number][] = [];
  const idat: Uint8Array[] = [];
  let dropped = false;
  let ended = false;
  for (let p = 8; !ended;) {
    if (p + 12 > bytes.length) fail(`not a readable PNG (truncated at byte ${p}, before IEND)`);
    const length = view.getUint32(p);
    const type = String.fromCharCode(...bytes.subarray(p + 4, p + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) {
      fail(`not a readable PNG (chunk at byte ${p} has type ${preview(type)})`);
    }
    if (length > bytes.length - p - 12) {
      fail(
        `not a readable PNG (chunk ${type} at byte ${p} declares ${length} bytes, past the end of the file)`,
      );
    }
    const data = bytes.subarray(p + 8, p + 8 + length);
    const end = p + 12 + length;
    if (KEPT_CHUNKS.has(type)) {
      if (crc32(bytes.subarray(p + 4, p + 8 + length)) !== view.getUint32(p + 8 + length)) {
        fail(`not a readable PNG (chunk ${type} at byte ${p} fails its CRC check)`);
      }
      kept.push([p, end]);
    } else {
      dropped = true;
    }
    if (header === null && type !== "IHDR") fail(`not a readable PNG (first chunk is ${type}, not IHDR)`);
    if (type === "IHDR") {
      if (header !== null) fail(`not a readable PNG (a second IHDR chunk)`);
      if (length !== 13) fail(`not a readable PNG (IHDR of ${length} bytes, expected 13)`);
      const width = view.getUint32(p + 8);
      const height = view.getUint32(p + 12);
      const [depth, colorType, compression, filter, interlace] = data.subarray(8, 13);
      const kind = COLOR_TYPES[colorType];
      if (!kind || !kind.depths.includes(depth)) {
        fail(`colour type ${colorType} with bit depth ${depth} is not a valid PNG combination`);
      }
      if (compression !== 0 || filter !== 0 || interlace > 1) {
        fail(`compression ${compression}, filter ${filter} or interlace ${interlace} method is not PNG's`);
      }
      // PNG allows 1..2^31-1 per side; everything past here is bounded by these checks.
      if (width < 1 || height < 1 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) {
        fail(`size ${width}x${height} is not a valid PNG size`);
      }
      if (width * height > MAX_IMAGE_PIXELS) {
        fail(`${width * height} pixels (${width}x${height}) exceed the ${MAX_IMAGE_PIXELS}-pixel limit`);
      }
      const bits = depth * kind.channels;
      let dataBytes = scanlineBytes(width, height, bits);
      if (interlace === 1) {
        // Adam7: seven passes, each a sub-image with its own rows and filter bytes.
        dataBytes = 0;
        for (
          const [x0, y0, dx, dy] of [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [
            1,
            0,
            2,
            2,
          ], [0, 1, 1, 2]]
        ) {
          dataBytes += scanlineBytes(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy), bits);
        }
      }
      if (dataBytes > MAX_IMAGE_DATA_BYTES) {
        fail(
          `${width}x${height} at ${bits} bits per pixel needs ${dataBytes} bytes, more than the ${MAX_IMAGE_DATA_BYTES}-byte limit`,
        );
      }
      header = { width, height, depth, colorType, interlaced: interlace === 1, dataBytes };
    } else if (type === "PLTE") {
      if (length % 3 !== 0 || length === 0 || length > 768) {
        fail(`not a readable PNG (PLTE of ${length} bytes)`);
      }
      palette = true;
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      ended = true;
    }
    p = end;
  }
  const h = header!;
  if (h.colorType === 3 && !palette) fail(`not a readable PNG (a palette image without a PLTE chunk)`);
  if (idat.length === 0) fail(`not a readable PNG (no IDAT chunk)`);

  // Inflated with a running count, never past the size the header implies; the IDAT chunks form one
  // stream, fed in fixed steps however it is cut, so a million one-byte chunks cost what one chunk does.
  // Only counted: the decoder inflates it again once it is known to be bounded.
  try {
    inflateBounded(idat, h.dataBytes, { format: "zlib", keep: false });
  } catch (e) {
    if (!(e instanceof InflateError)) throw e;
    if (e.reason === "long") {
      fail(`image data inflates to more than the ${h.dataBytes} bytes its header implies`);
    }
    if (e.reason === "short") {
      fail(
        `image data inflates to ${e.inflated} bytes, but its ${h.width}x${h.height} header needs ${h.dataBytes}`,
      );
    }
    fail(`not a readable PNG (image data is not valid zlib: ${preview((e.cause as Error).message)})`);
  }
  if (!dropped && kept.at(-1)![1] === bytes.length) return { header: h, png: bytes };
  const png = new Uint8Array(8 + kept.reduce((n, [a, b]) => n + b - a, 0));
  png.set(PNG_SIGNATURE);
  let at = 8;
  for (const [a, b] of kept) {
    png.set(bytes.subarray(a, b), at);
    at += b - a;
  }
  return { header: h, png };
}

/**
 * Decodes PNG bytes, after {@linkcode checkPng} has bounded what that costs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "fast-png";
 * import { decodePng } from "./image.ts";
 * // A 1x1 red pixel; a lab reads the bytes from a file instead.
 * const png = encode({ width: 1, height: 1, channels: 3, data: Uint8Array.of(255, 0, 0) });
 * const img = decodePng(png, "red.png");
 * assert.equal(img.width, 1);
 * assert.equal(img.channels, 3);
 * assert.deepEqual([...img.data], [255, 0, 0]);
 * ```
 */
export function decodePng(bytes: Uint8Array, source = "image"): RasterImage {
  const { png: checked } = checkPng(bytes, source);
  try {
    const png = decode(checked);
    return {
      width: png.width,
      height: png.height,
      channels: png.channels,
      depth: png.depth,
      data: png.data as Uint8Array | Uint16Array,
      palette: png.palette as number[][] | undefined,
    };
  } catch (e) {
    throw new ImageError(`${source}: not a readable PNG (${preview((e as Error).message)})`);
  }
}

/** jpeg-js's memory cap, in MiB: a hostile header cannot exhaust memory. */
const JPEG_MAX_MEMORY_MB = 512;

/**
 * Decodes JPEG bytes to 8-bit RGB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import jpeg from "jpeg-js";
 * import { decodeJpeg } from "./image.ts";
 * // A 2x2 grey image; a lab reads the bytes from a file instead.
 * const bytes = jpeg.encode({ width: 2, height: 2, data: new Uint8Array(16).fill(200) }, 90).data;
 * const img = decodeJpeg(bytes, "grey.jpg");
 * assert.deepEqual([img.width, img.height, img.channels, img.data.length], [2, 2, 3, 12]);
 * ```
 */
export function decodeJpeg(bytes: Uint8Array, source = "image"): RasterImage {
  try {
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // The same pixel limit as PNGs, checked by jpeg-js from the frame header.
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
    });
    return { width: img.width, height: img.height, channels: 3, depth: 8, data: img.data as Uint8Array };
  } catch (e) {
    throw new ImageError(`${source}: not a readable JPEG (${preview((e as Error).message)})`);
  }
}

/**
 * Decodes a PNG or a JPEG, told apart by the first bytes; anything else is
 * an {@linkcode ImageError} naming the file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encode } from "fast-png";
 * import { decodeImage, ImageError } from "./image.ts";
 * const png = encode({ width: 1, height: 1, channels: 3, data: Uint8Array.of(255, 0, 0) });
 * assert.equal(decodeImage(png, "red.png").width, 1);
 * assert.throws(() => decodeImage(new TextEncoder().encode("GIF89a"), "cat.gif"), ImageError);
 * ```
 */
export function decodeImage(bytes: Uint8Array, source = "image"): RasterImage {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return decodePng(bytes, source);
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return decodeJpeg(bytes, source);
  throw new ImageError(`${source}: not a PNG or JPEG image (the first bytes are neither)`);
}

/**
 * The image as CIFAR planar RGB `[3, 32, 32]` uint8.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toCifarPlanar } from "./image.ts";
 * const grey = { width: 2, height: 2, channels: 1, depth: 8, data: Uint8Array.of(0, 255, 255, 0) };
 * const planar = toCifarPlanar(grey);
 * assert.equal(planar.length, 3 * 32 * 32);
 * // Upscaled 16x: the top-left quarter of every plane is black, the top-right white.
 * assert.deepEqual([planar[0], planar[31], planar[1024], planar[2048 + 31]], [0, 255, 0, 255]);
 * ```
 */
export function toCifarPlanar(img: RasterImage, source = "image"): Uint8Array {
  const { width: w, height: h } = img;
  if (!(w >= 1 && h >= 1 && w * h <= MAX_IMAGE_PIXELS)) {
    throw new ImageError(
      `${source}: size ${w}x${h} is not supported (1x1 up to ${MAX_IMAGE_PIXELS / 1e6} megapixels)`,
    );
  }
  const rgb = toRgb(img, source);
  const out = new Uint8Array(3 * IMAGE_SIZE * IMAGE_SIZE);
  const sx = w / IMAGE_SIZE;
  const sy = h / IMAGE_SIZE;
  for (let oy = 0; oy < IMAGE_SIZE; oy++) {
    const [y0, y1] = [oy * sy, (oy + 1) * sy];
    for (let ox = 0; ox < IMAGE_SIZE; ox++) {
      const [x0, x1] = [ox * sx, (ox + 1) * sx];
      const acc = [0, 0, 0];
      let weight = 0;
      for (let y = Math.floor(y0); y < Math.min(Math.ceil(y1), h); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(Math.ceil(x1), w); x++) {
          const wxy = wy * (Math.min(x + 1, x1) - Math.max(x, x0));
          const i = 3 * (y * w + x);
          acc[0] += wxy * rgb[i];
          acc[1] += wxy * rgb[i + 1];
          acc[2] += wxy * rgb[i + 2];
          weight += wxy;
        }
      }
      for (let c = 0; c < 3; c++) {
        out[c * IMAGE_SIZE * IMAGE_SIZE + oy * IMAGE_SIZE + ox] = Math.round(acc[c] / weight);
      }
    }
  }
  return out;
}

/** Interleaved 8-bit RGB of any supported PNG sample layout. */
function toRgb(img: RasterImage, source: string): Uint8Array {
  const n = img.width * img.height;
  const ch = img.palette ? 1 : img.channels;
  if (![1, 2, 3, 4].includes(ch)) throw new ImageError(`${source}: ${ch} channels are not supported`);
  const samples = img.depth < 8 ? unpackBits(img, ch) : img.data;
  if (samples.length < n * ch) {
    throw new ImageError(`${source}: holds ${samples.length} samples, expected ${n * ch}`);
  }
  const rgb = new Uint8Array(3 * n);
  if (img.palette) {
    for (let i = 0; i < n; i++) {
      const entry = img.palette[samples[i]];
      if (!entry) throw new ImageError(`${source}: palette index ${samples[i]} is out of range`);
      rgb.set(entry.slice(0, 3), 3 * i);
    }
    return rgb;
  }
  // To 8 bits: 16-bit samples / 257; 1-, 2- and 4-bit grey * 255 / (2^depth - 1).
  const scale = img.depth === 16 ? 1 / 257 : img.depth < 8 ? 255 / ((1 << img.depth) - 1) : 1;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      // Grey (+alpha) replicates its one colour sample; alpha is dropped.
      rgb[3 * i + c] = Math.round(samples[i * ch + (ch < 3 ? 0 : c)] * scale);
    }
  }
  return rgb;
}

/** Samples of a 1-, 2- or 4-bit image, whose rows are packed high bits first and byte-aligned. */
function unpackBits(img: RasterImage, ch: number): Uint8Array {
  const { width: w, height: h, depth } = img;
  const rowBytes = Math.ceil(w * ch * depth / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < w * ch; i++) {
      const bit = i * depth;
      out[y * w * ch + i] = (img.data[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

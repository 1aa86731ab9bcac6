/**
 * Turns a decoded image of any size into what the classifier eats: a 32x32
 * RGB image in CIFAR's planar layout `[3, 32, 32]` uint8. Greyscale is
 * replicated to RGB, palettes are looked up, alpha is dropped, 16-bit samples
 * are scaled to 8 bits, and other sizes are resampled by area averaging
 * (each output pixel is the coverage-weighted mean of the source pixels under
 * it). Reads PNG and JPEG (baseline and progressive, by `jpeg-js`), told
 * apart by their bytes. Pure.
 *
 * @module
 */
import { decode } from "fast-png";
import jpeg from "jpeg-js";
import { IMAGE_SIZE } from "./cifar.ts";

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

/**
 * Decodes PNG bytes.
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
  try {
    const png = decode(bytes);
    return {
      width: png.width,
      height: png.height,
      channels: png.channels,
      depth: png.depth,
      data: png.data as Uint8Array | Uint16Array,
      palette: png.palette as number[][] | undefined,
    };
  } catch (e) {
    throw new ImageError(`${source}: not a readable PNG (${(e as Error).message})`);
  }
}

/** Largest JPEG decoded, in megapixels, and the decoder's memory cap: a hostile header cannot exhaust memory. */
const JPEG_MAX_MEGAPIXELS = 64;

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
      maxResolutionInMP: JPEG_MAX_MEGAPIXELS,
      maxMemoryUsageInMB: 1024,
    });
    return { width: img.width, height: img.height, channels: 3, depth: 8, data: img.data as Uint8Array };
  } catch (e) {
    throw new ImageError(`${source}: not a readable JPEG (${(e as Error).message})`);
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
  if (!(w >= 1 && h >= 1 && w * h <= 64e6)) {
    throw new ImageError(`${source}: size ${w}x${h} is not supported (1x1 up to 64 megapixels)`);
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

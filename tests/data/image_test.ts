import assert from "node:assert/strict";
import { encode } from "fast-png";
import jpeg from "jpeg-js";
import { crc32 } from "../../lib/data/crc32.ts";
import {
  checkPng,
  decodeImage,
  decodePng,
  ImageError,
  type RasterImage,
  toCifarPlanar,
} from "../../lib/data/image.ts";
import { concat, makePng, pngChunk, zlibZeros } from "../hostile_inputs.ts";

const S = 32;

/** Pixel (x, y) of channel c of a planar `[3, 32, 32]` image. */
const at = (p: Uint8Array, x: number, y: number, c: number) => p[c * S * S + y * S + x];

/** The RGB triple of output pixel (x, y). */
const rgbAt = (p: Uint8Array, x: number, y: number) => [0, 1, 2].map((c) => at(p, x, y, c));

/** Decodes a PNG made by fast-png's encoder and converts it. */
function roundTrip(image: Parameters<typeof encode>[0]): Uint8Array {
  return toCifarPlanar(decodePng(encode(image), "test.png"), "test.png");
}

/** Asserts every output pixel in the quadrant of a 2x2 source pixel (qx, qy) equals rgb. */
function assertQuadrant(p: Uint8Array, qx: number, qy: number, rgb: number[]) {
  for (let y = qy * 16; y < qy * 16 + 16; y++) {
    for (let x = qx * 16; x < qx * 16 + 16; x++) assert.deepEqual(rgbAt(p, x, y), rgb, `pixel ${x},${y}`);
  }
}

/** A 2x2 image's encoder input: `data` holds its pixels row by row. */
function image2x2(data: Uint8Array | Uint16Array, channels: number): Parameters<typeof encode>[0] {
  return { width: 2, height: 2, data, channels };
}

/** Asserts the quadrants of source pixels (0, 0), (1, 0), (0, 1) and (1, 1) equal `rgbs`. */
function assertQuadrants(p: Uint8Array, rgbs: number[][]) {
  [[0, 0], [1, 0], [0, 1], [1, 1]].forEach(([qx, qy], i) => assertQuadrant(p, qx, qy, rgbs[i]));
}

Deno.test("toCifarPlanar() replicates an 8-bit grey image to RGB", () => {
  const p = roundTrip({ ...image2x2(Uint8Array.of(0, 255, 100, 7), 1), depth: 8 });
  assert.equal(p.length, 3 * S * S);
  assertQuadrants(p, [[0, 0, 0], [255, 255, 255], [100, 100, 100], [7, 7, 7]]);
});

Deno.test("toCifarPlanar() drops the alpha of grey+alpha and RGBA images without compositing", () => {
  const ga = roundTrip(image2x2(Uint8Array.of(10, 0, 20, 255, 30, 128, 40, 1), 2));
  assertQuadrants(ga, [[10, 10, 10], [20, 20, 20], [30, 30, 30], [40, 40, 40]]);
  const rgba = roundTrip(
    image2x2(Uint8Array.of(255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 128, 1, 2, 3, 4), 4),
  );
  assertQuadrants(rgba, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3]]);
});

Deno.test("toCifarPlanar() keeps RGB in planar R, G, B order", () => {
  const p = roundTrip(image2x2(Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30), 3));
  assertQuadrants(p, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]);
  // Planar: the whole red plane first.
  assert.equal(p[0], 255);
  assert.equal(p[S * S], 0);
  assert.equal(p[31 * S + 31 + 2 * S * S], 30);
});

Deno.test("toCifarPlanar() scales 16-bit samples to 8 bits", () => {
  const data = Uint16Array.of(65535, 0, 257 * 7, 257 * 128 + 128, 257 * 128 + 129, 256, 0, 0, 0, 1, 2, 3);
  const p = roundTrip({ ...image2x2(data, 3), depth: 16 });
  // The nearest 8-bit value of v / 257: 33024 / 257 = 128.498, 33025 / 257 = 128.502, 256 / 257 = 0.996.
  assertQuadrants(p, [[255, 0, 7], [128, 129, 1], [0, 0, 0], [0, 0, 0]]);
  const grey = roundTrip({ width: 1, height: 1, data: Uint16Array.of(257 * 200), channels: 1, depth: 16 });
  assertQuadrant(grey, 0, 0, [200, 200, 200]);
});

// Both palette images hold indices 3, 1 / 2, 0; a 4-bit one packs a row's two
// indices into one byte, high nibble first.
for (
  const [name, depth, data] of [
    ["looks up an 8-bit palette", 8, Uint8Array.of(3, 1, 2, 0)],
    ["unpacks a 4-bit palette image", 4, Uint8Array.of(0x31, 0x20)],
  ] as const
) {
  Deno.test(`toCifarPlanar() ${name}`, () => {
    const palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7]];
    const p = roundTrip({ ...image2x2(data, 1), depth, palette });
    assertQuadrants(p, [[9, 8, 7], [0, 255, 0], [0, 0, 255], [255, 0, 0]]);
  });
}

Deno.test("toCifarPlanar() unpacks and scales a 1-bit greyscale image", () => {
  // Row 0 = 1,0 (bits 10xxxxxx); row 1 = 0,1 (01xxxxxx): white, black / black, white.
  const p = roundTrip({ ...image2x2(Uint8Array.of(0b10000000, 0b01000000), 1), depth: 1 });
  assertQuadrants(p, [[255, 255, 255], [0, 0, 0], [0, 0, 0], [255, 255, 255]]);
});

Deno.test("toCifarPlanar() area-averages a 64x64 image to 32x32", () => {
  // R = 4x, G = 4y, B = a 0/255 checkerboard: each output pixel averages a 2x2 block,
  // so R = 4 * (2ox + 0.5) = 8ox + 2, G = 8oy + 2, B = 127.5 -> 128.
  const w = 64;
  const data = new Uint8Array(w * w * 3);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) data.set([4 * x, 4 * y, (x + y) % 2 ? 255 : 0], 3 * (y * w + x));
  }
  const p = roundTrip({ width: w, height: w, data, channels: 3 });
  for (let oy = 0; oy < S; oy++) {
    for (let ox = 0; ox < S; ox++) assert.deepEqual(rgbAt(p, ox, oy), [8 * ox + 2, 8 * oy + 2, 128]);
  }
});

Deno.test("toCifarPlanar() weights partly covered pixels by their coverage", () => {
  // 48 wide: output column ox covers source columns [1.5 ox, 1.5 ox + 1.5).
  const w = 48;
  const img: RasterImage = { width: w, height: 1, channels: 1, depth: 8, data: new Uint8Array(w) };
  for (let x = 0; x < w; x++) img.data[x] = x % 2 ? 200 : 0;
  const p = toCifarPlanar(img);
  // ox = 0 covers 1 px of 0 and 0.5 px of 200: 100 / 1.5 = 66.67 -> 67; ox = 1 covers 0.5 px of 200
  // and 1 px of 0 (67 again); ox = 2 covers 1 px of 200 and 0.5 px of 0: 200 / 1.5 -> 133.
  assert.equal(at(p, 0, 0, 0), 67);
  assert.equal(at(p, 1, 0, 0), 67);
  assert.equal(at(p, 2, 0, 0), 133);
  assert.equal(at(p, 0, 31, 0), 67);
  // Two halves split exactly at a column boundary.
  for (let x = 0; x < w; x++) img.data[x] = x < 24 ? 10 : 250;
  const halves = toCifarPlanar(img);
  for (let ox = 0; ox < S; ox++) assert.equal(at(halves, ox, 5, 1), ox < 16 ? 10 : 250);
});

Deno.test("toCifarPlanar() upscales a 1x1 image to a flat 32x32", () => {
  const p = roundTrip({ width: 1, height: 1, data: Uint8Array.of(12, 34, 56), channels: 3 });
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) assert.deepEqual(rgbAt(p, x, y), [12, 34, 56]);
});

Deno.test("toCifarPlanar() leaves a 32x32 image unchanged", () => {
  const data = new Uint8Array(S * S * 3).map((_, i) => (i * 7) % 256);
  const p = roundTrip({ width: S, height: S, data, channels: 3 });
  for (let i = 0; i < S * S; i++) {
    for (let c = 0; c < 3; c++) assert.equal(p[c * S * S + i], data[3 * i + c]);
  }
});

Deno.test("decodePng() raises ImageError naming a file that is not a PNG", () => {
  const jpeg = Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 16, 74, 70, 73, 70, 0);
  assert.throws(() => decodePng(jpeg, "photos/cat.jpg"), (e: unknown) => {
    assert.ok(e instanceof ImageError);
    assert.equal(e.name, "ImageError");
    assert.match(e.message, /^photos\/cat\.jpg: not a readable PNG \(.+\)$/);
    return true;
  });
  const png = encode({ width: 4, height: 4, data: new Uint8Array(48), channels: 3 });
  assert.throws(() => decodePng(png.subarray(0, 30), "cut.png"), {
    name: "ImageError",
    message: /^cut\.png: not a readable PNG/,
  });
  assert.throws(() => decodePng(new Uint8Array(0)), {
    name: "ImageError",
    message: /^image: not a readable PNG/,
  });
});

Deno.test("toCifarPlanar() rejects empty images and short sample buffers", () => {
  const empty: RasterImage = { width: 0, height: 3, channels: 3, depth: 8, data: new Uint8Array(0) };
  assert.throws(() => toCifarPlanar(empty, "e.png"), {
    name: "ImageError",
    message: "e.png: size 0x3 is not supported (1x1 up to 32 megapixels)",
  });
  const short: RasterImage = { width: 2, height: 2, channels: 3, depth: 8, data: new Uint8Array(11) };
  assert.throws(() => toCifarPlanar(short, "s.png"), {
    name: "ImageError",
    message: "s.png: holds 11 samples, expected 12",
  });
  const bad: RasterImage = {
    width: 1,
    height: 1,
    channels: 1,
    depth: 8,
    data: Uint8Array.of(5),
    palette: [[0, 0, 0]],
  };
  assert.throws(() => toCifarPlanar(bad, "p.png"), {
    name: "ImageError",
    message: "p.png: palette index 5 is out of range",
  });
});

Deno.test("decodePng() refuses a huge image from its header, before inflating anything", () => {
  // 74 bytes declaring 2^31-1 columns (it spun at 100% CPU); 1.6 MB declaring 16000x16000 (4 GB decoded).
  const cases: [Uint8Array, string][] = [
    [
      makePng(2 ** 31 - 1, 1, { idat: zlibZeros(10) }),
      "wide.png: 2147483647 pixels (2147483647x1) exceed the 32000000-pixel limit",
    ],
    [makePng(16000, 16000), "wide.png: 256000000 pixels (16000x16000) exceed the 32000000-pixel limit"],
    [makePng(1, 2 ** 31, { idat: zlibZeros(10) }), "wide.png: size 1x2147483648 is not a valid PNG size"],
  ];
  for (const [png, message] of cases) {
    const start = performance.now();
    assert.throws(() => decodePng(png, "wide.png"), { name: "ImageError", message });
    assert.ok(performance.now() - start < 500);
  }
  assert.ok(cases[0][0].length < 100);
});

Deno.test("decodePng() stops image data at the size the header implies, and refuses short data", () => {
  // A 1x1 image whose data inflates to 64 MiB: stopped one 16 KiB step past 2 bytes.
  const start = performance.now();
  assert.throws(() => decodePng(makePng(1, 1, { idat: zlibZeros(64 * 2 ** 20) }), "bomb.png"), {
    name: "ImageError",
    message: "bomb.png: image data inflates to more than the 2 bytes its header implies",
  });
  assert.ok(performance.now() - start < 1000);
  assert.throws(() => decodePng(makePng(10, 10, { idat: zlibZeros(50) }), "short.png"), {
    message: "short.png: image data inflates to 50 bytes, but its 10x10 header needs 110",
  });
  // Adam7: a 3x3 image's seven passes hold 2 + 0 + 0 + 2 + 3 + 4 + 4 = 15 bytes of scanlines.
  const interlaced = decodePng(makePng(3, 3, { idat: zlibZeros(15), interlace: true }), "adam7.png");
  assert.deepEqual([interlaced.width, interlaced.height, [...interlaced.data]], [3, 3, new Array(9).fill(0)]);
  assert.throws(() => decodePng(makePng(3, 3, { idat: zlibZeros(14), interlace: true }), "adam7.png"), {
    message: "adam7.png: image data inflates to 14 bytes, but its 3x3 header needs 15",
  });
});

Deno.test("decodePng() never inflates ancillary chunks: an ICC-profile bomb is dropped unread", () => {
  // fast-png would inflate an iCCP profile in full; 64 MiB here.
  const iccp = pngChunk(
    "iCCP",
    concat([new TextEncoder().encode("icc\0"), Uint8Array.of(0), zlibZeros(64 * 2 ** 20)]),
  );
  const start = performance.now();
  const img = decodePng(makePng(2, 2, { extra: [iccp] }), "icc.png");
  assert.deepEqual([img.width, img.height, [...img.data]], [2, 2, [0, 0, 0, 0]]);
  assert.ok(performance.now() - start < 1000);
});

Deno.test("decodePng() checks chunk lengths, CRCs and the chunks an image needs", () => {
  const good = makePng(2, 2);
  const badCrc = good.slice();
  badCrc[good.length - 20] ^= 1; // inside the IDAT chunk's data
  const longChunk = good.slice();
  new DataView(longChunk.buffer).setUint32(33, 2 ** 31 - 1); // the IDAT chunk's length
  const palette = good.slice();
  palette[25] = 3; // colour type 3 (palette) with no PLTE
  new DataView(palette.buffer).setUint32(29, crc32(palette.subarray(12, 29)));
  const cases: [Uint8Array, RegExp][] = [
    [badCrc, /^x\.png: not a readable PNG \(chunk IDAT at byte 33 fails its CRC check\)$/],
    [
      longChunk,
      /^x\.png: not a readable PNG \(chunk IDAT at byte 33 declares 2147483647 bytes, past the end/,
    ],
    [palette, /^x\.png: not a readable PNG \(a palette image without a PLTE chunk\)$/],
    [
      good.subarray(0, good.length - 12),
      /^x\.png: not a readable PNG \(truncated at byte \d+, before IEND\)$/,
    ],
  ];
  for (const [png, message] of cases) {
    assert.throws(() => decodePng(png, "x.png"), { name: "ImageError", message });
  }
});

Deno.test("checkPng() inflates image data split into many tiny IDAT chunks as one stream, at one stream's cost", () => {
  // 16 million bytes of scanlines in a ~100 KB stream, cut into one-byte IDAT chunks (~1.3 MB of chunks).
  const [w, h] = [4095, 4000];
  const stream = zlibZeros(h * (w + 1));
  const chunks = Array.from(stream, (b) => pngChunk("IDAT", Uint8Array.of(b)));
  const whole = makePng(w, h, { idat: stream });
  const cut = concat([whole.subarray(0, 33), ...chunks, pngChunk("IEND", new Uint8Array(0))]);
  const start = performance.now();
  const { header, png } = checkPng(cut, "cut.png");
  assert.equal(header.dataBytes, h * (w + 1));
  assert.equal(png, cut, "nothing dropped: the same bytes");
  assert.ok(performance.now() - start < 3000, `${performance.now() - start} ms`);
  const tiny = makePng(2, 2, { idat: new Uint8Array(0), extra: [] });
  assert.throws(() => checkPng(tiny, "empty.png"), {
    message: /^empty\.png: not a readable PNG \(image data/,
  });
});

Deno.test("decodeImage() reads JPEG by its bytes and names a file that is neither PNG nor JPEG", () => {
  const rgba = new Uint8Array(64 * 48 * 4);
  for (let i = 0; i < 64 * 48; i++) rgba.set([200, 40, 40, 255], 4 * i);
  const img = decodeImage(jpeg.encode({ width: 64, height: 48, data: rgba }, 95).data, "red.jpg");
  assert.deepEqual([img.width, img.height, img.channels, img.depth], [64, 48, 3, 8]);
  const planar = toCifarPlanar(img, "red.jpg");
  assert.ok(
    Math.abs(planar[0] - 200) <= 4 && Math.abs(planar[1024] - 40) <= 4,
    `${planar[0]} ${planar[1024]}`,
  );
  assert.throws(() => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0, 1, 2), "cut.jpg"), {
    name: "ImageError",
    message: /^cut\.jpg: not a readable JPEG/,
  });
  assert.throws(() => decodeImage(new TextEncoder().encode("BM..."), "cat.bmp"), {
    name: "ImageError",
    message: "cat.bmp: not a PNG or JPEG image (the first bytes are neither)",
  });
});

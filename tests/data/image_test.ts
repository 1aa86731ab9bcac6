import assert from "node:assert/strict";
import { encode } from "fast-png";
import jpeg from "jpeg-js";
import { decodeImage, decodePng, ImageError, type RasterImage, toCifarPlanar } from "../../lib/data/image.ts";

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

Deno.test("toCifarPlanar() replicates an 8-bit grey image to RGB", () => {
  const p = roundTrip({ width: 2, height: 2, data: Uint8Array.of(0, 255, 100, 7), channels: 1, depth: 8 });
  assert.equal(p.length, 3 * S * S);
  assertQuadrant(p, 0, 0, [0, 0, 0]);
  assertQuadrant(p, 1, 0, [255, 255, 255]);
  assertQuadrant(p, 0, 1, [100, 100, 100]);
  assertQuadrant(p, 1, 1, [7, 7, 7]);
});

Deno.test("toCifarPlanar() drops the alpha of grey+alpha and RGBA images without compositing", () => {
  const ga = roundTrip({
    width: 2,
    height: 2,
    data: Uint8Array.of(10, 0, 20, 255, 30, 128, 40, 1),
    channels: 2,
  });
  assertQuadrant(ga, 0, 0, [10, 10, 10]);
  assertQuadrant(ga, 1, 0, [20, 20, 20]);
  assertQuadrant(ga, 0, 1, [30, 30, 30]);
  assertQuadrant(ga, 1, 1, [40, 40, 40]);
  const rgba = roundTrip({
    width: 2,
    height: 2,
    data: Uint8Array.of(255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 255, 128, 1, 2, 3, 4),
    channels: 4,
  });
  assertQuadrant(rgba, 0, 0, [255, 0, 0]);
  assertQuadrant(rgba, 1, 0, [0, 255, 0]);
  assertQuadrant(rgba, 0, 1, [0, 0, 255]);
  assertQuadrant(rgba, 1, 1, [1, 2, 3]);
});

Deno.test("toCifarPlanar() keeps RGB in planar R, G, B order", () => {
  const p = roundTrip({
    width: 2,
    height: 2,
    data: Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30),
    channels: 3,
  });
  assertQuadrant(p, 0, 0, [255, 0, 0]);
  assertQuadrant(p, 1, 0, [0, 255, 0]);
  assertQuadrant(p, 0, 1, [0, 0, 255]);
  assertQuadrant(p, 1, 1, [10, 20, 30]);
  // Planar: the whole red plane first.
  assert.equal(p[0], 255);
  assert.equal(p[S * S], 0);
  assert.equal(p[31 * S + 31 + 2 * S * S], 30);
});

Deno.test("toCifarPlanar() scales 16-bit samples to 8 bits", () => {
  const p = roundTrip({
    width: 2,
    height: 2,
    data: Uint16Array.of(65535, 0, 257 * 7, 257 * 128 + 128, 257 * 128 + 129, 256, 0, 0, 0, 1, 2, 3),
    channels: 3,
    depth: 16,
  });
  assertQuadrant(p, 0, 0, [255, 0, 7]);
  // The nearest 8-bit value of v / 257: 33024 / 257 = 128.498, 33025 / 257 = 128.502, 256 / 257 = 0.996.
  assertQuadrant(p, 1, 0, [128, 129, 1]);
  assertQuadrant(p, 0, 1, [0, 0, 0]);
  assertQuadrant(p, 1, 1, [0, 0, 0]);
  const grey = roundTrip({ width: 1, height: 1, data: Uint16Array.of(257 * 200), channels: 1, depth: 16 });
  assertQuadrant(grey, 0, 0, [200, 200, 200]);
});

Deno.test("toCifarPlanar() looks up an 8-bit palette", () => {
  const palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7]];
  const p = roundTrip({
    width: 2,
    height: 2,
    data: Uint8Array.of(3, 1, 2, 0),
    channels: 1,
    depth: 8,
    palette,
  });
  assertQuadrant(p, 0, 0, [9, 8, 7]);
  assertQuadrant(p, 1, 0, [0, 255, 0]);
  assertQuadrant(p, 0, 1, [0, 0, 255]);
  assertQuadrant(p, 1, 1, [255, 0, 0]);
});

Deno.test("toCifarPlanar() unpacks a 4-bit palette image", () => {
  // Rows are packed two indices per byte, high nibble first: row 0 = 3,1; row 1 = 2,0.
  const palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 8, 7]];
  const p = roundTrip({
    width: 2,
    height: 2,
    data: Uint8Array.of(0x31, 0x20),
    channels: 1,
    depth: 4,
    palette,
  });
  assertQuadrant(p, 0, 0, [9, 8, 7]);
  assertQuadrant(p, 1, 0, [0, 255, 0]);
  assertQuadrant(p, 0, 1, [0, 0, 255]);
  assertQuadrant(p, 1, 1, [255, 0, 0]);
});

Deno.test("toCifarPlanar() unpacks and scales a 1-bit greyscale image", () => {
  // Row 0 = 1,0 (bits 10xxxxxx); row 1 = 0,1 (01xxxxxx): white, black / black, white.
  const p = roundTrip({
    width: 2,
    height: 2,
    data: Uint8Array.of(0b10000000, 0b01000000),
    channels: 1,
    depth: 1,
  });
  assertQuadrant(p, 0, 0, [255, 255, 255]);
  assertQuadrant(p, 1, 0, [0, 0, 0]);
  assertQuadrant(p, 0, 1, [0, 0, 0]);
  assertQuadrant(p, 1, 1, [255, 255, 255]);
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
    message: "e.png: size 0x3 is not supported (1x1 up to 64 megapixels)",
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

import assert from "node:assert/strict";
import { zipSync } from "fflate";
import { isZip, readZipDirectory, readZipEntry, ZipError } from "../../lib/formats/zip.ts";
import { deflateZeros, makeZip } from "../hostile_inputs.ts";

const text = (s: string) => new TextEncoder().encode(s);
const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));

Deno.test("readZipDirectory() lists the entries of torch's and fflate's zips, with data ranges inside them", () => {
  const torch = fixture("resnet20_net.pth"); // torch 1.13: stored entries, zip64 end records
  const entries = readZipDirectory(torch, { source: "resnet20_net.pth" });
  assert.ok(entries.has("resnet20_net/data.pkl"));
  assert.equal(entries.get("resnet20_net/data.pkl")!.method, 0);
  for (const e of entries.values()) assert.ok(e.dataOffset + e.compressedSize <= torch.length);
  const deflated = zipSync({ "a/x": [new Uint8Array(5000).fill(3), { level: 9 }], "a/y": text("hi") });
  const found = readZipDirectory(deflated);
  assert.deepEqual([...found.keys()], ["a/x", "a/y"]);
  assert.deepEqual(readZipEntry(deflated, found.get("a/x")!), new Uint8Array(5000).fill(3));
  assert.deepEqual(readZipEntry(deflated, found.get("a/y")!), text("hi"));
});

Deno.test("readZipDirectory() reads sizes and offsets from zip64 extra fields and records", () => {
  const zip = makeZip([{ name: "a/data.pkl", data: text("pickle") }, {
    name: "a/data/0",
    data: text("tensor"),
  }], {
    zip64: true,
  });
  const entries = readZipDirectory(zip, { source: "z64.pth" });
  assert.deepEqual([...entries.keys()], ["a/data.pkl", "a/data/0"]);
  assert.deepEqual(readZipEntry(zip, entries.get("a/data/0")!), text("tensor"));
});

Deno.test("readZipEntry() stops a deflate bomb one step past the size its entry declares", () => {
  // 64 MiB of zeros in 420 KB, declared as 100 bytes: inflation stops after at most ~16 MiB.
  const bomb = deflateZeros(64 * 2 ** 20);
  const zip = makeZip([{ name: "archive/data/0", data: bomb, method: 8, size: 100 }]);
  const entry = readZipDirectory(zip).get("archive/data/0")!;
  const start = performance.now();
  assert.throws(() => readZipEntry(zip, entry, { source: "bomb.pth" }), {
    name: "ZipError",
    message: "Zip entry 'archive/data/0' inflates to more than the 100 bytes it declares in 'bomb.pth'",
  });
  assert.ok(performance.now() - start < 2000, "stopped early");
  // Declared honestly, the same entry is refused from its declared size before inflating at all.
  const honest = makeZip([{ name: "archive/data/0", data: bomb, method: 8, size: 64 * 2 ** 20 }]);
  assert.throws(
    () => readZipEntry(honest, readZipDirectory(honest).get("archive/data/0")!, { maxBytes: 2 ** 20 }),
    {
      message: "Zip entry 'archive/data/0' declares 67108864 bytes, more than the 1048576 allowed in 'zip'",
    },
  );
});

Deno.test("readZipEntry() refuses short data, bad deflate and CRC mismatches", () => {
  const cases: [Uint8Array, string][] = [
    [
      makeZip([{ name: "e", data: deflateZeros(50), method: 8, size: 100 }]),
      "Zip entry 'e' inflates to 50 bytes, not the 100 it declares in 'zip'",
    ],
    [
      makeZip([{ name: "e", data: Uint8Array.of(0xff, 0xff, 0xff), method: 8, size: 10 }]),
      "Zip entry 'e' is not valid deflate data",
    ],
    [
      makeZip([{ name: "e", data: text("abc"), crc: 1 }]),
      "Zip entry 'e' has CRC-32 352441c2, not the 00000001",
    ],
  ];
  for (const [zip, message] of cases) {
    const entry = readZipDirectory(zip).get("e")!;
    assert.throws(() => readZipEntry(zip, entry), (e: Error) => {
      assert.ok(e instanceof ZipError);
      assert.ok(e.message.startsWith(message), e.message);
      return true;
    });
  }
});

Deno.test("readZipDirectory() refuses unsafe names, duplicates, lying headers and other methods", () => {
  const cases: [Uint8Array, string][] = [
    [makeZip([{ name: "../evil", data: text("x") }]), "Refusing zip entry '../evil': absolute, backslash"],
    [
      makeZip([{ name: "a", data: text("x") }, { name: "a", data: text("y") }]),
      "Zip entry 'a' appears twice",
    ],
    [makeZip([{ name: "a", data: text("x"), method: 12 }]), "Zip entry 'a' uses compression method 12"],
    [makeZip([{ name: "a", data: text("x"), size: 5 }]), "Zip entry 'a' is stored but declares 1 bytes"],
    [
      makeZip([{ name: "x".repeat(500), data: text("x"), method: 12 }]),
      `Zip entry '${"x".repeat(77)}...' uses`,
    ],
    [text("PK\x03\x04 not really"), "Truncated or corrupt zip (no end of central directory record)"],
  ];
  for (const [zip, message] of cases) {
    assert.throws(() => readZipDirectory(zip, { source: "bad.pth" }), (e: Error) => {
      assert.ok(e instanceof ZipError, e.message);
      assert.ok(e.message.startsWith(message) && e.message.endsWith(" in 'bad.pth'"), e.message);
      return true;
    });
  }
  // A local header whose name differs from the directory's (two views of one archive).
  const zip = makeZip([{ name: "a/b", data: text("x") }]);
  zip[30] = "c".charCodeAt(0);
  assert.throws(() => readZipDirectory(zip), {
    message: "Zip entry 'a/b' has a different name in its local header in 'zip'",
  });
  // More entries declared than the directory can hold.
  const many = makeZip([{ name: "a", data: text("x") }]);
  const eocd = many.length - 22;
  new DataView(many.buffer).setUint16(eocd + 10, 60000, true);
  assert.throws(() => readZipDirectory(many), { message: /^Zip declares 60000 entries/ });
});

Deno.test("isZip() tells a zip's local header (a .pth) from anything else, short inputs included", () => {
  assert.equal(isZip(fixture("resnet20_net.pth")), true);
  assert.equal(isZip(zipSync({ "a/x": text("hi") })), true);
  assert.equal(isZip(fixture("resnet20.safetensors")), false);
  assert.equal(isZip(Uint8Array.of(0x50, 0x4b, 3)), false);
  assert.equal(isZip(Uint8Array.of(0x50, 0x4b, 5, 6)), false); // an empty zip's end record: no entry to read
  assert.equal(isZip(new Uint8Array()), false);
});

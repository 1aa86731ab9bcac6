import assert from "node:assert/strict";
import { crc32 } from "../../lib/data/crc32.ts";

Deno.test("crc32() matches zlib's CRC-32 (Python's zlib.crc32) on known inputs", () => {
  // zlib.crc32(b"") == 0, zlib.crc32(b"IEND") == 0xae426082 (every PNG's last 4 bytes),
  // zlib.crc32(bytes(range(256))) == 0x29058c73.
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(new TextEncoder().encode("IEND")), 0xae426082);
  assert.equal(crc32(Uint8Array.from({ length: 256 }, (_, i) => i)), 0x29058c73);
});

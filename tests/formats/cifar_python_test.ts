import assert from "node:assert/strict";
import { CifarPythonError, decodeCifarPython } from "../../lib/formats/cifar_python.ts";
import { pythonBatch } from "../helpers.ts";

Deno.test("decodeCifarPython() reads a Python 2 protocol-2 batch: images in the binary layout, labels", () => {
  const batch = decodeCifarPython(pythonBatch([3, 8, 0], (i) => 7 * i), "data_batch_1");
  assert.equal(batch.count, 3);
  assert.deepEqual([...batch.labels], [3, 8, 0]);
  assert.equal(batch.images.length, 3 * 3072);
  assert.deepEqual([batch.images[0], batch.images[3072], batch.images[3 * 3072 - 1]], [0, 7, 14]);
});

Deno.test("decodeCifarPython() rejects what is not a CIFAR-10 batch, naming the file", () => {
  const good = pythonBatch([1, 2]);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(4), /^File "b" is not a CIFAR-10 python batch: /],
    // pickle.dumps({"a": 1}, protocol=2)
    [
      Uint8Array.of(0x80, 2, 0x7d, 0x71, 0, 0x58, 1, 0, 0, 0, 0x61, 0x71, 1, 0x4b, 1, 0x73, 0x2e),
      /has no "data" array/,
    ],
    // A label of 10.
    [pythonBatch([1, 10]), /^File "b" label 1 is 10, expected 0\.\.9$/],
    // Cut short inside the pixel bytes.
    [good.subarray(0, good.length - 3000), /is not a CIFAR-10 python batch: .*truncated/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decodeCifarPython(bytes, "b"), (e: unknown) => {
      assert.ok(e instanceof CifarPythonError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("decodeCifarPython() runs nothing: a global outside NumPy's array rebuild is refused", () => {
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  // PROTO 2, GLOBAL posix.system, "echo", TUPLE1, REDUCE, STOP
  const bytes = Uint8Array.of(
    0x80,
    2,
    0x63,
    ...enc("posix\nsystem\n"),
    0x55,
    4,
    ...enc("echo"),
    0x85,
    0x52,
    0x2e,
  );
  assert.throws(() => decodeCifarPython(bytes, "evil"), /Refusing pickle global 'posix\.system'/);
});

Deno.test("decodeCifarPython() shows a hostile dtype, byte order or label cut short in its message", () => {
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
  const long = "x".repeat(100_000);
  // Replaces the first occurrence of `from` in `bytes` by `to`.
  const splice = (bytes: Uint8Array, from: number[], to: number[]): Uint8Array => {
    const at = bytes.findIndex((_, i) => from.every((b, k) => bytes[i + k] === b));
    assert.ok(at >= 0);
    return Uint8Array.from([...bytes.subarray(0, at), ...to, ...bytes.subarray(at + from.length)]);
  };
  const good = pythonBatch([1, 2]);
  const quoted = `"${"x".repeat(77)}..."`; // quote(): 80 characters in quotes
  const previewed = `"${"x".repeat(76)}...`; // preview(): 80 characters in all
  const cases: [Uint8Array, string][] = [
    // dtype name "u1" (SHORT_BINSTRING) -> a 100000-character BINUNICODE.
    [
      splice(good, [0x55, 2, ...enc("u1")], [0x58, ...u32(long.length), ...enc(long)]),
      `File "b" has "data" of dtype ${quoted} and shape [2, 3072], expected u1 [N, 3072]`,
    ],
    // byte order "|" -> 100000 characters.
    [
      splice(good, [0x55, 1, ...enc("|")], [0x58, ...u32(long.length), ...enc(long)]),
      `File "b" is not a CIFAR-10 python batch: numpy.dtype byte order ${previewed} is not supported at byte 100190 of 'b'`,
    ],
    // the first label, BININT1 1 -> a 100000-character string.
    [
      splice(good, [0x28, 0x4b, 1, 0x4b, 2], [0x28, 0x58, ...u32(long.length), ...enc(long), 0x4b, 2]),
      `File "b" label 0 is ${previewed}, expected 0..9`,
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decodeCifarPython(bytes, "b"), (e: unknown) => {
      assert.ok(e instanceof CifarPythonError, String(e));
      assert.equal(e.message, message);
      return true;
    });
  }
});

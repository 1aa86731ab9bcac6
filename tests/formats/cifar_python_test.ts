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

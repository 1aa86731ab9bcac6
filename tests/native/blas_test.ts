import assert from "node:assert/strict";
import { Blas } from "../../lib/native/blas.ts";
import { BLAS_CANDIDATES } from "../../lib/native/ffi.ts";

function open(): Blas | null {
  for (const p of BLAS_CANDIDATES) {
    try {
      return Blas.open(p);
    } catch { /* try the next */ }
  }
  return null;
}
const blas = open();

Deno.test({
  name: "Blas.sgemm() multiplies row-major matrices, transposed or not",
  ignore: blas === null,
  fn() {
    const a = new Float32Array([1, 2, 3, 4, 5, 6]); // [2, 3]
    const b = new Float32Array([1, 0, 0, 1, 1, 1]); // [3, 2]
    const c = new Float32Array(4);
    blas!.sgemm([2, 2, 3], [a, b, c]);
    assert.deepEqual([...c], [4, 5, 10, 11]);
    // A^T stored [3, 2] (= a read as [3, 2]), B^T stored [2, 3].
    blas!.sgemm([2, 2, 3], [a, new Float32Array([1, 0, 1, 0, 1, 1]), c], {
      transA: true,
      transB: true,
      beta: 1,
    });
    // A^T = [[1, 3, 5], [2, 4, 6]]; B = [[1, 0], [0, 1], [1, 1]].
    assert.deepEqual([...c], [4 + 6, 5 + 8, 10 + 8, 11 + 10]);
  },
});

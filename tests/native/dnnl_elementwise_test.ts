import assert from "node:assert/strict";
import { DNNL_ELEMENTWISE_MIN, DnnlElementwise } from "../../lib/native/dnnl_elementwise.ts";
import { loadNativeLibraries } from "../../lib/native/ffi.ts";
import { Rng } from "../../lib/data/rng.ts";

let dnnl = null;
try {
  dnnl = loadNativeLibraries().dnnl;
} catch {
  // No native library at all: skipped below.
}
const ignore = dnnl === null;

function random(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  // Every 7th value exactly 0 or -0: the ReLU boundary.
  return Float32Array.from({ length: n }, (_, i) => i % 7 === 0 ? (i % 2 ? -0 : 0) : rng.float() * 2 - 1);
}

for (const n of [DNNL_ELEMENTWISE_MIN, 3 * 33 * 35 * 19, 1 << 21]) {
  Deno.test({
    name: `DnnlElementwise relu, reluGrad, add and add+relu match plain loops on ${n} values`,
    ignore,
    fn() {
      const ew = new DnnlElementwise(dnnl!);
      const x = random(n, 1), dy = random(n, 2);
      const relu = ew.relu(x), grad = ew.reluGrad(dy, x), sum = ew.add(x, dy), sumRelu = ew.add(x, dy, true);
      for (let i = 0; i < n; i++) {
        if (relu[i] !== Math.max(x[i], 0)) assert.fail(`relu[${i}]: ${relu[i]} for ${x[i]}`);
        if (grad[i] !== (x[i] > 0 ? dy[i] : 0)) {
          assert.fail(`reluGrad[${i}]: ${grad[i]} for x ${x[i]}, dy ${dy[i]}`);
        }
        if (sum[i] !== Math.fround(x[i] + dy[i])) assert.fail(`add[${i}]: ${sum[i]}`);
        if (sumRelu[i] !== Math.max(Math.fround(x[i] + dy[i]), 0)) {
          assert.fail(`add relu[${i}]: ${sumRelu[i]}`);
        }
      }
      // Inputs untouched, a fresh output each call.
      assert.deepEqual(ew.relu(x), relu);
      assert.notEqual(ew.relu(x), relu);
    },
  });
}

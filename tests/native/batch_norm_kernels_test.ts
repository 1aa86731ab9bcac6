import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { batchNormRunningUpdate, BN_RUNNING_KERNEL } from "../../lib/ops/mod.ts";
import { bnRunning, DnnlBatchNorm } from "../../lib/native/batch_norm_kernels.ts";
import { loadNativeLibraries } from "../../lib/native/ffi.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { on, uniform } from "../helpers.ts";

tf.env().set("PROD", true); // no tfjs-node banner

/** Running statistics, batch mean and a positive batch variance for `c` channels. */
function statistics(c: number, seed: number): [Float32Array, Float32Array, Float32Array, Float32Array] {
  const positive = (v: Float32Array) => v.map((x) => x * x + 0.1);
  return [
    uniform(c, seed),
    positive(uniform(c, seed + 1)),
    uniform(c, seed + 2),
    positive(uniform(c, seed + 3)),
  ];
}

// momentum 0.1 is PyTorch's default; count 1 takes the max(count - 1, 1) guard.
const CASES = [[16, 0.1, 128 * 32 * 32], [3, 0.5, 2], [7, 0.1, 1], [64, 0.9, 50]] as const;

Deno.test("bnRunning() equals batchNormRunningUpdate()'s tfjs ops on cpu bit for bit", async () => {
  for (const [c, momentum, count] of CASES) {
    const stats = statistics(c, c);
    const want = await on("cpu", () => {
      const [rm, rv, m, v] = stats.map((s) => tf.tensor1d(s));
      return batchNormRunningUpdate(rm, rv, m, v, { momentum, count });
    });
    assert.deepEqual(
      bnRunning(stats, { momentum, count }),
      want,
      `C ${c}, momentum ${momentum}, count ${count}`,
    );
  }
});

Deno.test({
  name: "batchNormRunningUpdate() on native equals its tfjs ops on cpu bit for bit",
  ignore: !nativeAvailable().ok,
  async fn() {
    await registerNativeBackend();
    assert.ok(tf.getKernel(BN_RUNNING_KERNEL, "native"), `${BN_RUNNING_KERNEL} on native`);
    for (const [c, momentum, count] of CASES) {
      const stats = statistics(c, 10 + c);
      const run = () => {
        const [rm, rv, m, v] = stats.map((s) => tf.tensor1d(s));
        return batchNormRunningUpdate(rm, rv, m, v, { momentum, count });
      };
      assert.deepEqual(await on("native", run), await on("cpu", run), `C ${c}, momentum ${momentum}`);
    }
  },
});

const dnnl = (() => {
  try {
    return loadNativeLibraries().dnnl;
  } catch {
    return null;
  }
})();

Deno.test({
  name: "DnnlBatchNorm writes every element of the buffers its allocator recycles",
  ignore: dnnl === null,
  fn() {
    const nanFilled = (n: number) => new Float32Array(n).fill(NaN);
    const [fresh, recycled] = [new DnnlBatchNorm(dnnl!), new DnnlBatchNorm(dnnl!, nanFilled)];
    const shape = [2, 3, 5, 4], [n, h, w, c] = shape;
    const x = uniform(n * h * w * c, 1), dy = uniform(x.length, 2);
    const [gamma, beta, mean, variance] = statistics(c, 3);
    for (const bn of [fresh, recycled]) {
      for (const relu of [false, true]) {
        const f = bn.forward(x, shape, gamma, beta, 1e-5, relu);
        const b = bn.backward(dy, x, shape, [gamma, f.mean, f.variance], 1e-5, f.mask);
        const y = bn.inference(x, shape, [gamma, beta, mean, variance], 1e-5);
        for (const [name, out] of [["y", f.y], ["dx", b.dx], ["inference y", y]] as const) {
          assert.ok(!out.some(Number.isNaN), `${name}, relu ${relu}: every element written`);
        }
      }
    }
    const outputs = (bn: DnnlBatchNorm) => {
      const f = bn.forward(x, shape, gamma, beta, 1e-5, true);
      return [f.y, bn.backward(dy, x, shape, [gamma, f.mean, f.variance], 1e-5, f.mask).dx];
    };
    assert.deepEqual(outputs(recycled), outputs(fresh));
  },
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { addRelu, SHORTCUT_GRAD_KERNEL, SHORTCUT_KERNEL, shortcutA } from "../../lib/ops/mod.ts";
import type { Alloc } from "../../lib/native/kernel_io.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { residualKernels } from "../../lib/native/residual_kernels.ts";
import { on, uniform } from "../helpers.ts";

const ignore = !nativeAvailable().ok;

function assertClose(got: Float32Array[], want: Float32Array[], what: string) {
  assert.equal(got.length, want.length, what);
  want.forEach((w, i) => {
    assert.equal(got[i].length, w.length, `${what}: output ${i} length`);
    for (let j = 0; j < w.length; j++) {
      const tol = 1e-4 * Math.max(1, Math.abs(w[j]));
      if (!(Math.abs(got[i][j] - w[j]) <= tol)) {
        assert.fail(`${what}: output ${i}[${j}] ${got[i][j]} vs ${w[j]}`);
      }
    }
  });
}

// Batch 1, odd sizes, and one above oneDNN's size threshold (2^16 values).
const SHAPES: [number, number, number, number][] = [[1, 3, 5, 2], [2, 7, 6, 3], [4, 32, 32, 16]];

Deno.test({
  name: "addRelu() on native matches relu(a + b) on cpu, values and both gradients",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const shape of SHAPES) {
      const n = shape.reduce((p, d) => p * d);
      const [av, bv, dv] = [uniform(n, 1), uniform(n, 2), uniform(n, 3)];
      const run = (ours: boolean) => () => {
        const [a, b, d] = [av, bv, dv].map((v) => tf.tensor4d(v, shape));
        const f = (x: tf.Tensor, y: tf.Tensor) => ours ? addRelu(x, y) : tf.relu(tf.add(x, y));
        return [f(a, b), ...tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), d)))([a, b])];
      };
      assertClose(await on("native", run(true)), await on("cpu", run(false)), `addRelu ${shape}`);
    }
  },
});

Deno.test({
  name: "shortcutA() on native matches subsample + channel pad on cpu, values and gradient",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (
      const [shape, channels] of [[[1, 4, 6, 2], 4], [[2, 6, 4, 3], 8], [[3, 5, 7, 2], 5], [
        [4, 32, 32, 16],
        32,
      ]] as const
    ) {
      const [n, h, w, c] = shape;
      const xv = uniform(n * h * w * c, 4);
      const [oh, ow] = [Math.ceil(h / 2), Math.ceil(w / 2)];
      const dv = uniform(n * oh * ow * channels, 5);
      const before = Math.floor((channels - c) / 2);
      const reference = (x: tf.Tensor4D) =>
        tf.pad(tf.stridedSlice(x, [0, 0, 0, 0], [n, h, w, c], [1, 2, 2, 1]) as tf.Tensor4D, [
          [0, 0],
          [0, 0],
          [0, 0],
          [before, channels - c - before],
        ]);
      const values = (f: (x: tf.Tensor4D) => tf.Tensor) => () => [f(tf.tensor4d(xv, [...shape]))];
      const want = await on("cpu", values(reference));
      assertClose(await on("native", values((x) => shortcutA(x, channels))), want, `shortcutA ${shape}`);
      assertClose(await on("cpu", values((x) => shortcutA(x, channels))), want, `shortcutA ops ${shape}`);
      // Gradient: dy lands on the even rows and columns, minus the padding.
      const grad = () => {
        const d = tf.tensor4d(dv, [n, oh, ow, channels]);
        return tf.grads((x: tf.Tensor) => tf.sum(tf.mul(shortcutA(x as tf.Tensor4D, channels), d)))([
          tf.tensor4d(xv, [...shape]),
        ]);
      };
      const dx = new Float32Array(xv.length);
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < h; i += 2) {
          for (let j = 0; j < w; j += 2) {
            for (let k = 0; k < c; k++) {
              dx[((b * h + i) * w + j) * c + k] = dv[((b * oh + i / 2) * ow + j / 2) * channels + before + k];
            }
          }
        }
      }
      assertClose(await on("native", grad), [dx], `shortcutA gradient ${shape}`);
      assertClose(await on("cpu", grad), [dx], `shortcutA ops gradient ${shape}`);
    }
  },
});

Deno.test("residualKernels() shortcut and its gradient write every element of a recycled buffer", () => {
  const backend = new MathBackendCPU();
  const nanFilled: Alloc = (n) => new Float32Array(n).fill(NaN);
  const kernels = (alloc?: Alloc) =>
    new Map(residualKernels("native", null, alloc).map((k) => [k.kernelName, k]));
  const [fresh, recycled] = [kernels(), kernels(nanFilled)];
  const values = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  // Channels padded on both sides, on one side only (odd split), none; odd heights and widths.
  for (
    const [shape, channels] of [[[1, 4, 6, 2], 4], [[3, 5, 7, 2], 5], [[2, 6, 4, 3], 8], [
      [2, 3, 3, 4],
      4,
    ]] as const
  ) {
    const [n, h, w, c] = shape;
    const x = backend.makeTensorInfo([...shape], "float32", uniform(n * h * w * c, 8));
    const dy = backend.makeTensorInfo(
      [n, Math.ceil(h / 2), Math.ceil(w / 2), channels],
      "float32",
      uniform(n * Math.ceil(h / 2) * Math.ceil(w / 2) * channels, 9),
    );
    const cases = [
      [SHORTCUT_KERNEL, { inputs: { x }, backend, attrs: { channels } }],
      [SHORTCUT_GRAD_KERNEL, { inputs: { dy }, backend, attrs: { inShape: [...shape] } }],
    ] as const;
    for (const [name, args] of cases) {
      const run = (k: Map<string, tf.KernelConfig>) => values(k.get(name)!.kernelFunc(args) as tf.TensorInfo);
      const want = run(fresh);
      assert.ok(!want.some(Number.isNaN), `${name} ${shape}: reference`);
      assert.deepEqual(run(recycled), want, `${name} ${shape} -> ${channels} channels`);
    }
  }
});

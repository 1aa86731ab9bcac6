import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { linear, LINEAR_GRAD_KERNEL, LINEAR_KERNEL, linearReference } from "../../lib/ops/mod.ts";
import { nativeAvailable, registerNativeBackend } from "../../lib/native/mod.ts";
import { on, uniform } from "../helpers.ts";

const ignore = !nativeAvailable().ok;

/** Each value within 1e-4 of the reference, relative to the output's largest. */
function assertClose(got: Float32Array[], want: Float32Array[], what: string) {
  assert.equal(got.length, want.length, what);
  want.forEach((w, i) => {
    assert.equal(got[i].length, w.length, `${what}: output ${i} length`);
    const scale = Math.max(1e-6, ...w.map(Math.abs));
    for (let j = 0; j < w.length; j++) {
      if (!(Math.abs(got[i][j] - w[j]) <= 1e-4 * scale)) {
        assert.fail(`${what}: output ${i}[${j}] ${got[i][j]} vs ${w[j]}`);
      }
    }
  });
}

// [m, k, n]: batch 1, odd sizes, Lab 1's layers (1 -> 64, 64 -> 64, 64 -> 1).
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 5, 3], [7, 3, 5], [100, 1, 64], [100, 64, 64], [
  100,
  64,
  1,
]];

Deno.test({
  name: "linear() on native matches matMul + add (+ relu) on cpu, values and all three gradients",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const k of [LINEAR_KERNEL, LINEAR_GRAD_KERNEL]) {
      assert.ok(tf.getKernel(k, "native"), `${k} on native`);
    }
    for (const [m, k, n] of SHAPES) {
      for (const relu of [false, true]) {
        const [xv, wv, bv, dv] = [uniform(m * k, 1), uniform(k * n, 2), uniform(n, 3), uniform(m * n, 4)];
        const run = (ours: boolean) => () => {
          const [x, w, b, d] = [
            tf.tensor2d(xv, [m, k]),
            tf.tensor2d(wv, [k, n]),
            tf.tensor1d(bv),
            tf.tensor2d(dv, [m, n]),
          ];
          const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
            (ours
              ? linear
              : (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, o: { relu: boolean }) =>
                linearReference(x, w, b, o.relu))(x as tf.Tensor2D, w as tf.Tensor2D, b as tf.Tensor1D, {
                relu,
              });
          return [
            f(x, w, b),
            ...tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(x, w, b), d)))([
              x,
              w,
              b,
            ]),
          ];
        };
        const want = await on("cpu", run(false));
        assertClose(await on("native", run(true)), want, `linear [${m}, ${k}] x [${k}, ${n}] relu ${relu}`);
        // The op on a backend without the kernels is the reference itself.
        assertClose(await on("cpu", run(true)), want, `linear on cpu [${m}, ${k}, ${n}] relu ${relu}`);
      }
    }
  },
});

Deno.test({
  name: "linear() on native leaves no tensor behind, forward or backward",
  ignore,
  async fn() {
    await registerNativeBackend();
    await tf.setBackend("native");
    const [x, w, b] = [
      tf.ones([4, 3]) as tf.Tensor2D,
      tf.variable(tf.ones([3, 2])),
      tf.variable(tf.ones([2])),
    ];
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(() =>
        tf.sum(linear(x, w as tf.Tensor2D, b as tf.Tensor1D, { relu: true }))
      );
      tf.dispose([value, grads]);
    }
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, w, b]);
  },
});

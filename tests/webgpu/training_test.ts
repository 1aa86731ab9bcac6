/**
 * WebGPU against tfjs's reference `cpu` backend: the values and gradients
 * ResNet20 training needs, on tiny random data. Skipped where the runtime has
 * no WebGPU adapter; CI installs Mesa's lavapipe so they run there (slowly:
 * sizes are kept small, but above tfjs's 1000-element CPU hand-off so the
 * GPU kernels really run).
 *
 * `deno task test` runs this file in a process of its own: with Mesa's
 * Vulkan and oneDNN's threads in one test process, a run that used WebGPU
 * before the native-backend tests crashed with a segmentation fault.
 *
 * Regression: tfjs-backend-webgpu 4.22's PadV2 shader only handles ranks
 * 1-4. The rank-6 slice in the old option-A shortcut had a rank-6 pad as its
 * gradient; that shader failed to compile, which zeroed its output and the
 * rest of the GPU submission, so WebGPU training gave wrong losses and NaN.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { probeWebGpu, selectBackend } from "../../lib/runtime/backend.ts";
import { shortcutA } from "../../lib/ops/mod.ts";
import { ResNet20 } from "../../lib/models/resnet20.ts";
import { Rng } from "../../lib/data/rng.ts";

const gpu = await probeWebGpu();
// WebGPU adapters hold native resources that Deno's sanitizers count.
const gpuTest = { ignore: gpu === null, sanitizeOps: false, sanitizeResources: false };

function random(rng: Rng, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => 2 * rng.float() - 1), shape);
}

/** Runs `fn` on `cpu` then `webgpu`, returning the downloaded results of each. */
async function onBoth(fn: () => tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  await selectBackend("webgpu");
  const out: Float32Array[][] = [];
  for (const backend of ["cpu", "webgpu"]) {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const ts = fn();
    out.push(await Promise.all(ts.map(async (t) => await t.data() as Float32Array)));
    tf.dispose(ts);
    assert.equal(tf.memory().numTensors, before, `tensors leaked on ${backend}`);
  }
  return [out[0], out[1]];
}

/** Largest absolute difference over the largest magnitude of `want`. */
function relError(got: Float32Array, want: Float32Array): number {
  assert.equal(got.length, want.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / (scale || 1);
}

function assertClose(got: Float32Array[], want: Float32Array[], names: string[], tol: number): void {
  names.forEach((name, i) => {
    const err = relError(got[i], want[i]);
    assert.ok(err < tol, `${name}: webgpu differs from cpu by ${err.toExponential(2)} (relative)`);
  });
}

Deno.test(
  "webgpu: shortcutA() (option-A shortcut) matches cpu in value and gradient, even and odd H/W",
  gpuTest,
  async () => {
    // Off `native`, shortcutA() is rank-4 pad, reshape and slice ops; odd H/W
    // add a pad row/column first, odd channel padding splits it unevenly.
    const cases: [[number, number, number, number], number][] = [
      [[2, 8, 8, 16], 32],
      [[2, 7, 9, 16], 32],
      [[4, 7, 9, 5], 12],
    ];
    for (const [shape, channels] of cases) {
      const [n, h, w] = shape;
      const f = (x: tf.Tensor) => shortcutA(x as tf.Tensor4D, channels);
      const [cpu, webgpu] = await onBoth(() =>
        tf.tidy(() => {
          const rng = new Rng(1);
          // A computed input, so it lives on the GPU rather than being handed to the CPU.
          const x = tf.mul(random(rng, shape), 1);
          const dy = random(rng, [n, Math.ceil(h / 2), Math.ceil(w / 2), channels]);
          return [f(x), ...tf.grads(f)([x], dy)];
        })
      );
      assertClose(webgpu, cpu, [`value ${shape}`, `dx ${shape}`], 1e-6);
    }
  },
);

Deno.test(
  "webgpu: conv2d with explicit padding and batch norm match cpu in value and gradient",
  gpuTest,
  async () => {
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ];
    const f = (x: tf.Tensor, k: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
      const z = tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 2, pad);
      const { mean, variance } = tf.moments(z, [0, 1, 2]);
      const y = tf.batchNorm4d(
        z,
        mean as tf.Tensor1D,
        variance as tf.Tensor1D,
        beta as tf.Tensor1D,
        gamma as tf.Tensor1D,
        1e-5,
      );
      return tf.relu(y);
    };
    const [cpu, webgpu] = await onBoth(() =>
      tf.tidy(() => {
        const rng = new Rng(2);
        const xs = [[2, 8, 8, 16], [3, 3, 16, 32], [32], [32]].map((s) => tf.mul(random(rng, s), 1));
        const dy = random(rng, [2, 4, 4, 32]);
        return [f(xs[0], xs[1], xs[2], xs[3]), ...tf.grads(f)(xs, dy)];
      })
    );
    assertClose(webgpu, cpu, ["value", "dx", "dfilter", "dgamma", "dbeta"], 1e-5);
  },
);

Deno.test("webgpu: ResNet20 training-mode gradients match cpu", gpuTest, async () => {
  // 8x8 images go through every layer, both option-A shortcuts included.
  const names: string[] = [];
  const [cpu, webgpu] = await onBoth(() => {
    const model = new ResNet20({ seed: 0 });
    const vars = [...model.trainable().entries()];
    const out = tf.tidy(() => {
      const rng = new Rng(3);
      const x = random(rng, [2, 8, 8, 3]) as tf.Tensor4D;
      const y = tf.oneHot(tf.tensor1d([3, 7], "int32"), 10);
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, model.forward(x, true)) as tf.Scalar,
        vars.map(([, v]) => v),
      );
      return [value, ...vars.map(([, v]) => grads[v.name])];
    });
    names.splice(0, names.length, "loss", ...vars.map(([name]) => name));
    model.dispose();
    return out;
  });
  assertClose(webgpu, cpu, names, 1e-4);
});

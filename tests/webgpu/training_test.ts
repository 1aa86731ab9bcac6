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
import * as tf from "@tensorflow/tfjs-core";
import { shortcutA } from "../../lib/ops/mod.ts";
import { ResNet20 } from "../../lib/models/resnet20.ts";
import { Rng } from "../../lib/data/rng.ts";
import { Sgd } from "../../lib/train/sgd.ts";
import { trainStepOn } from "../../lib/train/train_epoch.ts";
import { assertClose, gpuTest, onBoth, random } from "./helpers.ts";

Deno.test(
  "webgpu: shortcutA() (option-A shortcut) matches cpu in value and gradient, even and odd H/W",
  gpuTest,
  async () => {
    // On cpu, shortcutA() is rank-4 pad, reshape and slice ops (odd H/W add a
    // pad row/column first); on webgpu, the plugin's kernel. Odd channel
    // padding splits unevenly.
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

Deno.test(
  "webgpu: two SGD steps of ResNet20 match cpu (losses, updates, BN running statistics)",
  gpuTest,
  async () => {
    // 8x8 images go through every layer and both option-A shortcuts; batch 2.
    const names: string[] = [];
    const [cpu, webgpu] = await onBoth(() => {
      const model = new ResNet20({ seed: 0 });
      const sgd = new Sgd(model.trainable(), { lr: 0.1 });
      const rng = new Rng(4);
      const before = model.tensors.map((t) => t.variable.clone());
      const losses: tf.Tensor[] = [];
      for (let step = 0; step < 2; step++) {
        const x = random(rng, [2, 8, 8, 3]) as tf.Tensor4D;
        const y = tf.tensor1d([3, 7 - step], "int32");
        const [loss, correct] = tf.tidy(() => trainStepOn(model, sgd, x, y));
        losses.push(loss);
        tf.dispose([x, y, correct]);
      }
      // Updates (after - before) of every parameter and buffer, and the losses.
      const out = tf.tidy(() => model.tensors.map((t, i) => tf.sub(t.variable, before[i])));
      names.splice(0, names.length, ...model.tensors.map((t) => t.name), "loss 1", "loss 2");
      tf.dispose(before);
      sgd.dispose();
      model.dispose();
      return [...out, ...losses];
    });
    // The native backend's tolerances (tests/train/train_epoch_test.ts): losses
    // 1e-4; updates 2e-2 relative (a ReLU input within rounding of zero can
    // land on the other side when sums are taken in another order).
    assertClose(webgpu.slice(-2), cpu.slice(-2), names.slice(-2), 1e-4);
    const updates = names.slice(0, -2);
    const rel = updates.map((_, i) => l2(sub(webgpu[i], cpu[i])) / (l2(cpu[i]) || 1));
    const worst = Math.max(...rel);
    if (!(worst < 2e-2)) {
      throw new Error(
        `update ${updates[rel.indexOf(worst)]} differs by ${worst} (relative L2)`,
      );
    }
  },
);

function sub(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v - b[i]);
}

function l2(a: Float32Array): number {
  return Math.sqrt(a.reduce((s, v) => s + v * v, 0));
}

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../../lib/ops/gradients.ts";
import { nativeAvailable, nativeLibraryDescription, registerNativeBackend } from "../../lib/native/mod.ts";
import { batchNormTrain, RELU_GRAD_KERNEL } from "../../lib/ops/mod.ts";
import { bnBackward, bnForward, DnnlBatchNorm } from "../../lib/native/batch_norm_kernels.ts";
import { loadNativeLibraries } from "../../lib/native/ffi.ts";
import { batchNormTrainOps, ResNet20 } from "../../lib/models/resnet20.ts";
import { Rng } from "../../lib/data/rng.ts";
import { decodeSafetensors } from "../../lib/formats/safetensors.ts";
import { on, uniform } from "../helpers.ts";

const available = nativeAvailable().ok;
const ignore = !available;
if (ignore) {
  console.warn(
    `native tests skipped: ${nativeAvailable().detail} (install libdnnl2 or libopenblas0-pthread)`,
  );
}

function assertClose(got: Float32Array[], want: Float32Array[], what: string) {
  assert.equal(got.length, want.length);
  want.forEach((w, i) => {
    assert.equal(got[i].length, w.length, `${what}: output ${i} length`);
    let scale = 0, err = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(w[j]));
      err = Math.max(err, Math.abs(w[j] - got[i][j]));
    }
    assert.ok(
      err <= 1e-4 * Math.max(scale, 1e-6),
      `${what}: output ${i} max error ${err} vs scale ${scale}`,
    );
  });
}

/** `|got - want| / |want|` in the L2 norm. */
function relativeL2(got: Float32Array, want: Float32Array): number {
  let d = 0, w = 0;
  for (let i = 0; i < want.length; i++) {
    d += (got[i] - want[i]) ** 2;
    w += want[i] ** 2;
  }
  return Math.sqrt(d / Math.max(w, 1e-30));
}

type Pad = "same" | "valid" | [[0, 0], [number, number], [number, number], [0, 0]];

const CASES: [number[], number, number, Pad][] = [
  [[2, 7, 5, 3], 5, 1, "same"],
  [[2, 7, 5, 3], 5, 2, "same"],
  [[1, 7, 5, 5], 3, 1, "valid"],
  [[1, 7, 5, 5], 3, 2, "valid"],
  [[3, 8, 8, 4], 8, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]],
  [[2, 6, 9, 3], 5, 1, [[0, 0], [2, 0], [0, 1], [0, 0]]],
];

Deno.test({
  name: "registerNativeBackend() registers `native` and describes the library",
  ignore,
  async fn() {
    const description = await registerNativeBackend();
    assert.equal(description, nativeLibraryDescription());
    assert.match(description, /oneDNN|BLAS/);
    assert.equal(await registerNativeBackend(), description);
    assert.ok(tf.getKernel("Conv2D", "native"));
    assert.ok(tf.getKernel("Tanh", "native"), "cpu kernels are inherited");
  },
});

Deno.test({
  name: "native conv2d values and gradients match the cpu backend",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const [xShape, outC, stride, pad] of CASES) {
      const [, , , inC] = xShape;
      const xv = uniform(xShape.reduce((a, b) => a * b), 1);
      const wv = uniform(9 * inC * outC, 2);
      const dyScale = uniform(4096, 3);
      const run = () => {
        const x = tf.tensor4d(xv, xShape as [number, number, number, number]);
        const w = tf.tensor4d(wv, [3, 3, inC, outC]);
        const f = (a: tf.Tensor, b: tf.Tensor) => {
          const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
          const s = tf.tensor(dyScale.subarray(0, y.size), y.shape);
          return tf.sum(tf.mul(y, s));
        };
        const y = tf.conv2d(x, w, stride, pad);
        const [dx, dw] = tf.grads(f)([x, w]);
        return [y, dx, dw];
      };
      const want = await on("cpu", run);
      const got = await on("native", run);
      assertClose(got, want, `conv ${xShape} s${stride} ${JSON.stringify(pad)}`);
    }
  },
});

Deno.test({
  name: "batchNormTrain() on native matches tf.moments + tf.batchNorm on cpu, with and without ReLU",
  ignore,
  async fn() {
    await registerNativeBackend();
    const shapes: [number, number, number, number][] = [[2, 7, 5, 3], [1, 4, 4, 5], [3, 9, 9, 16]];
    for (const shape of shapes) {
      for (const relu of [false, true]) {
        const n = shape.reduce((a, b) => a * b), c = shape[3];
        const xv = uniform(n, 4), gv = uniform(c, 5), bv = uniform(c, 6), dv = uniform(n, 7);
        const inputs = () =>
          [tf.tensor4d(xv, shape), tf.tensor1d(gv), tf.tensor1d(bv), tf.tensor4d(dv, shape)] as const;
        const reference = () => {
          const [x, g, b, d] = inputs();
          const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
            const { mean, variance } = tf.moments(x, [0, 1, 2]);
            const y = tf.batchNorm(x, mean, variance, b, g, 1e-5);
            return relu ? tf.relu(y) : y;
          };
          const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(x, g, b), d));
          const { mean, variance } = tf.moments(x, [0, 1, 2]);
          return [bn(x, g, b), mean, variance, ...tf.grads(f)([x, g, b])];
        };
        const ours = () => {
          const [x, g, b, d] = inputs();
          const bn = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
            batchNormTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, relu);
          const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bn(x, g, b).y, d));
          const r = bn(x, g, b);
          return [r.y, r.mean, r.variance, ...tf.grads(f)([x, g, b])];
        };
        const want = await on("cpu", reference);
        assertClose(await on("native", ours), want, `batchNormTrain native ${shape} relu ${relu}`);
        assertClose(await on("cpu", ours), want, `batchNormTrain cpu ${shape} relu ${relu}`);
      }
    }
  },
});

Deno.test("bnForward() (the loops used without oneDNN) rounds like float64 maths, as PyTorch's CPU batch norm", () => {
  // ResNet20's first shape at batch 16; channels off-centre like conv outputs.
  const c = 16, rows = 16 * 32 * 32, rng = new Rng(12);
  const x = Float32Array.from({ length: rows * c }, (_, i) => (i % c) / 8 + rng.float());
  const gamma = Float32Array.from({ length: c }, () => rng.float() + 0.5);
  const beta = Float32Array.from({ length: c }, () => rng.float() - 0.5);
  const { y, mean, variance } = bnForward(x, gamma, beta, 1e-5);
  const relu = bnForward(x, gamma, beta, 1e-5, true);
  for (let k = 0; k < c; k++) {
    let s = 0, q = 0;
    for (let i = k; i < x.length; i += c) s += x[i];
    const mu = s / rows;
    for (let i = k; i < x.length; i += c) q += (x[i] - mu) ** 2;
    assert.equal(mean[k], Math.fround(mu));
    assert.ok(Math.abs(variance[k] - q / rows) <= 2 ** -23 * (q / rows), `variance ${k}: ${variance[k]}`);
    const scale = Math.fround(gamma[k] / Math.sqrt(variance[k] + 1e-5));
    const shift = Math.fround(beta[k] - mean[k] * scale);
    for (let i = k; i < x.length; i += c) {
      const want = Math.fround(x[i] * scale + shift);
      assert.equal(y[i], want, `y[${i}]`);
      assert.equal(relu.y[i], Math.max(want, 0), `relu y[${i}]`);
      assert.equal(relu.mask![i], want > 0 ? 1 : 0, `mask[${i}]`);
    }
  }
});

Deno.test({
  name: "DnnlBatchNorm matches bnForward() and bnBackward() on a ResNet20 shape, with and without ReLU",
  ignore: !available || loadNativeLibraries().dnnl === null,
  fn() {
    const shape = [16, 32, 32, 16], n = 16 * 32 * 32 * 16, c = 16;
    const x = uniform(n, 13).map((v, i) => v + (i % c) / 4), dy = uniform(n, 14);
    const gamma = uniform(c, 15).map((v) => v + 1.5), beta = uniform(c, 16);
    const bn = new DnnlBatchNorm(loadNativeLibraries().dnnl!);
    for (const relu of [false, true]) {
      const want = bnForward(x, gamma, beta, 1e-5, relu);
      const got = bn.forward(x, shape, gamma, beta, 1e-5, relu);
      assertClose(
        [got.y, got.mean, got.variance],
        [want.y, want.mean, want.variance],
        `forward relu ${relu}`,
      );
      assert.equal(got.mask === undefined, !relu);
      const stats: [Float32Array, Float32Array, Float32Array] = [gamma, want.mean, want.variance];
      const wantB = bnBackward(dy, x, stats, 1e-5, want.mask);
      const gotB = bn.backward(dy, x, shape, stats, 1e-5, got.mask);
      assertClose(
        [gotB.dx, gotB.dgamma, gotB.dbeta],
        [wantB.dx, wantB.dgamma, wantB.dbeta],
        `backward relu ${relu}`,
      );
    }
  },
});

Deno.test({
  name: "batchNormTrain() gives ResNet20 the gradients of tf.moments + tf.batchNorm on native",
  ignore,
  async fn() {
    // oneDNN's float32 statistics round differently from tfjs's ops, and
    // in this batch one ReLU input sits close enough to zero to land on the
    // other side: the gradients of every layer below it move by up to ~7e-3
    // (relative L2, 1-4 threads; where it happens depends on oneDNN's
    // summation order, i.e. on the thread count). So the check is on the whole gradient of
    // each parameter (relative L2 distance < 2e-2), where a wrong formula or
    // mask shows up as 1e-1 or more.
    await registerNativeBackend();
    await tf.setBackend("native");
    const fix = new URL("../fixtures/weights/", import.meta.url);
    const load = (name: string) =>
      decodeSafetensors(Deno.readFileSync(new URL(name, fix)), { source: name }).state;
    const weights = load("resnet20.safetensors");
    const input = load("inputs16.safetensors").get("inputs")!;
    const step = JSON.parse(Deno.readTextFileSync(new URL("../train_step/step.json", fix)));
    const before = tf.memory().numTensors;
    const grads = (batchNormTrain: typeof batchNormTrainOps) => {
      const model = new ResNet20({ batchNormTrain });
      model.loadStateDict(weights);
      const vars = model.trainable();
      const out = new Map<string, Float32Array>();
      tf.tidy(() => {
        const x = tf.transpose(tf.tensor(input.data as Float32Array, input.shape), [0, 2, 3, 1]);
        const labels = tf.oneHot(tf.tensor1d(Int32Array.from(step.labels), "int32"), 10);
        const { grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(labels, model.forward(x as tf.Tensor4D, true)) as tf.Scalar,
          [...vars.values()],
        );
        for (const [name, v] of vars) out.set(name, grads[v.name].dataSync().slice() as Float32Array);
      });
      model.dispose();
      return out;
    };
    const want = grads(batchNormTrainOps), got = grads(batchNormTrain);
    for (const [name, w] of want) {
      const distance = relativeL2(got.get(name)!, w);
      assert.ok(distance < 2e-2, `${name}: relative L2 distance ${distance}`);
    }
    assert.equal(tf.memory().numTensors, before);
  },
});

Deno.test({
  name: "tf.batchNorm (inference, FusedBatchNorm) on native matches cpu",
  ignore,
  async fn() {
    await registerNativeBackend();
    for (const shape of [[2, 7, 5, 3], [1, 4, 4, 16], [5, 3]]) {
      const n = shape.reduce((a, b) => a * b), c = shape.at(-1)!;
      const xv = uniform(n, 20), stats = [21, 22, 23, 24].map((seed) => uniform(c, seed));
      const run = () => {
        const x = tf.tensor(xv, shape);
        const [mean, v, offset, scale] = stats.map((s) => tf.tensor1d(s));
        const variance = tf.add(tf.abs(v), 0.1);
        return [
          tf.batchNorm(x, mean, variance, offset, scale, 1e-3),
          tf.batchNorm(x, mean, variance, undefined, undefined, 1e-3),
          tf.batchNorm(x, mean, variance, offset, undefined, 1e-5),
        ];
      };
      assertClose(await on("native", run), await on("cpu", run), `batchNorm ${shape}`);
    }
  },
});

Deno.test({
  name: "native elementwise, reduction, slice and pad kernels match cpu",
  ignore,
  async fn() {
    await registerNativeBackend();
    const av = uniform(2 * 3 * 4 * 5, 8), bv = uniform(60, 9);
    const run = () => {
      const a = tf.tensor4d(av, [2, 3, 4, 5]);
      const r = tf.tensor4d(bv.subarray(0, 10), [2, 1, 1, 5]);
      const col = tf.tensor4d(bv.subarray(0, 4), [1, 1, 4, 1]);
      const s = tf.scalar(0.5);
      return [
        tf.add(a, r),
        tf.sub(r, a),
        tf.mul(a, col),
        tf.div(a, tf.add(tf.abs(r), 1)),
        tf.mul(a, s),
        tf.add(a, a),
        tf.relu(a),
        tf.step(a),
        tf.sum(a, [0, 1, 2]),
        tf.mean(a, [1, 2]),
        tf.sum(a, 3, true),
        tf.sum(a, [0, 2]),
        tf.mean(a),
        tf.slice(a, [1, 0, 1, 2], [1, 3, 2, 3]),
        tf.pad(a, [[0, 0], [1, 0], [0, 2], [3, 1]], 0.5),
        ...tf.grads((x: tf.Tensor) => tf.sum(tf.mul(tf.relu(x), tf.mean(x, [1, 2], true))))([a]),
      ];
    };
    assertClose(await on("native", run), await on("cpu", run), "elementwise");
    // Large enough for oneDNN's Add, Relu and Relu gradient.
    const big = [3, 33, 35, 19], n = 3 * 33 * 35 * 19, xv = uniform(n, 10), yv = uniform(n, 11);
    const runBig = () => {
      const [x, y] = [tf.tensor(xv, big), tf.tensor(yv, big)];
      const f = (p: tf.Tensor, q: tf.Tensor) => tf.relu(tf.add(tf.relu(p), q));
      return [f(x, y), ...tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(f(p, q), q)))([x, y])];
    };
    assertClose(await on("native", runBig), await on("cpu", runBig), "elementwise (oneDNN sizes)");
  },
});

Deno.test({
  name: "registerNativeBackend() fuses Relu's gradient with tfjs's values at 0 and NaN",
  ignore,
  async fn() {
    await registerNativeBackend();
    const run = () => {
      const x = tf.tensor1d([-1, 0, 2, NaN, -0, 3e-39]);
      const w = tf.tensor1d([5, 6, 7, 8, 9, 10]);
      return tf.grads((x: tf.Tensor) => tf.sum(tf.mul(tf.relu(x), w)))([x]);
    };
    const want = await on("cpu", run), got = await on("native", run);
    assert.deepEqual([...got[0]], [...want[0]]);
    assert.deepEqual([...got[0]], [0, 0, 7, NaN, 0, 10]);
    const profile = await tf.profile(() => {
      tf.dispose(run());
    });
    assert.ok(profile.kernelNames.includes(RELU_GRAD_KERNEL), profile.kernelNames.join());
  },
});

Deno.test({
  name: "native training steps keep tf.memory().numTensors flat",
  ignore,
  async fn() {
    await registerNativeBackend();
    await tf.setBackend("native");
    const w = tf.variable(tf.tensor4d(uniform(3 * 3 * 3 * 4, 10), [3, 3, 3, 4]));
    const g = tf.variable(tf.ones([4])), b = tf.variable(tf.zeros([4]));
    const x = tf.tensor4d(uniform(2 * 6 * 6 * 3, 11), [2, 6, 6, 3]);
    const step = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const r = batchNormTrain(
            tf.conv2d(x, w as tf.Tensor4D, 2, "same"),
            g as tf.Tensor1D,
            b as tf.Tensor1D,
            1e-5,
          );
          return tf.sum(tf.square(tf.relu(r.y))) as tf.Scalar;
        });
        for (const v of [w, g, b]) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.01)));
      });
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([w, g, b, x]);
  },
});

/**
 * The WebGPU plugin's WGSL kernels for the ops of `lib/ops/` against the
 * ops' plain-tfjs reference on the `cpu` backend: values and gradients,
 * batch 1, odd sizes, channel counts that do not fill a workgroup, and sizes
 * that need more than one tile in the batch-norm reductions.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  addRelu,
  augmentBatch,
  batchNormRunningUpdate,
  batchNormRunningUpdateAll,
  batchNormTrain,
  sgdMomentumStep,
  sgdMomentumStepAll,
  shortcutA,
  softmaxCrossEntropy,
} from "../../lib/ops/mod.ts";
import { Rng } from "../../lib/data/rng.ts";
import { drawAugmentParams, makeBatch, normalisationTable, planBatch } from "../../lib/data/batches.ts";
import { DeviceImages } from "../../lib/train/device_batches.ts";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { assertClose, gpuTest, onBoth, random } from "./helpers.ts";

/** NHWC shapes: batch 1, odd sizes, 1 and 65 channels, and 2 x 24 x 24 = 1152 rows (several tiles). */
const SHAPES: [number, number, number, number][] = [[1, 3, 5, 2], [2, 7, 6, 3], [3, 4, 5, 65], [
  2,
  24,
  24,
  5,
]];

Deno.test(
  "webgpu: batchNormTrain() matches cpu in value, statistics and gradients, with and without ReLU",
  gpuTest,
  async () => {
    for (const shape of SHAPES) {
      for (const relu of [false, true]) {
        const c = shape[3];
        const [cpu, webgpu] = await onBoth(() =>
          tf.tidy(() => {
            const rng = new Rng(7);
            // Offset and scaled, so that a mean far from zero tests the shifted sums.
            const x = tf.add(tf.mul(random(rng, shape), 3), 5) as tf.Tensor4D;
            const gamma = tf.add(random(rng, [c]), 1.5) as tf.Tensor1D;
            const beta = random(rng, [c]) as tf.Tensor1D;
            const dy = random(rng, shape);
            const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
              batchNormTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, relu).y;
            const { y, mean, variance } = batchNormTrain(x, gamma, beta, 1e-5, relu);
            return [y, mean, variance, ...tf.grads(f)([x, gamma, beta], dy)];
          })
        );
        const what = `${shape} relu ${relu}`;
        assertClose(
          webgpu,
          cpu,
          ["y", "mean", "variance", "dx", "dgamma", "dbeta"].map((n) => `${n} ${what}`),
          2e-5,
        );
      }
    }
  },
);

Deno.test("webgpu: batchNormRunningUpdate() matches cpu", gpuTest, async () => {
  const [cpu, webgpu] = await onBoth(() =>
    tf.tidy(() => {
      const rng = new Rng(8);
      const [rm, mean] = [random(rng, [70]), random(rng, [70])] as tf.Tensor1D[];
      const [rv, variance] = [tf.abs(random(rng, [70])), tf.abs(random(rng, [70]))] as tf.Tensor1D[];
      return batchNormRunningUpdate(rm, rv, mean, variance, { momentum: 0.1, count: 2 * 32 * 32 });
    })
  );
  assertClose(webgpu, cpu, ["running mean", "running var"], 1e-6);
});

Deno.test(
  "webgpu: batchNormRunningUpdateAll() of 13 batch norms (several a dispatch) matches cpu and the one-at-a-time op",
  gpuTest,
  async () => {
    const channels = [1, 16, 70, 3, 64, 5, 2, 33, 16, 16, 7, 129, 4];
    const run = (all: boolean) =>
      tf.tidy(() => {
        const rng = new Rng(18);
        const updates = channels.map((c, i) => ({
          runningMean: random(rng, [c]) as tf.Tensor1D,
          runningVar: tf.abs(random(rng, [c])) as tf.Tensor1D,
          mean: random(rng, [c]) as tf.Tensor1D,
          variance: tf.abs(random(rng, [c])) as tf.Tensor1D,
          count: 2 + 31 * i,
        }));
        const out = all
          ? batchNormRunningUpdateAll(updates, 0.1)
          : updates.map((u) =>
            batchNormRunningUpdate(u.runningMean, u.runningVar, u.mean, u.variance, {
              momentum: 0.1,
              count: u.count,
            })
          );
        return out.flat();
      });
    const [cpu, webgpu] = await onBoth(() => run(true));
    const [, single] = await onBoth(() => run(false));
    const names = channels.flatMap((c, i) => [`mean ${i} (${c})`, `var ${i} (${c})`]);
    assertClose(webgpu, cpu, names, 1e-6);
    assert.deepEqual(webgpu, single, "the same values as one update a dispatch");
  },
);

Deno.test(
  "webgpu: addRelu() and ReLU's fused gradient match cpu, values and gradients",
  gpuTest,
  async () => {
    for (const shape of SHAPES) {
      const [cpu, webgpu] = await onBoth(() =>
        tf.tidy(() => {
          const rng = new Rng(9);
          const [a, b, dy] = [random(rng, shape), random(rng, shape), random(rng, shape)];
          const f = (x: tf.Tensor, y: tf.Tensor) => addRelu(x, y);
          const relu = (x: tf.Tensor) => tf.relu(x);
          return [f(a, b), ...tf.grads(f)([a, b], dy), ...tf.grads(relu)([a], dy)];
        })
      );
      assertClose(webgpu, cpu, ["value", "da", "db", "relu dx"].map((n) => `${n} ${shape}`), 1e-6);
    }
  },
);

Deno.test(
  "webgpu: shortcutA() on odd shapes and batch 1 matches cpu, value and gradient",
  gpuTest,
  async () => {
    const cases: [[number, number, number, number], number][] = [[[1, 5, 3, 2], 5], [[2, 6, 4, 16], 32]];
    for (const [shape, channels] of cases) {
      const [n, h, w] = shape;
      const [cpu, webgpu] = await onBoth(() =>
        tf.tidy(() => {
          const rng = new Rng(10);
          const x = tf.mul(random(rng, shape), 1) as tf.Tensor4D;
          const dy = random(rng, [n, Math.ceil(h / 2), Math.ceil(w / 2), channels]);
          const f = (x: tf.Tensor) => shortcutA(x as tf.Tensor4D, channels);
          return [f(x), ...tf.grads(f)([x], dy)];
        })
      );
      assertClose(webgpu, cpu, [`value ${shape}`, `dx ${shape}`], 1e-6);
    }
  },
);

Deno.test("webgpu: sgdMomentumStep() matches cpu", gpuTest, async () => {
  for (const size of [1, 7, 1001]) {
    const [cpu, webgpu] = await onBoth(() =>
      tf.tidy(() => {
        const rng = new Rng(11);
        const [p, g, buf] = [random(rng, [size]), random(rng, [size]), random(rng, [size])];
        return sgdMomentumStep(p, g, buf, tf.scalar(0.1), { momentum: 0.9, weightDecay: 1e-4 });
      })
    );
    assertClose(webgpu, cpu, [`param ${size}`, `buffer ${size}`], 1e-6);
  }
});

Deno.test(
  "webgpu: sgdMomentumStepAll() of 15 parameters (several a dispatch) matches cpu and the one-at-a-time op",
  gpuTest,
  async () => {
    const sizes = [1, 7, 1001, 3, 70000, 16, 16, 9, 2, 300, 4, 5, 6, 64, 10];
    const run = (all: boolean) =>
      tf.tidy(() => {
        const rng = new Rng(19);
        const make = () => sizes.map((n) => random(rng, [n]));
        const [params, grads, buffers] = [make(), make(), make()];
        const lr = tf.scalar(0.1), attrs = { momentum: 0.9, weightDecay: 1e-4 };
        if (!all) return params.flatMap((p, i) => sgdMomentumStep(p, grads[i], buffers[i], lr, attrs));
        const next = sgdMomentumStepAll(params, grads, buffers, lr, attrs);
        return params.flatMap((_, i) => [next.params[i], next.buffers[i]]);
      });
    const [cpu, webgpu] = await onBoth(() => run(true));
    const [, single] = await onBoth(() => run(false));
    assertClose(webgpu, cpu, sizes.flatMap((n, i) => [`param ${i} (${n})`, `buffer ${i} (${n})`]), 1e-6);
    assert.deepEqual(webgpu, single, "the same values as one parameter a dispatch");
  },
);

Deno.test(
  "webgpu: softmaxCrossEntropy() matches cpu, mean and sum, value and gradient, out-of-range labels",
  gpuTest,
  async () => {
    // 300 rows: more than the forward kernel's 256 threads.
    for (const [n, k] of [[1, 10], [3, 2], [300, 10]]) {
      for (const sum of [false, true]) {
        const [cpu, webgpu] = await onBoth(() =>
          tf.tidy(() => {
            const rng = new Rng(20);
            const logits = tf.mul(random(rng, [n, k]), 4) as tf.Tensor2D;
            // The last label is outside 0..k-1: an all-zero one-hot row.
            const labels = tf.tensor1d(
              Array.from({ length: n }, (_, i) => i === n - 1 ? k : rng.int(0, k - 1)),
              "int32",
            );
            const f = (x: tf.Tensor) => softmaxCrossEntropy(x as tf.Tensor2D, labels, { sum });
            return [f(logits), ...tf.grads(f)([logits], tf.scalar(1.5))];
          })
        );
        assertClose(webgpu, cpu, [`loss ${n}x${k} sum ${sum}`, `dlogits ${n}x${k} sum ${sum}`], 2e-6);
      }
    }
  },
);

Deno.test(
  "webgpu: a convolution's weight gradient (split over tiles of output rows) matches cpu",
  gpuTest,
  async () => {
    // [x shape, filter [kh, kw, cin, cout], stride, pad]: batch 1, odd sizes, stride 2, 1x1 and 2x3
    // filters, explicit padding, and 64 output rows of 16 (16 tiles).
    const cases: [
      [number, number, number, number],
      [number, number, number, number],
      number,
      "same" | "valid" | number,
    ][] = [
      [[1, 5, 7, 3], [3, 3, 3, 5], 1, "same"],
      [[2, 7, 6, 3], [3, 3, 3, 4], 2, "same"],
      [[3, 6, 5, 2], [2, 3, 2, 3], 1, "valid"],
      [[2, 5, 5, 4], [1, 1, 4, 6], 2, 0],
      [[2, 6, 6, 3], [3, 3, 3, 2], 1, 1],
      [[4, 16, 16, 3], [3, 3, 3, 16], 1, "same"],
    ];
    for (const [shape, filter, stride, pad] of cases) {
      const what = `x ${shape} w ${filter} stride ${stride} pad ${pad}`;
      const [cpu, webgpu] = await onBoth(() =>
        tf.tidy(() => {
          const rng = new Rng(12);
          const x = random(rng, shape) as tf.Tensor4D;
          const w = random(rng, filter) as tf.Tensor4D;
          const f = (x: tf.Tensor, w: tf.Tensor) =>
            tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
          const y = f(x, w);
          return [y, ...tf.grads(f)([x, w], random(rng, y.shape))];
        })
      );
      assertClose(webgpu, cpu, ["y", "dx", "dw"].map((n) => `${n} ${what}`), 1e-5);
    }
  },
);

Deno.test(
  "webgpu: augmentBatch() builds makeBatch()'s batch bit for bit, from both image tensors, on cpu and webgpu",
  gpuTest,
  async () => {
    const rng = new Rng(14);
    const count = 5;
    const split = {
      images: Uint8Array.from({ length: count * 3072 }, () => rng.int(0, 255)),
      labels: new Uint8Array(count),
      count,
    };
    // Every crop corner and both flips, over images in lo (0..2) and in hi (3, 4); then no crop.
    const indices = Int32Array.of(4, 0, 3, 2, 1, 4, 3, 0);
    const params = drawAugmentParams(indices.length, rng);
    Object.assign(params[0], { dx: 0, dy: 0, flip: true });
    Object.assign(params[1], { dx: 8, dy: 8, flip: false });
    Object.assign(params[2], { dx: 0, dy: 8, flip: false });
    Object.assign(params[3], { dx: 8, dy: 0, flip: true });
    const want = makeBatch(split, indices, { augment: true, params });
    const plain = makeBatch(split, indices);
    const words = new Int32Array(split.images.buffer);
    const [cpu, webgpu] = await onBoth(() =>
      tf.tidy(() => {
        const lo = tf.tensor1d(words.subarray(0, 3 * 768), "int32");
        const hi = tf.tensor1d(words.subarray(3 * 768), "int32");
        const table = tf.tensor1d(normalisationTable());
        const plan = (p?: typeof params) =>
          tf.tensor2d(planBatch(split, indices, { params: p }), [indices.length, 4], "int32");
        return [
          augmentBatch({ lo, hi, loImages: 3, table, plan: plan(params) }),
          augmentBatch({ lo, hi, loImages: 3, table, plan: plan() }),
        ];
      })
    );
    for (const [name, got] of [["cpu", cpu], ["webgpu", webgpu]] as const) {
      assert.deepEqual(got[0], want, `augmented, ${name}`);
      assert.deepEqual(got[1], plain, `whole images, ${name}`);
    }
  },
);

Deno.test(
  "webgpu: DeviceImages holds CIFAR-10's 50,000 training images (96 + 52 MiB) and builds makeBatch's batch",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const count = 50_000;
    const split = { images: new Uint8Array(count * 3072), labels: new Uint8Array(count), count };
    // Pseudo-random bytes, written a word at a time (153.6 MB).
    const words = new Uint32Array(split.images.buffer);
    for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 2654435761);
    const images = new DeviceImages(split);
    // The first and last image of each tensor.
    const indices = Int32Array.of(count - 1, 0, images.loImages, images.loImages - 1);
    const params = drawAugmentParams(indices.length, new Rng(15));
    const x = images.batch(tf.tensor2d(planBatch(split, indices, { params }), [indices.length, 4], "int32"));
    assert.deepEqual(await x.data(), makeBatch(split, indices, { augment: true, params }));
    tf.dispose(x);
    images.dispose();
  },
);

Deno.test(
  "webgpu: tfjs's tiled input gradient of a convolution (bench --conv-input-grad mm) matches cpu",
  gpuTest,
  async () => {
    await selectBackend("webgpu"); // registers tfjs's webgpu flags
    const flag = "WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE";
    const before = tf.env().getBool(flag);
    tf.env().set(flag, false);
    // Which programs ran: the tiled one, not the naive one.
    const labels = new Set<string>();
    const setPipeline = GPUComputePassEncoder.prototype.setPipeline;
    GPUComputePassEncoder.prototype.setPipeline = function (pipeline: GPUComputePipeline) {
      labels.add(pipeline.label);
      return setPipeline.call(this, pipeline);
    };
    try {
      // ResNet20's shapes (3x3, stride 1 and 2), a deep one, and an odd one.
      const cases: [number[], number[], number][] = [
        [[2, 16, 16, 16], [3, 3, 16, 16], 1],
        [[2, 16, 16, 16], [3, 3, 16, 32], 2],
        [[3, 8, 8, 64], [3, 3, 64, 64], 1],
        [[1, 5, 7, 4], [3, 3, 4, 8], 2],
      ];
      for (const [xShape, wShape, stride] of cases) {
        const [cpu, webgpu] = await onBoth(() =>
          tf.tidy(() => {
            const rng = new Rng(16);
            const w = random(rng, wShape) as tf.Tensor4D;
            const f = (x: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w, stride, "same");
            const x = random(rng, xShape);
            return [tf.grad(f)(x, random(rng, f(x).shape))];
          })
        );
        assertClose(webgpu, cpu, [`dx ${xShape} ${wShape} stride ${stride}`], 1e-5);
      }
      assert.ok([...labels].some((l) => l.startsWith("Conv2DDerInputMM")), [...labels].join(", "));
      assert.ok(![...labels].some((l) => l.startsWith("Conv2DDerInputProgram")), [...labels].join(", "));
    } finally {
      GPUComputePassEncoder.prototype.setPipeline = setPipeline;
      tf.env().set(flag, before);
    }
  },
);

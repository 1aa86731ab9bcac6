/**
 * Per-kernel timings of the `native` backend against tfjs's `cpu` backend on
 * ResNet20 training shapes (NHWC, float32): the three convolution kernels
 * per layer shape, training batch norm forward + backward, Relu and Add.
 *
 * Times are the median of `--reps` runs after one warm-up, output read back
 * included. The `cpu` backend runs at batch `--cpu-batch` (its
 * Conv2DBackpropFilter is a scalar JS loop: ~50 s per call at batch 128)
 * and its time is scaled linearly to batch 128; the ratio column is
 * cpu / native.
 *
 * Run: deno run -A bench/kernels.ts [--reps 3] [--cpu-batch 4] [--no-cpu]
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { batchNormTrain, registerNativeBackend } from "../lib/native_backend.ts";

const { values: flags } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    "cpu-batch": { type: "string", default: "4" },
    "no-cpu": { type: "boolean", default: false },
  },
});
const REPS = Number(flags.reps), CPU_BATCH = Number(flags["cpu-batch"]);
const BATCH = 128;

/** [H, W, Cin, Cout, stride, layers of this shape in ResNet20]. */
const CONVS: [number, number, number, number, number, number][] = [
  [32, 32, 3, 16, 1, 1],
  [32, 32, 16, 16, 1, 6],
  [32, 32, 16, 32, 2, 1],
  [16, 16, 32, 32, 1, 5],
  [16, 16, 32, 64, 2, 1],
  [8, 8, 64, 64, 1, 5],
];
const PAD: [[0, 0], [1, 1], [1, 1], [0, 0]] = [[0, 0], [1, 1], [1, 1], [0, 0]];

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Median ms of `fn` (which returns tensors to read back and dispose). */
function time(fn: () => tf.Tensor | tf.Tensor[], reps: number): number {
  const once = () => {
    const t0 = performance.now();
    const out = tf.tidy(fn);
    for (const t of [out].flat()) t.dataSync();
    tf.dispose(out);
    return performance.now() - t0;
  };
  once();
  return median(Array.from({ length: reps }, once));
}

type Case = { name: string; count: number; make: (n: number) => () => tf.Tensor | tf.Tensor[] };

const cases: Case[] = [];
for (const [h, w, cin, cout, s, count] of CONVS) {
  const tag = `${h}x${w}x${cin}->${cout} s${s}`;
  const oh = h / s, ow = w / s;
  cases.push({
    name: `Conv2D ${tag}`,
    count,
    make: (n) => {
      const x = tf.keep(tf.randomNormal([n, h, w, cin])) as tf.Tensor4D;
      const f = tf.keep(tf.randomNormal([3, 3, cin, cout])) as tf.Tensor4D;
      return () => tf.conv2d(x, f, s, PAD);
    },
  });
  if (cin !== 3) {
    cases.push({
      name: `Conv2DBackpropInput ${tag}`,
      count,
      make: (n) => {
        const dy = tf.keep(tf.randomNormal([n, oh, ow, cout])) as tf.Tensor4D;
        const f = tf.keep(tf.randomNormal([3, 3, cin, cout])) as tf.Tensor4D;
        return () => tf.conv2dTranspose(dy, f, [n, h, w, cin], s, PAD);
      },
    });
  }
  cases.push({
    name: `Conv2DBackpropFilter ${tag}`,
    count,
    make: (n) => {
      const x = tf.keep(tf.randomNormal([n, h, w, cin])) as tf.Tensor4D;
      const dy = tf.keep(tf.randomNormal([n, oh, ow, cout])) as tf.Tensor4D;
      const grad = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, s, PAD), dy)));
      const f = tf.keep(tf.randomNormal([3, 3, cin, cout]));
      // Includes the forward conv and the elementwise product: subtract Conv2D.
      return () => grad(f);
    },
  });
}
for (const [h, c, count] of [[32, 16, 7], [16, 32, 6], [8, 64, 6]] as const) {
  cases.push({
    name: `batchNormTrain fwd+bwd ${h}x${h}x${c}`,
    count: count * 2,
    make: (n) => {
      const x = tf.keep(tf.randomNormal([n, h, h, c])) as tf.Tensor4D;
      const g = tf.keep(tf.ones([c])) as tf.Tensor1D, b = tf.keep(tf.zeros([c])) as tf.Tensor1D;
      const grads = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(batchNormTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5).y)
      );
      return () => grads([x, g, b]);
    },
  });
  cases.push({
    name: `Relu ${h}x${h}x${c}`,
    count: count * 2,
    make: (n) => {
      const x = tf.keep(tf.randomNormal([n, h, h, c]));
      return () => tf.relu(x);
    },
  });
  cases.push({
    name: `Add ${h}x${h}x${c}`,
    count: count * 2,
    make: (n) => {
      const x = tf.keep(tf.randomNormal([n, h, h, c]));
      return () => tf.add(x, x);
    },
  });
}

const device = await registerNativeBackend();
console.log(`# native: ${device}; cpu scaled from batch ${CPU_BATCH}; median of ${REPS}`);
console.log("kernel,per_step,native_ms,cpu_ms_scaled,ratio");
let nativeTotal = 0;
for (const c of cases) {
  await tf.setBackend("native");
  const nativeMs = time(c.make(BATCH), REPS);
  nativeTotal += nativeMs * c.count;
  let cpuMs = NaN;
  if (!flags["no-cpu"]) {
    await tf.setBackend("cpu");
    cpuMs = time(c.make(CPU_BATCH), 1) * BATCH / CPU_BATCH;
  }
  console.log(
    `${c.name},${c.count},${nativeMs.toFixed(2)},${cpuMs.toFixed(0)},${(cpuMs / nativeMs).toFixed(1)}`,
  );
}
console.log(`# native sum over one ResNet20 step's kernels (counts above): ${nativeTotal.toFixed(0)} ms`);

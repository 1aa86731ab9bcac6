/**
 * Per-kernel timings of the `native` backend against tfjs's `cpu` backend on
 * ResNet20 training shapes (NHWC, float32), for the ops a training step runs
 * (lib/resnet.ts): the three convolution kernels per layer shape, training
 * batch norm forward + backward (with the ReLU fused in after a block's first
 * convolution, without after its second), `addRelu` and the option-A
 * `shortcutA`, forward + backward (outputs' gradient given, as in a step).
 * The count column is how many of each one
 * step runs; the last line sums native time x count.
 *
 * Times are the median of `--reps` runs after one warm-up, output read back
 * included. The `cpu` backend runs at batch `--cpu-batch` (its
 * Conv2DBackpropFilter is a scalar JS loop: ~50 s per call at batch 128)
 * and its time is scaled linearly to batch 128; the ratio column is
 * cpu / native.
 *
 * Run: deno run -A bench/kernels.ts [--reps 3] [--cpu-batch 4] [--no-cpu]
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "../lib/ops/gradients.ts";
import { parseArgs } from "node:util";
import { addRelu, batchNormTrain, shortcutA } from "../lib/ops/mod.ts";
import { registerNativeBackend } from "../lib/native/mod.ts";
import { median } from "./stats.ts";

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
      const attrs = { strides: [s, s], pad: PAD, dataFormat: "NHWC", filterShape: [3, 3, cin, cout] };
      return () =>
        tf.engine().runKernel(
          tf.Conv2DBackpropFilter,
          { x, dy },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor;
    },
  });
}
/** [H, C, batch norms with ReLU, without, residual additions] per stage. */
const STAGES = [[32, 16, 4, 3, 3], [16, 32, 3, 3, 3], [8, 64, 3, 3, 3]] as const;
for (const [h, c, withRelu, plain, adds] of STAGES) {
  for (const [relu, count] of [[true, withRelu], [false, plain]] as const) {
    cases.push({
      name: `batchNormTrain${relu ? "+ReLU" : ""} fwd+bwd ${h}x${h}x${c}`,
      count,
      make: (n) => {
        const x = tf.keep(tf.randomNormal([n, h, h, c])) as tf.Tensor4D;
        const g = tf.keep(tf.ones([c])) as tf.Tensor1D, b = tf.keep(tf.zeros([c])) as tf.Tensor1D;
        const dy = tf.keep(tf.randomNormal([n, h, h, c]));
        const grads = tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          batchNormTrain(x as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, relu).y
        );
        return () => grads([x, g, b], dy);
      },
    });
  }
  cases.push({
    name: `addRelu fwd+bwd ${h}x${h}x${c}`,
    count: adds,
    make: (n) => {
      const [a, b, dy] = [0, 1, 2].map(() => tf.keep(tf.randomNormal([n, h, h, c])));
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => addRelu(a, b));
      return () => grads([a, b], dy);
    },
  });
}
for (const [h, c] of [[32, 16], [16, 32]] as const) {
  cases.push({
    name: `shortcutA fwd+bwd ${h}x${h}x${c}->${2 * c}`,
    count: 1,
    make: (n) => {
      const x = tf.keep(tf.randomNormal([n, h, h, c])) as tf.Tensor4D;
      const dy = tf.keep(tf.randomNormal([n, h / 2, h / 2, 2 * c]));
      const grad = tf.grad((x: tf.Tensor) => shortcutA(x as tf.Tensor4D, 2 * c));
      return () => grad(x, dy);
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

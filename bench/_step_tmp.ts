import * as tf from "@tensorflow/tfjs";
import { registerNativeBackend, batchNormTrain } from "../lib/native_backend.ts";
import { ResNet20 } from "./_resnet_tmp.ts";
await registerNativeBackend();
await tf.setBackend(Deno.args[0] ?? "native");
const useBn = Deno.args[1] !== "ops";
const model = new ResNet20({ seed: 0, batchNormTrain: useBn ? batchNormTrain : undefined });
const B = 128;
const x = tf.randomNormal([B, 32, 32, 3]) as tf.Tensor4D;
const y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), "int32"), 10);
const vars = [...model.trainable().values()];
const mom = vars.map((v) => tf.zerosLike(v));
function step() {
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.forward(x, true)) as tf.Scalar, vars);
    vars.forEach((v, i) => {
      const g = tf.add(grads[v.name], tf.mul(v, 1e-4));
      const m = tf.add(tf.mul(mom[i], 0.9), g);
      mom[i].dispose(); mom[i] = tf.keep(m);
      v.assign(tf.sub(v, tf.mul(m, 0.1)));
    });
    value.dataSync();
  });
}
step();
const n = Number(Deno.args[2] ?? 3);
const t = performance.now();
for (let i = 0; i < n; i++) step();
const ms = (performance.now() - t) / n;
console.log(`step ${ms.toFixed(1)} ms, ${(B / ms * 1000).toFixed(1)} img/s, tensors ${tf.memory().numTensors}`);
if (Deno.args[3] === "prof") {
  const p = await tf.profile(() => step());
  const agg = new Map<string, [number, number]>();
  for (const k of p.kernels) { const a = agg.get(k.name) ?? [0, 0]; a[0] += k.kernelTimeMs as number; a[1]++; agg.set(k.name, a); }
  const tot = [...agg.values()].reduce((s, a) => s + a[0], 0);
  console.log("kernel total", tot.toFixed(1));
  for (const [k, [ms, c]] of [...agg].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25)) console.log(k.padEnd(28), ms.toFixed(1).padStart(8), String(c).padStart(5));
}

import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs";
import { selectBackend } from "./lib/backend.ts";
import { Mlp } from "./lib/mlp.ts";
await selectBackend("native");
const m = new Mlp([64,64]);
const X = tf.randomUniform([1000,1]) as tf.Tensor2D, Y = tf.randomUniform([1000,1]) as tf.Tensor2D;
const idx = Int32Array.from({length:100},(_, i)=>i*7);
function time(name: string, f: () => void, n = 300) { for (let i=0;i<20;i++) f(); const t = performance.now(); for (let i=0;i<n;i++) f(); console.log(name, ((performance.now()-t)/n*1000).toFixed(0), "us"); }
time("gather", () => tf.tidy(() => { const i = tf.tensor1d(idx, "int32"); tf.gather(X, i); tf.gather(Y, i); }));
time("forward", () => tf.tidy(() => { m.forward(X.slice(0,100) as tf.Tensor2D); }));
const x = X.slice(0,100) as tf.Tensor2D, y = Y.slice(0,100) as tf.Tensor2D;
time("mse", () => tf.tidy(() => { tf.mean(tf.squaredDifference(y, m.forward(x))); }));
time("losses.mse", () => tf.tidy(() => { tf.losses.meanSquaredError(y, m.forward(x)); }));
time("grads", () => tf.tidy(() => { tf.variableGrads(() => tf.mean(tf.squaredDifference(y, m.forward(x))) as tf.Scalar, m.variables()); }));
const adam = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
time("adam minimize", () => tf.tidy(() => { adam.minimize(() => tf.mean(tf.squaredDifference(y, m.forward(x))) as tf.Scalar, false, m.variables()); }));
const sgd = tf.train.sgd(0.01);
time("sgd minimize", () => tf.tidy(() => { sgd.minimize(() => tf.mean(tf.squaredDifference(y, m.forward(x))) as tf.Scalar, false, m.variables()); }));
time("add", () => tf.tidy(() => { tf.add(x, y); }), 3000);
time("matmul", () => tf.tidy(() => { tf.matMul(x, tf.ones([1,64])); }), 3000);
const prof = await tf.profile(() => { for (let i = 0; i < 50; i++) tf.tidy(() => { adam.minimize(() => tf.mean(tf.squaredDifference(y, m.forward(x))) as tf.Scalar, false, m.variables()); }); });
const agg = new Map<string, [number, number]>();
for (const k of prof.kernels) { const a = agg.get(k.name) ?? [0, 0]; a[0] += 1; a[1] += (k.kernelTimeMs as number); agg.set(k.name, a); }
console.log([...agg].sort((a, b) => b[1][1] - a[1][1]).map(([k, [n, t]]) => `${k} x${n/50} ${(t/50*1000).toFixed(0)}us`).join("\n"));

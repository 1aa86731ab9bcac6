import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs";
import { registerNativeBackend, batchNormTrain } from "../lib/native_backend.ts";
console.log(await registerNativeBackend());
function run(backend: string, stride: number, pad: any) {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const x = tf.randomNormal([2, 7, 5, 3], 0, 1, "float32", 1);
    const w = tf.randomNormal([3, 3, 3, 5], 0, 1, "float32", 2);
    const g = tf.grads((x: tf.Tensor4D, w: tf.Tensor4D) => tf.sum(tf.square(tf.conv2d(x, w, stride, pad))));
    const [dx, dw] = g([x, w]);
    const y = tf.conv2d(x, w, stride, pad);
    const gamma = tf.randomNormal([5], 1, 0.1, "float32", 3), beta = tf.randomNormal([5], 0, 0.1, "float32", 4);
    const bg = tf.grads((y: tf.Tensor4D, gm: tf.Tensor1D, bt: tf.Tensor1D) => tf.sum(tf.square(batchNormTrain(y, gm, bt).y).mul(tf.range(0, y.size).reshape(y.shape).div(y.size))));
    const bgs = bg([y, gamma, beta]);
    return [y, dx, dw, ...bgs].map((t) => t.dataSync() as Float32Array);
  });
}
for (const s of [1, 2]) for (const p of ["same", "valid", [[0,0],[1,1],[1,1],[0,0]]]) {
  const a = run("cpu", s, p), b = run("native", s, p);
  const err = a.map((v, i) => { let m = 0, sc = 0; for (let j = 0; j < v.length; j++) { m = Math.max(m, Math.abs(v[j] - b[i][j])); sc = Math.max(sc, Math.abs(v[j])); } return (m / sc).toExponential(1); });
  console.log(s, JSON.stringify(p), err.join(" "));
}
tf.setBackend("native");
const x = tf.randomNormal([128, 32, 32, 16]), w = tf.randomNormal([3, 3, 16, 16]);
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  tf.tidy(() => { const [dx, dw] = tf.grads((x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, 1, "same").sum())([x, w]); dx.dataSync(); dw.dataSync(); });
  console.log("conv fwd+bwd native ms", (performance.now() - t).toFixed(1));
}

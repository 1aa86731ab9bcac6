import * as tf from "@tensorflow/tfjs";
import { registerNativeBackend } from "../lib/native_backend.ts";
await registerNativeBackend();
await tf.setBackend("native");
const x = tf.randomNormal([128, 32, 32, 16]) as tf.Tensor4D, w = tf.randomNormal([3, 3, 16, 16]) as tf.Tensor4D;
for (let i = 0; i < 3; i++) {
  let t = performance.now();
  const y = tf.conv2d(x, w, 1, "same"); y.dataSync();
  const t1 = performance.now() - t; t = performance.now();
  const dx = tf.conv2dTranspose(y, w, x.shape, 1, "same"); dx.dataSync();
  const t2 = performance.now() - t; t = performance.now();
  const dw = tf.tidy(() => tf.grad((w: tf.Tensor4D) => tf.conv2d(x, w, 1, "same"))(w)); 
  const t3 = performance.now() - t;
  console.log(t1.toFixed(1), t2.toFixed(1), t3.toFixed(1));
  tf.dispose([y, dx, dw]);
}
const p = await tf.profile(() => tf.tidy(() => tf.grads((x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, 1, "same").sum())([x, w])));
for (const k of p.kernels) console.log(k.name, k.kernelTimeMs, k.outputShapes);

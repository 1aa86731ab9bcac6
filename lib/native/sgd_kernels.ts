/**
 * The `native` kernels of `ops/sgd_update.ts`: one SGD-with-momentum update
 * of a parameter as a single loop, rounding to float32 after every
 * operation as PyTorch's CPU kernels round, and the same for every
 * parameter in one kernel call.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { SGD_MOMENTUM_ALL_KERNEL, SGD_MOMENTUM_KERNEL, type SgdMomentumAttrs } from "../ops/sgd_update.ts";
import { valuesOf } from "./kernel_io.ts";

/**
 * `d = g + wd p; buf = momentum buf + d; p = p - lr buf`, into fresh
 * arrays, rounding to float32 after each operation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgdUpdate } from "./sgd_kernels.ts";
 * const [p, buf] = sgdUpdate(new Float32Array([1]), new Float32Array([2]), new Float32Array([0]), {
 *   lr: 0.5,
 *   momentum: 0.9,
 *   weightDecay: 0,
 * });
 * assert.deepEqual([p[0], buf[0]], [0, 2]);
 * ```
 */
export function sgdUpdate(
  param: Float32Array,
  grad: Float32Array,
  buffer: Float32Array,
  { lr, momentum, weightDecay }: SgdMomentumAttrs & { lr: number },
): [Float32Array, Float32Array] {
  const f = Math.fround, l = f(lr), m = f(momentum), wd = f(weightDecay);
  const p = new Float32Array(param.length), b = new Float32Array(param.length);
  for (let i = 0; i < p.length; i++) {
    const d = f(grad[i] + f(wd * param[i]));
    const nb = f(f(m * buffer[i]) + d);
    b[i] = nb;
    p[i] = param[i] - f(l * nb);
  }
  return [p, b];
}

/**
 * The {@linkcode SGD_MOMENTUM_KERNEL} config for `backendName` (a
 * `cpu`-derived backend).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { sgdMomentumStep } from "../ops/sgd_update.ts";
 * import { sgdKernel } from "./sgd_kernels.ts";
 * // A cpu-derived backend with this kernel, as registerNativeBackend() builds "native".
 * tf.registerBackend("sgd-demo", () => new MathBackendCPU());
 * tf.registerKernel(sgdKernel("sgd-demo"));
 * await tf.setBackend("sgd-demo");
 * const [param, grad, buffer] = [tf.tensor1d([1]), tf.tensor1d([2]), tf.tensor1d([0])];
 * const [p, buf] = sgdMomentumStep(param, grad, buffer, tf.scalar(0.5), { momentum: 0.9, weightDecay: 0 });
 * assert.deepEqual(await p.data(), Float32Array.of(0)); // 1 - 0.5 * 2
 * assert.deepEqual(await buf.data(), Float32Array.of(2));
 * ```
 */
export function sgdKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: SGD_MOMENTUM_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const cpu = backend as MathBackendCPU;
      const { param, grad, buffer, lr } = inputs as Record<string, tf.TensorInfo>;
      const v = (t: tf.TensorInfo) => valuesOf(cpu, t);
      const [p, b] = sgdUpdate(v(param), v(grad), v(buffer), {
        ...(attrs as unknown as SgdMomentumAttrs),
        lr: v(lr)[0],
      });
      return [cpu.makeTensorInfo(param.shape, "float32", p), cpu.makeTensorInfo(param.shape, "float32", b)];
    },
  };
}

/**
 * The {@linkcode SGD_MOMENTUM_ALL_KERNEL} config for `backendName`: every
 * parameter's {@linkcode sgdUpdate} in one kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { sgdMomentumStepAll } from "../ops/sgd_update.ts";
 * import { sgdAllKernel } from "./sgd_kernels.ts";
 * tf.registerBackend("sgd-all-demo", () => new MathBackendCPU());
 * tf.registerKernel(sgdAllKernel("sgd-all-demo"));
 * await tf.setBackend("sgd-all-demo");
 * const { params } = sgdMomentumStepAll([tf.tensor1d([1]), tf.tensor1d([3])], [tf.tensor1d([2]), tf.tensor1d([2])],
 *   [tf.tensor1d([0]), tf.tensor1d([0])], tf.scalar(0.5), { momentum: 0.9, weightDecay: 0 });
 * assert.deepEqual([(await params[0].data())[0], (await params[1].data())[0]], [0, 2]);
 * ```
 */
export function sgdAllKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: SGD_MOMENTUM_ALL_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const cpu = backend as MathBackendCPU;
      const named = inputs as Record<string, tf.TensorInfo>;
      const v = (t: tf.TensorInfo) => valuesOf(cpu, t);
      const k = (Object.keys(named).length - 1) / 3;
      const hp = { ...(attrs as unknown as SgdMomentumAttrs), lr: v(named.lr)[0] };
      const params: tf.TensorInfo[] = [], buffers: tf.TensorInfo[] = [];
      for (let i = 0; i < k; i++) {
        const param = named[`p${i}`];
        const [p, b] = sgdUpdate(v(param), v(named[`g${i}`]), v(named[`b${i}`]), hp);
        params.push(cpu.makeTensorInfo(param.shape, "float32", p));
        buffers.push(cpu.makeTensorInfo(param.shape, "float32", b));
      }
      return [...params, ...buffers];
    },
  };
}

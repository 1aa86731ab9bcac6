/**
 * One SGD-with-momentum update of a parameter as a single kernel (PyTorch's
 * `torch.optim.SGD`, dampening 0, no Nesterov, float32 rounding after every
 * operation as PyTorch's CPU kernels round), where plain tfjs ops take six
 * kernels a parameter: ResNet20 has 65 parameters.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { valuesOf } from "./kernel_io.ts";

/**
 * Kernel: inputs `{param, grad, buffer}`, attrs `{lr, momentum, weightDecay}`
 * -> `[param, buffer]` updated.
 */
export const SGD_KERNEL = "NativeSgdMomentum";

/**
 * `d = g + wd p; buf = momentum buf + d; p = p - lr buf`, in place on fresh
 * copies, rounding to float32 after each operation.
 *
 * @example
 * ```ts
 * import { sgdUpdate } from "./sgd_kernels.ts";
 * const [p, buf] = sgdUpdate(new Float32Array([1]), new Float32Array([2]), new Float32Array([0]), { lr: 0.5, momentum: 0.9, weightDecay: 0 });
 * console.log(p[0], buf[0]); // 0 2
 * ```
 */
export function sgdUpdate(
  param: Float32Array,
  grad: Float32Array,
  buffer: Float32Array,
  { lr, momentum, weightDecay }: { lr: number; momentum: number; weightDecay: number },
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
 * The {@linkcode SGD_KERNEL} config for `backendName` (a `cpu`-derived
 * backend).
 *
 * @example
 * ```ts ignore
 * tf.registerKernel(sgdKernel("native"));
 * ```
 */
export function sgdKernel(backendName: string): tf.KernelConfig {
  return {
    kernelName: SGD_KERNEL,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const cpu = backend as MathBackendCPU;
      const { param, grad, buffer } = inputs as Record<string, tf.TensorInfo>;
      const v = (t: tf.TensorInfo) => valuesOf(cpu, t);
      const [p, b] = sgdUpdate(
        v(param),
        v(grad),
        v(buffer),
        attrs as unknown as Parameters<typeof sgdUpdate>[3],
      );
      return [cpu.makeTensorInfo(param.shape, "float32", p), cpu.makeTensorInfo(param.shape, "float32", b)];
    },
  };
}

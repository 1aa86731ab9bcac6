/**
 * WebGPU kernels for the element-wise ops of `lib/ops/`: a residual block's
 * `relu(a + b)`, ReLU's gradient, the option-A shortcut and its gradient,
 * and the SGD-momentum update. Each is one dispatch where tfjs's plain ops
 * take two to six (reshape, slice, pad, step, multiply, ...). One thread per
 * output value; float32 throughout, in the reference's order of operations.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADD_RELU_KERNEL,
  RELU_GRAD_KERNEL,
  SGD_MOMENTUM_KERNEL,
  type SgdMomentumAttrs,
  SHORTCUT_GRAD_KERNEL,
  SHORTCUT_KERNEL,
} from "../ops/mod.ts";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import { f32, grid, type KernelRunner, u32, wgsl, type WgslKernel } from "./program.ts";

/** The option-A shortcut's geometry, the same for its forward and gradient kernels. */
const SHORTCUT_UNIFORMS = "size : u32, h : u32, w : u32, c : u32, oh : u32, ow : u32, oc : u32, before : u32";

/** `out = max(a + b, 0)`. */
export const addReluWgsl: WgslKernel = wgsl("addRelu", {
  inputs: ["a", "b"],
  outputs: ["out"],
  uniforms: "size : u32",
  linear: true,
  body: "out[i] = max(a[i] + b[i], 0.0);",
});

/** `dx = dy * step(x)`: `dy` where `x > 0`, else `dy * 0` (the reference's signed zero). */
export const reluGradWgsl: WgslKernel = wgsl("reluGrad", {
  inputs: ["dy", "x"],
  outputs: ["dx"],
  uniforms: "size : u32",
  linear: true,
  body: "dx[i] = dy[i] * select(0.0, 1.0, x[i] > 0.0);",
});

/**
 * Option A forward: `out[b, i, j, k] = x[b, 2i, 2j, k - before]` for
 * `before <= k < before + c`, else 0.
 */
export const shortcutWgsl: WgslKernel = wgsl("shortcutA", {
  inputs: ["x"],
  outputs: ["out"],
  uniforms: SHORTCUT_UNIFORMS,
  linear: true,
  body: `
  let k = i % u.oc;
  let j = (i / u.oc) % u.ow;
  let r = (i / (u.oc * u.ow)) % u.oh;
  let b = i / (u.oc * u.ow * u.oh);
  var v = 0.0;
  if (k >= u.before && k < u.before + u.c) {
    v = x[((b * u.h + 2u * r) * u.w + 2u * j) * u.c + (k - u.before)];
  }
  out[i] = v;`,
});

/** Option A gradient: `dx[b, 2i, 2j, k] = dy[b, i, j, k + before]`, zero elsewhere. */
export const shortcutGradWgsl: WgslKernel = wgsl("shortcutAGrad", {
  inputs: ["dy"],
  outputs: ["dx"],
  uniforms: SHORTCUT_UNIFORMS,
  linear: true,
  body: `
  let k = i % u.c;
  let col = (i / u.c) % u.w;
  let row = (i / (u.c * u.w)) % u.h;
  let b = i / (u.c * u.w * u.h);
  var v = 0.0;
  if (row % 2u == 0u && col % 2u == 0u) {
    v = dy[((b * u.oh + row / 2u) * u.ow + col / 2u) * u.oc + k + u.before];
  }
  dx[i] = v;`,
});

/** `d = g + wd p; buf' = m buf + d; p' = p - lr buf'` (PyTorch's SGD). */
export const sgdWgsl: WgslKernel = wgsl("sgdMomentum", {
  inputs: ["p", "g", "buf", "lr"],
  outputs: ["pOut", "bufOut"],
  uniforms: "size : u32, momentum : f32, weightDecay : f32",
  linear: true,
  body: `
  let d = g[i] + u.weightDecay * p[i];
  let nb = u.momentum * buf[i] + d;
  bufOut[i] = nb;
  pOut[i] = p[i] - lr[0] * nb;`,
});

/** Every WGSL kernel of this file, to compile at startup. */
export const ELEMENTWISE_WGSL: readonly WgslKernel[] = [
  addReluWgsl,
  reluGradWgsl,
  shortcutWgsl,
  shortcutGradWgsl,
  sgdWgsl,
];

const size = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape);

/** Shortcut geometry: input `[n, h, w, c]` to `[n, ceil(h/2), ceil(w/2), channels]`. */
function shortcutShape([n, h, w, c]: readonly number[], channels: number) {
  const oh = Math.ceil(h / 2), ow = Math.ceil(w / 2);
  return { n, h, w, c, oh, ow, oc: channels, before: Math.floor((channels - c) / 2) };
}

/**
 * The kernel configs of this file for the `webgpu` backend.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * for (const k of elementwiseKernels(() => runner)) tf.registerKernel(k);
 * ```
 */
export function elementwiseKernels(runnerOf: (backend: object) => KernelRunner): tf.KernelConfig[] {
  const backendName = WEBGPU_BACKEND;
  return [
    {
      kernelName: ADD_RELU_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const runner = runnerOf(backend);
        const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        return runner.run(addReluWgsl, {
          inputs: [a, b],
          outputs: [{ shape: a.shape, dtype: "float32" }],
          uniforms: u32(size(a)),
          workgroups: grid(size(a)),
        })[0];
      },
    },
    {
      kernelName: RELU_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const runner = runnerOf(backend);
        const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
        return runner.run(reluGradWgsl, {
          inputs: [dy, x],
          outputs: [{ shape: x.shape, dtype: "float32" }],
          uniforms: u32(size(x)),
          workgroups: grid(size(x)),
        })[0];
      },
    },
    {
      kernelName: SHORTCUT_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const runner = runnerOf(backend);
        const { x } = inputs as { x: tf.TensorInfo };
        const g = shortcutShape(x.shape, (attrs as { channels: number }).channels);
        const n = g.n * g.oh * g.ow * g.oc;
        return runner.run(shortcutWgsl, {
          inputs: [x],
          outputs: [{ shape: [g.n, g.oh, g.ow, g.oc], dtype: "float32" }],
          uniforms: u32(n, g.h, g.w, g.c, g.oh, g.ow, g.oc, g.before),
          workgroups: grid(n),
        })[0];
      },
    },
    {
      kernelName: SHORTCUT_GRAD_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const runner = runnerOf(backend);
        const { dy } = inputs as { dy: tf.TensorInfo };
        const inShape = (attrs as unknown as { inShape: number[] }).inShape;
        const g = shortcutShape(inShape, dy.shape[3]);
        const n = inShape.reduce((p, d) => p * d, 1);
        return runner.run(shortcutGradWgsl, {
          inputs: [dy],
          outputs: [{ shape: [...inShape], dtype: "float32" }],
          uniforms: u32(n, g.h, g.w, g.c, g.oh, g.ow, g.oc, g.before),
          workgroups: grid(n),
        })[0];
      },
    },
    {
      kernelName: SGD_MOMENTUM_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const runner = runnerOf(backend);
        const { param, grad, buffer, lr } = inputs as Record<string, tf.TensorInfo>;
        const { momentum, weightDecay } = attrs as unknown as SgdMomentumAttrs;
        return runner.run(sgdWgsl, {
          inputs: [param, grad, buffer, lr],
          outputs: [{ shape: param.shape, dtype: "float32" }, { shape: param.shape, dtype: "float32" }],
          uniforms: [...u32(size(param)), f32(momentum), f32(weightDecay)],
          workgroups: grid(size(param)),
        });
      },
    },
  ];
}

/**
 * WebGPU kernels for the element-wise ops of `lib/ops/`: a residual block's
 * `relu(a + b)`, ReLU's gradient, the option-A shortcut and its gradient,
 * and the SGD-momentum update. Each is one dispatch where tfjs's plain ops
 * take two to six (reshape, slice, pad, step, multiply, ...); SGD updates
 * several parameters a dispatch where the device binds enough buffers, and
 * has an in-place form for compiled steps. One thread per output value;
 * float32 throughout, in the reference's order of operations.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADD_RELU_KERNEL,
  RELU_GRAD_KERNEL,
  SGD_MOMENTUM_ALL_KERNEL,
  SGD_MOMENTUM_KERNEL,
  type SgdMomentumAttrs,
  SHORTCUT_GRAD_KERNEL,
  SHORTCUT_KERNEL,
} from "../ops/mod.ts";
import { WEBGPU_BACKEND } from "./backend_internals.ts";
import {
  f32,
  grid,
  type KernelRunner,
  perSlot,
  slotKernels,
  slotsFor,
  u32,
  wgsl,
  type WgslKernel,
  WORKGROUP,
} from "./program.ts";

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

/**
 * Parameters one SGD dispatch updates on a device with `limits`: each binds
 * five buffers (parameter, gradient, buffer in; parameter, buffer out), the
 * learning rate one more.
 */
function sgdSlots(limits: { maxStorageBuffersPerShaderStage: number }): number {
  return slotsFor(limits, 5, 1);
}

/**
 * `d = g + wd p; buf' = m buf + d; p' = p - lr buf'` (PyTorch's SGD) for `k`
 * parameters in one dispatch: parameter `z` in workgroup row `z`, one thread a
 * value. In place, each parameter and buffer is written over.
 */
export const sgdWgsl: (k: number) => WgslKernel = slotKernels((k) => {
  const slots = Array.from({ length: k }, (_, z) => z);
  return wgsl(`sgdMomentum${k}`, {
    inputs: [...slots.flatMap((z) => [`p${z}`, `g${z}`, `b${z}`]), "lr"],
    outputs: slots.flatMap((z) => [`pOut${z}`, `bOut${z}`]),
    uniforms: ["momentum : f32", "weightDecay : f32", ...slots.map((z) => `size${z} : u32`)].join(", "),
    body: `
  let i = gid.x + gid.y * nwg.x * ${WORKGROUP}u;
  ${
      perSlot(k, (z) => `
      if (i < u.size${z}) {
        let d = g${z}[i] + u.weightDecay * p${z}[i];
        let nb = u.momentum * b${z}[i] + d;
        bOut${z}[i] = nb;
        pOut${z}[i] = p${z}[i] - lr[0] * nb;
      }`)
    }`,
    inPlace: Object.fromEntries(slots.flatMap((z) => [[`pOut${z}`, `p${z}`], [`bOut${z}`, `b${z}`]])),
  });
});

/** Every WGSL kernel of this file a device with `limits` runs, to compile at startup. */
export function elementwiseWgsl(limits: { maxStorageBuffersPerShaderStage: number }): WgslKernel[] {
  const sgd = Array.from({ length: sgdSlots(limits) }, (_, k) => sgdWgsl(k + 1));
  return [addReluWgsl, reluGradWgsl, shortcutWgsl, shortcutGradWgsl, ...sgd];
}

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
        const { param, grad, buffer, lr } = inputs as Record<string, tf.TensorInfo>;
        const [p, b] = sgd(
          runnerOf(backend),
          [[param, grad, buffer]],
          lr,
          attrs as unknown as SgdMomentumAttrs,
        );
        return [p[0], b[0]];
      },
    },
    {
      kernelName: SGD_MOMENTUM_ALL_KERNEL,
      backendName,
      kernelFunc: ({ inputs, attrs, backend }) => {
        const named = inputs as Record<string, tf.TensorInfo>;
        const triples: [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo][] = [];
        for (let i = 0; `p${i}` in named; i++) triples.push([named[`p${i}`], named[`g${i}`], named[`b${i}`]]);
        const [params, buffers] = sgd(
          runnerOf(backend),
          triples,
          named.lr,
          attrs as unknown as SgdMomentumAttrs,
        );
        return [...params, ...buffers];
      },
    },
  ];
}

/**
 * SGD of every `[param, grad, buffer]`, {@linkcode sgdSlots} parameters a
 * dispatch: the new params and buffers, in order.
 */
function sgd(
  runner: KernelRunner,
  triples: readonly (readonly [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo])[],
  lr: tf.TensorInfo,
  { momentum, weightDecay }: SgdMomentumAttrs,
): [tf.TensorInfo[], tf.TensorInfo[]] {
  const params: tf.TensorInfo[] = [], buffers: tf.TensorInfo[] = [];
  const slots = sgdSlots(runner.limits);
  for (let first = 0; first < triples.length; first += slots) {
    const chunk = triples.slice(first, first + slots);
    const largest = Math.max(...chunk.map(([p]) => size(p)));
    const [x, y] = grid(largest);
    const out = runner.run(sgdWgsl(chunk.length), {
      inputs: [...chunk.flat(), lr],
      outputs: chunk.flatMap((
        [p],
      ) => [{ shape: p.shape, dtype: "float32" }, { shape: p.shape, dtype: "float32" }]),
      uniforms: [f32(momentum), f32(weightDecay), ...u32(...chunk.map(([p]) => size(p)))],
      workgroups: [x, y, chunk.length],
    });
    for (let z = 0; z < chunk.length; z++) {
      params.push(out[2 * z]);
      buffers.push(out[2 * z + 1]);
    }
  }
  return [params, buffers];
}

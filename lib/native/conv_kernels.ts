/**
 * tfjs kernel configs `Conv2D`, `Conv2DBackpropInput` and
 * `Conv2DBackpropFilter` on {@linkcode NativeConv}, for float32 NHWC data
 * with dilation 1; anything else goes to the `cpu` backend's kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { ConvGeometry, NativeConv } from "./conv.ts";
import { f32, withCpuFallback } from "./kernel_io.ts";

/** The float32 values of every tensor in `ts`, or null if one is not float32. */
function f32s(backend: MathBackendCPU, ...ts: tf.TensorInfo[]): Float32Array[] | null {
  const out: Float32Array[] = [];
  for (const t of ts) {
    const v = f32(backend, t);
    if (!v) return null;
    out.push(v);
  }
  return out;
}

type Info = tf.backend_util.Conv2DInfo;

/**
 * The geometry of `info`, or null when the native path cannot run it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { convGeometry } from "./conv_kernels.ts";
 * // ResNet20's first stride-2 conv: [N, 32, 32, 16] -> [N, 16, 16, 32], PyTorch's padding 1.
 * const pad = [[0, 0], [1, 1], [1, 1], [0, 0]] as tf.backend_util.ExplicitPadding;
 * const info = tf.backend_util.computeConv2DInfo([8, 32, 32, 16], [3, 3, 16, 32], 2, 1, pad);
 * const g = convGeometry(info)!;
 * assert.deepEqual([g.outH, g.outW, g.outC], [16, 16, 32]);
 * assert.deepEqual([g.padTop, g.padBottom, g.padLeft, g.padRight], [1, 1, 1, 1]);
 * // Dilated convolutions go to the `cpu` kernel.
 * const dilated = tf.backend_util.computeConv2DInfo([8, 32, 32, 16], [3, 3, 16, 32], 1, 2, "same");
 * assert.equal(convGeometry(dilated), null);
 * ```
 */
export function convGeometry(info: Info): ConvGeometry | null {
  if (
    info.dataFormat !== "channelsLast" || info.dilationHeight !== 1 ||
    info.dilationWidth !== 1 || info.inChannels !== info.filterShape[2]
  ) {
    return null;
  }
  const p = info.padInfo;
  if (p.top < 0 || p.left < 0 || p.bottom < 0 || p.right < 0) return null;
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: p.top,
    padBottom: p.bottom,
    padLeft: p.left,
    padRight: p.right,
  };
}

/** The attributes of the three kernels (each has the common ones and some of the rest). */
type ConvAttrs = tf.Conv2DAttrs & tf.Conv2DBackpropInputAttrs & tf.Conv2DBackpropFilterAttrs;
type Shape4 = [number, number, number, number];

/** What sets one convolution kernel apart; {@linkcode convKernel} does the rest. */
interface ConvKernelSpec {
  kernelName: string;
  /** Its two inputs, in the order `run` takes their values. */
  inputs: [string, string];
  /** `[x shape, filter shape, dilations]` of the forward convolution. */
  shapes(
    inputs: Record<string, tf.TensorInfo>,
    attrs: ConvAttrs,
  ): [Shape4, Shape4, number | [number, number]];
  /** The native computation. */
  run(a: Float32Array, b: Float32Array, g: ConvGeometry): Float32Array;
  /** The output's shape. */
  outShape(info: Info): number[];
}

/** `spec`'s kernel: native when {@linkcode convGeometry} and float32 inputs allow, else `cpu`'s. */
function convKernel(backendName: string, spec: ConvKernelSpec): tf.KernelConfig {
  const bu = tf.backend_util;
  return withCpuFallback(spec.kernelName, backendName, (args, backend) => {
    const inputs = args.inputs as Record<string, tf.TensorInfo>;
    const a = args.attrs as unknown as ConvAttrs;
    const [xShape, filterShape, dilations] = spec.shapes(inputs, a);
    const info = bu.computeConv2DInfo(
      xShape,
      filterShape,
      a.strides,
      dilations,
      a.pad,
      a.dimRoundingMode,
      false,
      bu.convertConv2DDataFormat(a.dataFormat),
    );
    const g = convGeometry(info);
    const vals = f32s(backend, inputs[spec.inputs[0]], inputs[spec.inputs[1]]);
    if (!g || !vals) return null;
    return backend.makeTensorInfo(spec.outShape(info), "float32", spec.run(vals[0], vals[1], g));
  });
}

/**
 * The three convolution kernels for `backendName`, computing with `conv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { NativeConv } from "./conv.ts";
 * import { convKernels } from "./conv_kernels.ts";
 * import { loadNativeLibraries } from "./ffi.ts";
 * // A cpu-derived backend with these kernels, as registerNativeBackend() builds "native".
 * tf.registerBackend("conv-demo", () => new MathBackendCPU());
 * for (const k of convKernels("conv-demo", new NativeConv(loadNativeLibraries()))) tf.registerKernel(k);
 * await tf.setBackend("conv-demo");
 * const y = tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, tf.ones([3, 3, 1, 1]) as tf.Tensor4D, 1, "same");
 * assert.deepEqual(await y.data(), Float32Array.of(4, 6, 4, 6, 9, 6, 4, 6, 4));
 * ```
 */
export function convKernels(
  backendName: string,
  conv: NativeConv,
): tf.KernelConfig[] {
  const shape = (t: tf.TensorInfo) => t.shape as Shape4;
  return [
    convKernel(backendName, {
      kernelName: tf.Conv2D,
      inputs: ["x", "filter"],
      shapes: ({ x, filter }, a) => [shape(x), shape(filter), a.dilations],
      run: (x, w, g) => conv.forward(x, w, g),
      outShape: (info) => info.outShape,
    }),
    convKernel(backendName, {
      kernelName: tf.Conv2DBackpropInput,
      inputs: ["dy", "filter"],
      shapes: ({ filter }, a) => [a.inputShape, shape(filter), 1],
      run: (dy, w, g) => conv.backpropInput(dy, w, g),
      outShape: (info) => info.inShape,
    }),
    convKernel(backendName, {
      kernelName: tf.Conv2DBackpropFilter,
      inputs: ["x", "dy"],
      shapes: ({ x }, a) => [shape(x), a.filterShape, 1],
      run: (x, dy, g) => conv.backpropFilter(x, dy, g),
      outShape: (info) => info.filterShape,
    }),
  ];
}

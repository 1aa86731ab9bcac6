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

/** The geometry of `info`, or null when the native path cannot run it. */
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
 * ```ts ignore
 * for (const k of convKernels("native", new NativeConv(libs))) tf.registerKernel(k);
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

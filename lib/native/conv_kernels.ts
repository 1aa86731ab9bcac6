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
import { cpuKernel, f32 } from "./kernel_io.ts";

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
  const bu = tf.backend_util;
  const fallbackConv = cpuKernel(tf.Conv2D);
  const fallbackInput = cpuKernel(tf.Conv2DBackpropInput);
  const fallbackFilter = cpuKernel(tf.Conv2DBackpropFilter);
  return [
    {
      kernelName: tf.Conv2D,
      backendName,
      kernelFunc: (args) => {
        const backend = args.backend as MathBackendCPU;
        const { x, filter } = args.inputs as Record<string, tf.TensorInfo>;
        const a = args.attrs as unknown as tf.Conv2DAttrs;
        const info = bu.computeConv2DInfo(
          x.shape as [number, number, number, number],
          filter.shape as [number, number, number, number],
          a.strides,
          a.dilations,
          a.pad,
          a.dimRoundingMode,
          false,
          bu.convertConv2DDataFormat(a.dataFormat),
        );
        const g = convGeometry(info);
        const vals = f32s(backend, x, filter);
        if (!g || !vals) return fallbackConv(args);
        const y = conv.forward(vals[0], vals[1], g);
        return backend.makeTensorInfo(info.outShape, "float32", y);
      },
    },
    {
      kernelName: tf.Conv2DBackpropInput,
      backendName,
      kernelFunc: (args) => {
        const backend = args.backend as MathBackendCPU;
        const { dy, filter } = args.inputs as Record<string, tf.TensorInfo>;
        const a = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
        const info = bu.computeConv2DInfo(
          a.inputShape,
          filter.shape as [number, number, number, number],
          a.strides,
          1,
          a.pad,
          a.dimRoundingMode,
          false,
          bu.convertConv2DDataFormat(a.dataFormat),
        );
        const g = convGeometry(info);
        const vals = f32s(backend, dy, filter);
        if (!g || !vals) return fallbackInput(args);
        const dx = conv.backpropInput(vals[0], vals[1], g);
        return backend.makeTensorInfo(info.inShape, "float32", dx);
      },
    },
    {
      kernelName: tf.Conv2DBackpropFilter,
      backendName,
      kernelFunc: (args) => {
        const backend = args.backend as MathBackendCPU;
        const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
        const a = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
        const info = bu.computeConv2DInfo(
          x.shape as [number, number, number, number],
          a.filterShape,
          a.strides,
          1,
          a.pad,
          a.dimRoundingMode,
          false,
          bu.convertConv2DDataFormat(a.dataFormat),
        );
        const g = convGeometry(info);
        const vals = f32s(backend, x, dy);
        if (!g || !vals) return fallbackFilter(args);
        const dw = conv.backpropFilter(vals[0], vals[1], g);
        return backend.makeTensorInfo(info.filterShape, "float32", dw);
      },
    },
  ];
}

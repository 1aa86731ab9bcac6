/**
 * Float32 elementwise, reduction and copy kernels as tight TypedArray loops,
 * replacing `cpu` kernels that index element by element (`Relu`, `Step`,
 * broadcasting `Add`/`Sub`/`Mul`/`RealDiv`, `Sum`/`Mean` over inner axes,
 * `Slice`, `PadV2`): in a ResNet20 training step these took 10x longer than
 * the convolutions. Other dtypes go to the `cpu` kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { DNNL_ELEMENTWISE_MIN, type DnnlElementwise } from "./dnnl_elementwise.ts";
import { RELU_GRAD_KERNEL } from "../ops/relu_grad.ts";
import { f32, withCpuFallback } from "./kernel_io.ts";

type Args = Parameters<tf.KernelFunc>[0];

/** Row-major strides of `shape`. */
function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Calls `body(offsetA, offsetB, offsetOut)` once per innermost row of the
 * output `shape`, with the operands' offsets given their output-space
 * strides (0 on broadcast axes).
 */
function forEachRow(
  shape: number[],
  sa: number[],
  sb: number[],
  body: (a: number, b: number, o: number) => void,
): void {
  const rank = shape.length;
  if (rank <= 1) {
    body(0, 0, 0);
    return;
  }
  const inner = shape[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let a = 0, b = 0, o = 0;
  const rows = shape.slice(0, rank - 1).reduce((p, d) => p * d, 1);
  for (let r = 0; r < rows; r++) {
    body(a, b, o);
    o += inner;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      a += sa[d];
      b += sb[d];
      if (idx[d] < shape[d]) break;
      a -= sa[d] * shape[d];
      b -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

type BinOp = "add" | "sub" | "mul" | "div";

/** `out = a op b` with numpy broadcasting over float32 arrays. */
function binary(
  op: BinOp,
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
): { out: Float32Array; shape: number[] } {
  const shape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const size = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(size);
  if (a.length === size && b.length === size) {
    kernelSame(op, a, b, out);
    return { out, shape };
  }
  if (b.length === 1 && a.length === size) {
    kernelScalarB(op, a, b[0], out);
    return { out, shape };
  }
  if (a.length === 1 && b.length === size && (op === "add" || op === "mul")) {
    kernelScalarB(op, b, a[0], out);
    return { out, shape };
  }
  const rank = shape.length;
  const bstrides = (s: number[]) => {
    const padded = [...new Array(rank - s.length).fill(1), ...s];
    const st = strides(padded);
    return padded.map((d, i) => (d === 1 && shape[i] !== 1 ? 0 : st[i]));
  };
  const sa = bstrides(aShape), sb = bstrides(bShape);
  const inner = rank === 0 ? 1 : shape[rank - 1];
  const ia = rank === 0 ? 0 : sa[rank - 1], ib = rank === 0 ? 0 : sb[rank - 1];
  forEachRow(shape, sa, sb, (oa, ob, oo) => {
    rowOp(op, a, oa, ia, b, ob, ib, out, oo, inner);
  });
  return { out, shape };
}

function kernelSame(
  op: BinOp,
  a: Float32Array,
  b: Float32Array,
  o: Float32Array,
): void {
  const n = o.length;
  if (op === "add") { for (let i = 0; i < n; i++) o[i] = a[i] + b[i]; }
  else if (op === "sub") { for (let i = 0; i < n; i++) o[i] = a[i] - b[i]; }
  else if (op === "mul") { for (let i = 0; i < n; i++) o[i] = a[i] * b[i]; }
  else for (let i = 0; i < n; i++) o[i] = a[i] / b[i];
}

function kernelScalarB(
  op: BinOp,
  a: Float32Array,
  s: number,
  o: Float32Array,
): void {
  const n = o.length;
  if (op === "add") { for (let i = 0; i < n; i++) o[i] = a[i] + s; }
  else if (op === "sub") { for (let i = 0; i < n; i++) o[i] = a[i] - s; }
  else if (op === "mul") { for (let i = 0; i < n; i++) o[i] = a[i] * s; }
  else for (let i = 0; i < n; i++) o[i] = a[i] / s;
}

function rowOp(
  op: BinOp,
  a: Float32Array,
  oa: number,
  ia: number,
  b: Float32Array,
  ob: number,
  ib: number,
  o: Float32Array,
  oo: number,
  n: number,
): void {
  if (op === "add") {
    for (let i = 0; i < n; i++) o[oo + i] = a[oa + i * ia] + b[ob + i * ib];
  } else if (op === "sub") {
    for (let i = 0; i < n; i++) o[oo + i] = a[oa + i * ia] - b[ob + i * ib];
  } else if (op === "mul") {
    for (let i = 0; i < n; i++) o[oo + i] = a[oa + i * ia] * b[ob + i * ib];
  } else {
    for (let i = 0; i < n; i++) o[oo + i] = a[oa + i * ia] / b[ob + i * ib];
  }
}

function binaryKernel(
  name: string,
  op: BinOp,
  backendName: string,
  ew: DnnlElementwise | null = null,
): tf.KernelConfig {
  return withCpuFallback(name, backendName, (args, backend) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const av = f32(backend, a), bv = f32(backend, b);
    if (!av || !bv) return null;
    if (
      ew && op === "add" && av.length >= DNNL_ELEMENTWISE_MIN &&
      tf.util.arraysEqual(a.shape, b.shape)
    ) {
      return backend.makeTensorInfo(a.shape, "float32", ew.add(av, bv));
    }
    const r = binary(op, av, a.shape, bv, b.shape);
    return backend.makeTensorInfo(r.shape, "float32", r.out);
  });
}

/**
 * A kernel on one input `x`: `body` computes the float32 output's shape and
 * values from `x` and its values, or returns null to leave `x` (and any
 * non-float32 input) to the `cpu` kernel.
 */
function xKernel(
  name: string,
  backendName: string,
  body: (x: tf.TensorInfo, xv: Float32Array, attrs: Args["attrs"]) => [number[], Float32Array] | null,
): tf.KernelConfig {
  return withCpuFallback(name, backendName, (args, backend) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const xv = f32(backend, x);
    const out = xv && body(x, xv, args.attrs);
    return out ? backend.makeTensorInfo(out[0], "float32", out[1]) : null;
  });
}

/** `fn` applied to `x`'s values, same shape. */
function unaryKernel(
  name: string,
  backendName: string,
  fn: (x: Float32Array, attrs: tf.NamedAttrMap) => Float32Array,
): tf.KernelConfig {
  return xKernel(name, backendName, (x, xv, attrs) => [x.shape, fn(xv, attrs ?? {})]);
}

/**
 * Sums `x` (of `shape`, row-major) over `axes` (any subset) in float64,
 * keeping reduced axes as 1 in the output's layout. Adjacent axes (`Sum`
 * over `[1, 2]` of NHWC, global average pooling) add each output's terms in
 * index order, in one pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reduceSum } from "./elementwise_kernels.ts";
 * // [2, 3]: rows 1 2 3 and 10 20 30.
 * const x = Float32Array.of(1, 2, 3, 10, 20, 30);
 * assert.deepEqual(reduceSum(x, [2, 3], [0]), Float64Array.of(11, 22, 33));
 * assert.deepEqual(reduceSum(x, [2, 3], [1]), Float64Array.of(6, 60));
 * assert.deepEqual(reduceSum(x, [2, 3], [0, 1]), Float64Array.of(66));
 * ```
 */
export function reduceSum(
  x: Float32Array,
  shape: number[],
  axes: number[],
): Float64Array {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const os = strides(outShape).map((s, i) => (axes.includes(i) ? 0 : s));
  const acc = new Float64Array(outShape.reduce((p, d) => p * d, 1));
  const rank = shape.length;
  const sorted = [...axes].sort((a, b) => a - b);
  if (sorted.length > 0 && sorted.every((a, i) => a === sorted[0] + i)) {
    // One block of adjacent axes: x is [outer, mid, inner], sum over mid.
    const size = (from: number, to: number) => shape.slice(from, to).reduce((p, d) => p * d, 1);
    const first = sorted[0], last = sorted[sorted.length - 1];
    const outer = size(0, first), mid = size(first, last + 1), inner = size(last + 1, rank);
    for (let o = 0; o < outer; o++) {
      for (let m = 0; m < mid; m++) {
        const from = (o * mid + m) * inner, to = o * inner;
        for (let i = 0; i < inner; i++) acc[to + i] += x[from + i];
      }
    }
    return acc;
  }
  if (rank === 0) {
    acc[0] = x[0];
    return acc;
  }
  const inner = shape[rank - 1], io = os[rank - 1];
  forEachRow(shape, os, os, (oo, _ob, xo) => {
    if (io === 0) {
      let s = 0;
      for (let i = 0; i < inner; i++) s += x[xo + i];
      acc[oo] += s;
    } else {
      for (let i = 0; i < inner; i++) acc[oo + i] += x[xo + i];
    }
  });
  return acc;
}

function reduceKernel(
  name: string,
  backendName: string,
  mean: boolean,
): tf.KernelConfig {
  return xKernel(name, backendName, (x, xv, attrs) => {
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const acc = reduceSum(xv, x.shape, axes);
    const count = axes.reduce((p, a) => p * x.shape[a], 1);
    const out = new Float32Array(acc.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = mean ? acc[i] / count : acc[i];
    }
    const shape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    return [shape, out];
  });
}

/** Copies `n` values; a plain loop for short rows (a subarray costs more). */
function copyRow(src: Float32Array, from: number, dst: Float32Array, to: number, n: number): void {
  if (n >= 256) {
    dst.set(src.subarray(from, from + n), to);
    return;
  }
  for (let i = 0; i < n; i++) dst[to + i] = src[from + i];
}

function sliceKernel(backendName: string): tf.KernelConfig {
  return xKernel(tf.Slice, backendName, (x, xv, attrs) => {
    if (x.shape.length === 0) return null;
    const a = attrs as unknown as tf.SliceAttrs;
    const [begin, size] = tf.slice_util.parseSliceParams(
      x as tf.Tensor,
      a.begin,
      a.size,
    );
    const rank = x.shape.length, xs = strides(x.shape);
    const out = new Float32Array(size.reduce((p, d) => p * d, 1));
    if (out.length > 0) {
      const base = begin.reduce((p, b, i) => p + b * xs[i], 0);
      const inner = size[rank - 1];
      forEachRow(size, xs, xs, (xo, _b, oo) => copyRow(xv, base + xo, out, oo, inner));
    }
    return [size, out];
  });
}

function padKernel(backendName: string): tf.KernelConfig {
  return xKernel(tf.PadV2, backendName, (x, xv, attrs) => {
    if (x.shape.length === 0 || xv.length === 0) return null;
    const a = attrs as unknown as tf.PadV2Attrs;
    const shape = x.shape.map((d, i) => a.paddings[i][0] + d + a.paddings[i][1]);
    const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
    if (a.constantValue !== 0) out.fill(a.constantValue);
    const os = strides(shape), rank = shape.length;
    const base = a.paddings.reduce((p, [lo], i) => p + lo * os[i], 0);
    const inner = x.shape[rank - 1];
    forEachRow(x.shape, os, os, (oo, _b, xo) => copyRow(xv, xo, out, base + oo, inner));
    return [shape, out];
  });
}

/** Branch-free `max(x, 0)` (NaN stays NaN): random signs defeat prediction. */
function jsRelu(x: Float32Array): Float32Array {
  const o = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    o[i] = (v + Math.abs(v)) * 0.5;
  }
  return o;
}

function reluGradKernel(backendName: string, ew: DnnlElementwise | null): tf.KernelConfig {
  return {
    kernelName: RELU_GRAD_KERNEL,
    backendName,
    kernelFunc: (args: Args) => {
      const backend = args.backend as MathBackendCPU;
      const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const values = (t: tf.TensorInfo) => backend.data.get(t.dataId).values as ArrayLike<number>;
      const g = values(dy), xv = values(x);
      const gf = f32(backend, dy), xf = f32(backend, x);
      if (ew && gf && xf && xf.length >= DNNL_ELEMENTWISE_MIN) {
        return backend.makeTensorInfo(x.shape, "float32", ew.reluGrad(gf, xf));
      }
      const out = new Float32Array(xv.length);
      for (let i = 0; i < xv.length; i++) {
        const v = xv[i];
        // dy * step(x), as tfjs's Relu gradient, without the mask tensor;
        // branch-free on the sign (random signs defeat prediction).
        out[i] = v !== v ? v : g[i] * +(v > 0);
      }
      return backend.makeTensorInfo(x.shape, "float32", out);
    },
  };
}

/**
 * The fast kernels for `backendName`: `Add`, `Sub`, `Multiply`, `RealDiv`,
 * `Relu`, `Step`, `Sum`, `Mean`, `Slice`,
 * `PadV2`, and ReLU's gradient (`ops/relu_grad.ts`). With `ew`, same-shape `Add`,
 * `Relu` and the ReLU gradient of {@linkcode DNNL_ELEMENTWISE_MIN} values
 * or more run on oneDNN (multithreaded; NaN inputs give 0 there, not NaN).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
 * import { elementwiseKernels } from "./elementwise_kernels.ts";
 * // A cpu-derived backend with these kernels (no oneDNN `ew`: loops only),
 * // as registerNativeBackend() builds "native".
 * tf.registerBackend("ew-demo", () => new MathBackendCPU());
 * for (const k of elementwiseKernels("ew-demo")) tf.registerKernel(k);
 * await tf.setBackend("ew-demo");
 * const y = tf.relu(tf.add(tf.tensor2d([1, -3, 2, 0], [2, 2]), tf.tensor1d([1, 1]))); // broadcast add
 * assert.deepEqual(await y.data(), Float32Array.of(2, 0, 3, 1));
 * assert.deepEqual(await tf.mean(y, 1).data(), Float32Array.of(1, 2));
 * ```
 */
export function elementwiseKernels(
  backendName: string,
  ew: DnnlElementwise | null = null,
): tf.KernelConfig[] {
  const relu = (x: Float32Array) => ew && x.length >= DNNL_ELEMENTWISE_MIN ? ew.relu(x) : jsRelu(x);
  return [
    binaryKernel(tf.Add, "add", backendName, ew),
    binaryKernel(tf.Sub, "sub", backendName),
    binaryKernel(tf.Multiply, "mul", backendName),
    binaryKernel(tf.RealDiv, "div", backendName),
    unaryKernel(tf.Relu, backendName, relu),
    unaryKernel(tf.Step, backendName, (x, attrs) => {
      // `+(v > 0)` compiles to a flag set, not a branch; NaN is rare.
      const alpha = (attrs as unknown as tf.StepAttrs).alpha ?? 0;
      const o = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        o[i] = v !== v ? v : alpha === 0 ? +(v > 0) : v > 0 ? 1 : alpha;
      }
      return o;
    }),
    reduceKernel(tf.Sum, backendName, false),
    reduceKernel(tf.Mean, backendName, true),
    sliceKernel(backendName),
    padKernel(backendName),
    reluGradKernel(backendName, ew),
  ];
}

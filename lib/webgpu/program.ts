/**
 * Runs this plugin's own WGSL kernels inside tfjs's WebGPU command stream:
 * the same command encoder and compute pass as tfjs's programs, so the
 * order of work is the order of the calls; the same submit batching and
 * deferred buffer release (a tensor used in the pending encoder is freed
 * only after the submit). Unlike tfjs's programs, a kernel here may have
 * several outputs, and its WGSL is the whole module: bindings `0..k-1` are
 * the inputs (`read` storage), then the outputs (`read_write` storage),
 * then the uniforms when the kernel has any. A kernel that updates values
 * in place (each thread reads an input at an index before it writes an
 * output there) also has an in-place form, for compiled steps: the output
 * written over the input.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { bufferOf, flush, type ProgramUniform, type WebGpuBackend } from "./backend_internals.ts";
import type { HostPath } from "./host_path.ts";

/**
 * Unsigned-integer uniform fields, one per value, for {@linkcode Dispatch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { f32, u32 } from "./program.ts";
 * assert.deepEqual(u32(4, 2), [{ type: "uint32", data: [4] }, { type: "uint32", data: [2] }]);
 * assert.deepEqual(f32(0.5), { type: "float32", data: [0.5] });
 * ```
 */
export function u32(...values: number[]): ProgramUniform[] {
  return values.map((d) => ({ type: "uint32", data: [d] }));
}

/** A float uniform field, for {@linkcode Dispatch}. */
export function f32(value: number): ProgramUniform {
  return { type: "float32", data: [value] };
}

/** One WGSL kernel: its whole module, compiled once per device. */
export interface WgslKernel {
  /** Unique name, the pipeline cache key. */
  readonly name: string;
  /** The WGSL module; entry point `main`. */
  readonly code: string;
  /** Where the kernel may write outputs over inputs ({@linkcode WgslSpec.inPlace}): that form of it. */
  readonly inPlace?: InPlaceForm;
}

/**
 * A kernel's form that writes some outputs over the inputs they replace.
 * Its bindings are the original's with those outputs left out and those
 * inputs `read_write`.
 */
export interface InPlaceForm {
  /** The in-place kernel (its name the original's + `InPlace`). */
  readonly kernel: WgslKernel;
  /** `[output, input]` binding pairs of the original kernel: the output is written over the input. */
  readonly aliases: readonly (readonly [number, number])[];
  /** For each binding of the in-place kernel, the original kernel's binding it takes. */
  readonly bindings: readonly number[];
}

/** A kernel's interface and body, for {@linkcode wgsl}. */
export interface WgslSpec {
  /**
   * Input arrays (`read` storage), in binding order: a name (an `f32` array)
   * or `name : type` (`i32`, `u32`: an int32 tensor's words).
   */
  inputs: readonly string[];
  /** Output arrays (`read_write` storage, f32), bound after the inputs. */
  outputs: readonly string[];
  /** The uniform struct's fields, e.g. `size : u32, eps : f32`, bound last; none when absent. */
  uniforms?: string;
  /** Threads per workgroup. @default {WORKGROUP} */
  workgroup?: number;
  /** Module-scope declarations (workgroup memory, helper functions), placed before `main`. */
  declarations?: string;
  /**
   * The body of `main`, which sees `gid` and `nwg` (global id and workgroup
   * count) and, for `linear` kernels, `i`, the thread's linear index over a
   * {@linkcode grid} (threads past `u.size` return first).
   */
  body: string;
  /** One thread per value of `u.size` values. @default {false} */
  linear?: boolean;
  /**
   * Outputs that may be written over an input, `{ output: input }`: the
   * kernel reads each such input only at the indices where the same thread
   * then writes the output, before writing it. A compiled step runs this
   * in-place form ({@linkcode WgslKernel.inPlace}) where the input is a
   * state variable's value and the output its next one, with nothing after
   * reading either; its replays then copy nothing home.
   */
  inPlace?: Readonly<Record<string, string>>;
}

/**
 * A whole WGSL module from its interface: the bindings in the order
 * {@linkcode KernelRunner.run} binds them, the uniform struct and `main`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wgsl } from "./program.ts";
 * const k = wgsl("scale", { inputs: ["x", "k : i32"], outputs: ["y"], uniforms: "size : u32", linear: true, body: "y[i] = f32(k[i]) * x[i];" });
 * assert.match(k.code, /@binding\(0\) var<storage, read> x : array<f32>;/);
 * assert.match(k.code, /@binding\(1\) var<storage, read> k : array<i32>;/);
 * assert.match(k.code, /@binding\(3\) var<uniform> u : U;/);
 * // An update that may run in place: its in-place form binds x read-write and writes x.
 * const up = wgsl("bump", { inputs: ["x"], outputs: ["y"], uniforms: "size : u32", linear: true, body: "y[i] = x[i] + 1.0;", inPlace: { y: "x" } });
 * assert.match(up.inPlace!.kernel.code, /@binding\(0\) var<storage, read_write> x : array<f32>;/);
 * assert.match(up.inPlace!.kernel.code, /x\[i\] = x\[i\] \+ 1\.0;/);
 * assert.deepEqual(up.inPlace!.aliases, [[1, 0]]); // y (binding 1) over x (binding 0)
 * assert.deepEqual(up.inPlace!.bindings, [0, 2]); // x, then the uniforms
 * ```
 */
export function wgsl(name: string, spec: WgslSpec): WgslKernel {
  const inputs = spec.inputs.map((input) => {
    const [n, type = "f32"] = input.split(":").map((part) => part.trim());
    return { n, type };
  });
  const code = moduleCode(spec, inputs, spec.outputs, new Set(), spec.body);
  if (!spec.inPlace) return { name, code };
  const aliases: [number, number][] = [];
  const written = new Set<string>();
  let body = spec.body;
  for (const [output, input] of Object.entries(spec.inPlace)) {
    const o = spec.outputs.indexOf(output), i = inputs.findIndex((x) => x.n === input);
    if (o < 0 || i < 0 || inputs[i].type !== "f32" || written.has(input)) {
      throw new Error(`kernel ${name}: in place, ${output} cannot be written over ${input}`);
    }
    written.add(input);
    aliases.push([inputs.length + o, i]);
    body = body.replaceAll(new RegExp(`\\b${output}\\b`, "g"), input);
  }
  const kept = spec.outputs.filter((o) => !(o in spec.inPlace!));
  const bindings = [
    ...inputs.map((_, i) => i),
    ...kept.map((o) => inputs.length + spec.outputs.indexOf(o)),
    ...(spec.uniforms ? [inputs.length + spec.outputs.length] : []),
  ];
  const kernel = { name: `${name}InPlace`, code: moduleCode(spec, inputs, kept, written, body) };
  return { name, code, inPlace: { kernel, aliases, bindings } };
}

/** The WGSL module of a kernel: bindings (`readWrite` inputs among them), uniforms, `main` with `body`. */
function moduleCode(
  spec: WgslSpec,
  inputs: readonly { n: string; type: string }[],
  outputs: readonly string[],
  readWrite: ReadonlySet<string>,
  body: string,
): string {
  const size = spec.workgroup ?? WORKGROUP;
  const lines: string[] = [];
  let binding = 0;
  for (const { n, type } of inputs) {
    const access = readWrite.has(n) ? "read_write" : "read";
    lines.push(`@group(0) @binding(${binding++}) var<storage, ${access}> ${n} : array<${type}>;`);
  }
  for (const n of outputs) {
    lines.push(`@group(0) @binding(${binding++}) var<storage, read_write> ${n} : array<f32>;`);
  }
  if (spec.uniforms) {
    lines.push(`struct U { ${spec.uniforms} }`, `@group(0) @binding(${binding}) var<uniform> u : U;`);
  }
  if (spec.declarations) lines.push(spec.declarations.trim());
  const linear = spec.linear
    ? `  let i = gid.x + gid.y * nwg.x * ${size}u;\n  if (i >= u.size) { return; }\n`
    : "";
  lines.push(
    `@compute @workgroup_size(${size})`,
    `fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {`,
    `${linear}  ${body.trim()}`,
    `}`,
  );
  return lines.join("\n");
}

/**
 * At most this many tensors a kernel written with {@linkcode perSlot}
 * updates a dispatch: each count is a pipeline compiled at startup, and
 * ResNet20's 59 parameters take 8 SGD dispatches at 8, 4 at 16.
 */
export const SLOTS_MAX = 8;

/**
 * Tensors one dispatch can update on a device with `limits` when each takes
 * `bindings` storage buffers and the dispatch `shared` more: at least 1, at
 * most {@linkcode SLOTS_MAX}. 1 under WebGPU's default limit of 8 buffers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slotsFor } from "./program.ts";
 * assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 8 }, 5, 1), 1);
 * assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 32 }, 5, 1), 6);
 * assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 1000 }, 6), 8);
 * ```
 */
export function slotsFor(
  limits: { maxStorageBuffersPerShaderStage: number },
  bindings: number,
  shared = 0,
): number {
  const fit = Math.floor((limits.maxStorageBuffersPerShaderStage - shared) / bindings);
  return Math.max(1, Math.min(SLOTS_MAX, fit));
}

/**
 * A kernel body that does `k` tensors' work in one dispatch, tensor `z` in
 * the workgroups at `gid.z`: a `switch` over `z` with `slot(z)` in each
 * case (WGSL cannot choose a binding by index).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perSlot } from "./program.ts";
 * assert.match(perSlot(2, (z) => `y${z}[0] = 1.0;`), /case 1u: \{\s*y1\[0\] = 1\.0;\s*\}/);
 * ```
 */
export function perSlot(k: number, slot: (z: number) => string): string {
  const cases = Array.from({ length: k }, (_, z) => `case ${z}u: {\n${slot(z)}\n    }`);
  return `switch gid.z {\n    ${cases.join("\n    ")}\n    default: {}\n  }`;
}

/**
 * `make` as a family of kernels by the number of tensors they update
 * ({@linkcode perSlot}), each built on first use and kept: kernels are
 * looked up at every dispatch, and building one costs tens of
 * microseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slotKernels, wgsl } from "./program.ts";
 * const family = slotKernels((k) => wgsl(`k${k}`, { inputs: [], outputs: ["y"], body: "y[0] = 1.0;" }));
 * assert.equal(family(3).name, "k3");
 * assert.equal(family(3), family(3));
 * ```
 */
export function slotKernels(make: (k: number) => WgslKernel): (k: number) => WgslKernel {
  const built = new Map<number, WgslKernel>();
  return (k) => {
    let kernel = built.get(k);
    if (!kernel) built.set(k, kernel = make(k));
    return kernel;
  };
}

/** What one dispatch of a {@linkcode WgslKernel} takes. */
export interface Dispatch {
  inputs: readonly tf.TensorInfo[];
  /** Shapes and dtypes of new output tensors. */
  outputs: readonly { shape: number[]; dtype: tf.DataType }[];
  /** Uniform fields, in the order the WGSL struct declares them. */
  uniforms?: readonly ProgramUniform[];
  /** Workgroups in x, y, z. */
  workgroups: readonly [number, number, number];
}

/** Workgroup size of the element-wise kernels (threads per workgroup). */
export const WORKGROUP = 256;

/**
 * Workgroups for `n` threads of {@linkcode WORKGROUP}: at most 65,535 in x
 * (WebGPU's default limit), the rest in y. Kernels recover the linear index
 * as `gid.x + gid.y * nwg.x * WORKGROUP`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid } from "./program.ts";
 * assert.deepEqual(grid(1000), [4, 1, 1]);
 * assert.deepEqual(grid(65535 * 256 + 1), [65535, 2, 1]);
 * ```
 */
export function grid(n: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / WORKGROUP));
  return groups <= 65535 ? [groups, 1, 1] : [65535, Math.ceil(groups / 65535), 1];
}

/** A compiled kernel's in-place form: its pipeline and how its bindings map. */
export interface InPlacePipeline {
  readonly pipeline: GPUComputePipeline;
  readonly aliases: InPlaceForm["aliases"];
  readonly bindings: InPlaceForm["bindings"];
}

const inPlacePipelines = new WeakMap<GPUComputePipeline, InPlacePipeline>();

/** The in-place form of a kernel this file's runners compiled, by the kernel's pipeline; none for others. */
export function inPlaceFormOf(pipeline: GPUComputePipeline): InPlacePipeline | undefined {
  return inPlacePipelines.get(pipeline);
}

/** Compiles and runs the plugin's kernels on one backend. */
export class KernelRunner {
  readonly #backend: WebGpuBackend;
  readonly #host: HostPath;
  readonly #pipelines = new Map<string, GPUComputePipeline>();

  /** A runner for `backend`, whose uniforms go through `host`'s arena. */
  constructor(backend: WebGpuBackend, host: HostPath) {
    this.#backend = backend;
    this.#host = host;
  }

  /**
   * Compiles `kernels` now, asynchronously, so that a WGSL error is a clear
   * startup error instead of silent zeros later (WebGPU reports invalid
   * pipelines asynchronously).
   */
  async compile(kernels: readonly WgslKernel[]): Promise<void> {
    const device = this.#backend.device;
    for (const k of kernels) {
      if (this.#pipelines.has(k.name)) continue;
      let inPlace: InPlacePipeline | undefined;
      if (k.inPlace) {
        await this.compile([k.inPlace.kernel]);
        const { aliases, bindings } = k.inPlace;
        inPlace = { pipeline: this.#pipelines.get(k.inPlace.kernel.name)!, aliases, bindings };
      }
      const module = device.createShaderModule({ code: k.code, label: k.name });
      try {
        const pipeline = await device.createComputePipelineAsync({
          layout: "auto",
          compute: { module, entryPoint: "main" },
          label: k.name,
        });
        this.#pipelines.set(k.name, pipeline);
        if (inPlace) inPlacePipelines.set(pipeline, inPlace);
      } catch (e) {
        const info = await module.getCompilationInfo();
        const messages = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
        throw new Error(`WGSL kernel ${k.name} does not compile: ${messages || (e as Error).message}`);
      }
    }
  }

  /** The device's limits (how many buffers a kernel may bind, ...). */
  get limits(): GPUSupportedLimits {
    return this.#backend.device.limits;
  }

  /** Releases a tensor a kernel made for its own use (freed after the pending submit). */
  dispose(t: tf.TensorInfo): void {
    this.#backend.disposeData(t.dataId);
  }

  /** Records one dispatch of `kernel` and returns its new output tensors. */
  run(kernel: WgslKernel, d: Dispatch): tf.TensorInfo[] {
    const be = this.#backend;
    const pipeline = this.#pipelines.get(kernel.name);
    if (!pipeline) throw new Error(`WGSL kernel ${kernel.name} was not compiled`);
    const outputs = d.outputs.map((o) => be.makeTensorInfo(o.shape, o.dtype));
    const entries: GPUBindGroupEntry[] = [];
    for (const t of [...d.inputs, ...outputs]) {
      entries.push({ binding: entries.length, resource: { buffer: bufferOf(be, t) } });
    }
    if (d.uniforms?.length) {
      entries.push({ binding: entries.length, resource: this.#host.uniforms(d.uniforms) });
    }
    for (const t of [...d.inputs, ...outputs]) be.commandQueueOwnedIds.add(t.dataId);
    const bindGroup = be.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    be.ensureCommandEncoderReady();
    be.computePassEncoder ??= be.commandEncoder!.beginComputePass();
    const pass = be.computePassEncoder;
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
    be.dispatchCountInPass++;
    if (tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") <= be.dispatchCountInPass) flush(be);
    return outputs;
  }
}

/**
 * Runs this plugin's own WGSL kernels inside tfjs's WebGPU command stream:
 * the same command encoder and compute pass as tfjs's programs, so the
 * order of work is the order of the calls; the same submit batching and
 * deferred buffer release (a tensor used in the pending encoder is freed
 * only after the submit). Unlike tfjs's programs, a kernel here may have
 * several outputs, and its WGSL is the whole module: bindings `0..k-1` are
 * the inputs (`read` storage), then the outputs (`read_write` storage),
 * then the uniforms when the kernel has any.
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
  /**
   * The body of `main`, which sees `gid` and `nwg` (global id and workgroup
   * count) and, for `linear` kernels, `i`, the thread's linear index over a
   * {@linkcode grid} (threads past `u.size` return first).
   */
  body: string;
  /** One thread per value of `u.size` values. @default {false} */
  linear?: boolean;
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
 * ```
 */
export function wgsl(name: string, spec: WgslSpec): WgslKernel {
  const size = spec.workgroup ?? WORKGROUP;
  const lines: string[] = [];
  let binding = 0;
  for (const input of spec.inputs) {
    const [n, type = "f32"] = input.split(":").map((part) => part.trim());
    lines.push(`@group(0) @binding(${binding++}) var<storage, read> ${n} : array<${type}>;`);
  }
  for (const n of spec.outputs) {
    lines.push(`@group(0) @binding(${binding++}) var<storage, read_write> ${n} : array<f32>;`);
  }
  if (spec.uniforms) {
    lines.push(`struct U { ${spec.uniforms} }`, `@group(0) @binding(${binding}) var<uniform> u : U;`);
  }
  const linear = spec.linear
    ? `  let i = gid.x + gid.y * nwg.x * ${size}u;\n  if (i >= u.size) { return; }\n`
    : "";
  lines.push(
    `@compute @workgroup_size(${size})`,
    `fn main(@builtin(global_invocation_id) gid : vec3<u32>, @builtin(num_workgroups) nwg : vec3<u32>) {`,
    `${linear}  ${spec.body.trim()}`,
    `}`,
  );
  return { name, code: lines.join("\n") };
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
      const module = device.createShaderModule({ code: k.code, label: k.name });
      try {
        const pipeline = await device.createComputePipelineAsync({
          layout: "auto",
          compute: { module, entryPoint: "main" },
          label: k.name,
        });
        this.#pipelines.set(k.name, pipeline);
      } catch (e) {
        const info = await module.getCompilationInfo();
        const messages = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
        throw new Error(`WGSL kernel ${k.name} does not compile: ${messages || (e as Error).message}`);
      }
    }
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

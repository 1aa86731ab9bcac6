/**
 * A compiled step on WebGPU: the ordinary tfjs step runs once while every
 * GPU command it encodes is recorded (pipelines, bind groups with their
 * buffers, offsets and sizes, workgroup counts, copies); later runs write
 * the host inputs into their buffers and re-encode the recorded commands
 * into one command encoder, one submit, with no tfjs in between. WebGPU has
 * no reusable compute command buffers, so re-encoding is the floor: about a
 * microsecond of host time a dispatch instead of tens through tfjs.
 *
 * The memory plan that makes a replay valid:
 * - every state variable lives in a **home buffer** owned here (its value is
 *   copied in once); the recorded step reads the homes, writes new values to
 *   buffers of its own, and the replay ends by copying those back home. The
 *   variable keeps pointing at its home, so the model, checkpoints and
 *   evaluation see the current values. Where the new value comes from a
 *   kernel with an in-place form (`program.ts`: SGD, the batch norms'
 *   running averages) and nothing after it reads the old value, the replay
 *   runs that form over the home instead: no copy (a ResNet20 step copies 2
 *   values home, not 158);
 * - every other buffer the step touches (activations, gradients, uploaded
 *   constants) is taken out of tfjs's pool after the recording, so nothing
 *   else can be handed it, except the spec's `constants`, which stay their
 *   owner's tensors (a run checks that none was disposed); uniform bytes are copied out of the per-submit
 *   arena into a buffer of the recording's own;
 * - the host inputs are persistent tensors written before each replay.
 *
 * A recording is checked before every replay: if a state variable no longer
 * points at its home (it was reassigned outside the step, e.g. weights
 * loaded), the step is recorded again. Anything a recording cannot
 * guarantee (a submit inside the step, a buffer held by a tensor outside
 * it) is an error, never a silent wrong result. One recording per set of
 * input shapes (the last, smaller batch of an epoch gets its own).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Collect, Collector, CompiledStep, KernelTime, StepSpec } from "../ops/compiled_step.ts";
import { bufferOf, flush, giveToPool, takeFromPool, type WebGpuBackend } from "./backend_internals.ts";
import type { HostPath } from "./host_path.ts";
import { inPlaceFormOf } from "./program.ts";

/** A command of a recorded step. */
type Command =
  | { op: "begin" }
  | { op: "end" }
  | { op: "pipeline"; pipeline: GPUComputePipeline }
  | { op: "group"; index: number; group: GPUBindGroup }
  | { op: "dispatch"; x: number; y: number; z: number }
  | { op: "copy"; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };

/** A bind group's buffer slices, as it was created. */
type GroupEntries = { binding: number; buffer: GPUBuffer; offset: number; size: number }[];

/** A bound group as recorded: its layout, buffer slices and the uniform bytes of its arena slices. */
interface RecordedGroup {
  layout: GPUBindGroupLayout;
  entries: GroupEntries;
  uniforms: Map<number, Uint8Array>;
}

/** What the prototype hooks collect while a step is being recorded. */
interface Capture {
  commands: Command[];
  groups: Map<GPUBindGroup, RecordedGroup>;
  submits: number;
}

/** Raised when a step cannot be compiled; the message says why. */
export class CompileStepError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CompileStepError";
  }
}

let capture: Capture | null = null;
/** The host paths of the backends compiled steps run on (their uniform arenas). */
const hosts = new Set<HostPath>();
let hooked = false;

function arenaOf(buffer: GPUBuffer): HostPath | null {
  for (const h of hosts) if (h.arena.buffer === buffer) return h;
  return null;
}

/** Wraps the WebGPU prototypes once: while `capture` is set, commands are recorded. */
function installHooks(): void {
  if (hooked) return;
  hooked = true;
  const wrap = <T extends object>(
    proto: T,
    name: string,
    record: (self: T, args: unknown[], out: unknown) => void,
  ) => {
    const p = proto as Record<string, unknown>;
    const original = p[name] as (...args: unknown[]) => unknown;
    p[name] = function (this: T, ...args: unknown[]) {
      const out = original.apply(this, args);
      if (capture) record(this, args, out);
      return out;
    };
  };
  wrap(GPUCommandEncoder.prototype, "beginComputePass", () => capture!.commands.push({ op: "begin" }));
  wrap(GPUComputePassEncoder.prototype, "end", () => capture!.commands.push({ op: "end" }));
  wrap(GPUComputePassEncoder.prototype, "setPipeline", (_, [pipeline]) => {
    capture!.commands.push({ op: "pipeline", pipeline: pipeline as GPUComputePipeline });
  });
  wrap(GPUComputePassEncoder.prototype, "setBindGroup", (_, [index, group, offsets]) => {
    if (offsets !== undefined && (offsets as number[]).length) {
      throw new CompileStepError("a step uses dynamic bind-group offsets, which are not recorded");
    }
    const g = group as GPUBindGroup;
    if (!capture!.groups.has(g)) capture!.groups.set(g, bindingsOf(g));
    capture!.commands.push({ op: "group", index: index as number, group: g });
  });
  wrap(GPUComputePassEncoder.prototype, "dispatchWorkgroups", (_, [x, y = 1, z = 1]) => {
    capture!.commands.push({ op: "dispatch", x: x as number, y: y as number, z: z as number });
  });
  wrap(GPUCommandEncoder.prototype, "copyBufferToBuffer", (_, a) => {
    const [src, srcOffset, dst, dstOffset, size] = a as [GPUBuffer, number, GPUBuffer, number, number];
    capture!.commands.push({ op: "copy", src, srcOffset, dst, dstOffset, size });
  });
  wrap(GPUQueue.prototype, "submit", () => capture!.submits++);
}

/**
 * What `group` binds, from the descriptor the host path's cache made it
 * from, with the uniform bytes its arena slices hold now (they were written
 * for the dispatch that binds it next).
 */
function bindingsOf(group: GPUBindGroup): RecordedGroup {
  let d: GPUBindGroupDescriptor | undefined;
  for (const h of hosts) d ??= h.bindGroups.descriptorOf(group);
  if (!d) throw new CompileStepError("a step binds a texture or sampler, which is not recorded");
  const entries: GroupEntries = [];
  const uniforms = new Map<number, Uint8Array>();
  for (const e of d.entries) {
    const r = e.resource as GPUBufferBinding;
    const offset = r.offset ?? 0, size = r.size ?? r.buffer.size - offset;
    entries.push({ binding: e.binding, buffer: r.buffer, offset, size });
    const host = arenaOf(r.buffer);
    if (host) uniforms.set(e.binding, host.arena.bytesAt(offset, size));
  }
  return { layout: d.layout, entries, uniforms };
}

/**
 * Rewrites `c` so that its replays write state in place: a dispatch of a
 * kernel with an in-place form ({@linkcode inPlaceFormOf}) whose aliased
 * outputs are state variables' new values and whose aliased inputs are
 * those variables' homes, with no later command touching either, runs the
 * in-place form over the homes instead. Returns the copies home that are
 * still needed. Anything else (a home read after its update, a buffer bound
 * twice, a group other dispatches share) keeps its copy: correct either way.
 */
function updateInPlace(
  device: GPUDevice,
  c: Capture,
  copiesBack: readonly [GPUBuffer, GPUBuffer][],
  outputs: readonly GPUBuffer[],
): [GPUBuffer, GPUBuffer][] {
  const homeOf = new Map(copiesBack);
  // The last command that touches each buffer.
  const last = new Map<GPUBuffer, number>();
  const bound = new Map<number, GPUBindGroup>();
  c.commands.forEach((cmd, t) => {
    if (cmd.op === "group") bound.set(cmd.index, cmd.group);
    else if (cmd.op === "begin") bound.clear();
    else if (cmd.op === "copy") [cmd.src, cmd.dst].forEach((b) => last.set(b, t));
    else if (cmd.op === "dispatch") {
      for (const g of bound.values()) for (const e of c.groups.get(g)!.entries) last.set(e.buffer, t);
    }
  });
  const groupUses = new Map<GPUBindGroup, number>();
  for (const cmd of c.commands) {
    if (cmd.op === "group") groupUses.set(cmd.group, (groupUses.get(cmd.group) ?? 0) + 1);
  }
  const inPlace = new Set<GPUBuffer>();
  c.commands.forEach((cmd, t) => {
    const [pipe, set] = [c.commands[t - 2], c.commands[t - 1]];
    if (cmd.op !== "dispatch" || pipe?.op !== "pipeline" || set?.op !== "group" || set.index !== 0) return;
    const form = inPlaceFormOf(pipe.pipeline);
    const g = c.groups.get(set.group)!;
    if (!form || groupUses.get(set.group) !== 1) return;
    const at = (binding: number) => g.entries.find((e) => e.binding === binding);
    const once = (b: GPUBuffer) => g.entries.filter((e) => e.buffer === b).length === 1;
    const ok = form.aliases.every(([o, i]) => {
      const out = at(o), home = at(i);
      return out && home && homeOf.get(out.buffer) === home.buffer && !outputs.includes(out.buffer) &&
        out.offset === 0 && home.offset === 0 && out.size === home.size &&
        last.get(out.buffer) === t && last.get(home.buffer) === t && once(out.buffer) && once(home.buffer);
    });
    if (!ok) return;
    const entries: GroupEntries = [], uniforms = new Map<number, Uint8Array>();
    form.bindings.forEach((from, binding) => {
      entries.push({ ...at(from)!, binding });
      if (g.uniforms.has(from)) uniforms.set(binding, g.uniforms.get(from)!);
    });
    const layout = form.pipeline.getBindGroupLayout(0);
    const group = device.createBindGroup({
      layout,
      entries: entries.map((e) => ({
        binding: e.binding,
        resource: { buffer: e.buffer, offset: e.offset, size: e.size },
      })),
    });
    c.groups.delete(set.group);
    c.groups.set(group, { layout, entries, uniforms });
    c.commands[t - 2] = { op: "pipeline", pipeline: form.pipeline };
    c.commands[t - 1] = { op: "group", index: 0, group };
    for (const [o] of form.aliases) inPlace.add(at(o)!.buffer);
  });
  return copiesBack.filter(([from]) => !inPlace.has(from));
}

/** One recording: the commands to re-encode and the buffers it owns. */
interface Recording {
  inputs: tf.Tensor[];
  inputBuffers: GPUBuffer[];
  /** The last bytes written to each small input (skipped when unchanged). */
  lastSmall: (Uint8Array | null)[];
  commands: Command[];
  /** Buffers taken from tfjs's pool (intermediates and state outputs): destroyed with the recording. */
  owned: GPUBuffer[];
  /** The recording's own copy of the uniforms its dispatches read. */
  uniform: GPUBuffer | null;
  /** State outputs copied back to their homes at the end of every replay: `[from, to]`. */
  copiesBack: [GPUBuffer, GPUBuffer][];
  /** The buffers of the step's outputs, in order. */
  outputs: GPUBuffer[];
}

/**
 * Home buffers of state variables, one per variable on a backend, shared by
 * every compiled step that uses the variable (a training step and an
 * evaluation step read the same weights), released with the last user.
 */
class Homes {
  readonly #be: WebGpuBackend;
  readonly #buffers = new Map<tf.Variable, GPUBuffer>();
  readonly #users = new Map<tf.Variable, number>();

  constructor(backend: WebGpuBackend) {
    this.#be = backend;
  }

  get(v: tf.Variable): GPUBuffer | undefined {
    return this.#buffers.get(v);
  }

  /** Whether `v` points at its home. */
  holds(v: tf.Variable): boolean {
    return !v.isDisposed && this.#be.tensorMap.get(v.dataId).resource === this.#buffers.get(v);
  }

  use(vars: readonly tf.Variable[]): void {
    for (const v of vars) this.#users.set(v, (this.#users.get(v) ?? 0) + 1);
  }

  /** Gives the homes no compiled step uses any more back to tfjs (or destroys them). */
  release(vars: readonly tf.Variable[]): void {
    const bm = this.#be.bufferManager;
    for (const v of vars) {
      const users = (this.#users.get(v) ?? 1) - 1;
      if (users > 0) {
        this.#users.set(v, users);
        continue;
      }
      this.#users.delete(v);
      const home = this.#buffers.get(v);
      this.#buffers.delete(v);
      if (!home) continue;
      const data = !v.isDisposed && this.#be.tensorMap.has(v.dataId)
        ? this.#be.tensorMap.get(v.dataId)
        : null;
      if (data?.resource === home) {
        // The variable keeps its value: the home becomes an ordinary pool buffer of tfjs's.
        data.external = false;
        giveToPool(bm, home);
      } else home.destroy();
    }
  }

  /** Moves every variable of `state` into its home buffer (copying its value there). */
  adopt(state: readonly tf.Variable[]): void {
    const be = this.#be;
    // Variables made from one tensor share its data until assigned: each needs a home of its own.
    const seen = new Set<object>();
    for (const v of state) {
      if (v.isDisposed) throw new CompileStepError(`state variable ${v.name} is disposed`);
      if (seen.has(v.dataId)) tf.tidy(() => v.assign(tf.mul(v, 1)));
      seen.add(v.dataId);
      be.uploadToGPU(v.dataId);
    }
    // Every value is computed or uploaded before it is copied.
    flush(be);
    let encoder: GPUCommandEncoder | null = null;
    const release: GPUBuffer[] = [];
    for (const v of state) {
      const data = be.tensorMap.get(v.dataId);
      const current = data.resource!;
      let home = this.#buffers.get(v);
      if (current === home) continue;
      if (!home || home.size !== current.size) {
        home?.destroy();
        const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
        home = be.device.createBuffer({ size: current.size, usage, label: `home ${v.name}` });
        this.#buffers.set(v, home);
      }
      encoder ??= be.device.createCommandEncoder();
      encoder.copyBufferToBuffer(current, 0, home, 0, current.size);
      // Cached scalars are not tfjs's to release.
      if (!data.external) release.push(current);
      data.resource = home;
      data.external = true;
    }
    if (encoder) be.queue.submit([encoder.finish()]);
    // Only now back to tfjs's pool: a queue-ordered upload into a reused
    // buffer must not run before the copy out of it.
    for (const b of release) be.bufferManager.releaseBuffer(b);
  }
}

const homesOf = new WeakMap<WebGpuBackend, Homes>();

/** A host buffer the replays of a compiled step copy outputs into; read once. */
class GpuCollector implements Collector {
  readonly bytes: number;
  readonly buffer: GPUBuffer;
  readonly #be: WebGpuBackend;

  constructor(backend: WebGpuBackend, bytes: number) {
    this.#be = backend;
    this.bytes = bytes;
    this.buffer = backend.device.createBuffer({
      size: Math.max(4, Math.ceil(bytes / 4) * 4),
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      label: "collector",
    });
  }

  async read(): Promise<ArrayBuffer> {
    const be = this.#be;
    flush(be);
    const staging = be.device.createBuffer({
      size: this.buffer.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const encoder = be.device.createCommandEncoder();
      encoder.copyBufferToBuffer(this.buffer, 0, staging, 0, this.buffer.size);
      be.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0, this.bytes);
    } finally {
      staging.destroy();
    }
  }

  dispose(): void {
    this.buffer.destroy();
  }
}

/** Inputs of at most this many bytes are compared with the last write and skipped when equal. */
const SMALL_INPUT = 64;

/** A {@linkcode CompiledStep} on the WebGPU plugin's backend. */
export class WebGpuCompiledStep implements CompiledStep {
  readonly #be: WebGpuBackend;
  readonly #host: HostPath;
  readonly #spec: StepSpec;
  readonly #homes: Homes;
  readonly #recordings = new Map<string, Recording>();
  #count = 0;
  #disposed = false;

  /** Compiles `spec` lazily: the first run of each input shape records. */
  constructor(backend: WebGpuBackend, host: HostPath, spec: StepSpec) {
    this.#be = backend;
    this.#host = host;
    this.#spec = spec;
    installHooks();
    hosts.add(host);
    let homes = homesOf.get(backend);
    if (!homes) homesOf.set(backend, homes = new Homes(backend));
    this.#homes = homes;
    homes.use(spec.state);
  }

  get recordings(): number {
    return this.#count;
  }

  collector(bytes: number): Collector {
    return new GpuCollector(this.#be, bytes);
  }

  run(inputs: readonly (Float32Array | Int32Array)[], collect: readonly (Collect | null)[] = []): void {
    if (this.#disposed) throw new CompileStepError("the compiled step was disposed");
    const { recording, recorded } = this.#recordingFor(inputs, collect);
    if (!recorded) this.#replay(recording, inputs, collect);
  }

  /**
   * The recording for the shapes of `inputs`; where there is none (or the
   * state was reassigned since), records one now, which runs the step.
   */
  #recordingFor(
    inputs: readonly (Float32Array | Int32Array)[],
    collect: readonly (Collect | null)[],
  ): { recording: Recording; recorded: boolean } {
    if (this.#spec.constants?.some((t) => t.isDisposed)) {
      throw new CompileStepError("a constant of the step was disposed before the step");
    }
    const { shapes, key } = this.#shapesOf(inputs);
    if (!this.#homesValid()) this.#dropRecordings();
    const recording = this.#recordings.get(key);
    if (recording) return { recording, recorded: false };
    const made = this.#record(shapes, inputs, collect);
    this.#recordings.set(key, made);
    return { recording: made, recorded: true };
  }

  write(variable: tf.Variable, values: Float32Array | Int32Array): void {
    const home = this.#homes.get(variable);
    if (!home || !this.#homes.holds(variable)) {
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, variable.dtype)));
      return;
    }
    flush(this.#be);
    this.#be.queue.writeBuffer(home, 0, values as Float32Array<ArrayBuffer>);
    this.#be.tensorMap.get(variable.dataId).values = null;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#dropRecordings();
    this.#homes.release(this.#spec.state);
  }

  /** The input shapes of `inputs` (the first axis from their lengths) and the recording's key. */
  #shapesOf(inputs: readonly (Float32Array | Int32Array)[]): { shapes: number[][]; key: string } {
    const spec = this.#spec;
    if (inputs.length !== spec.inputs.length) {
      throw new CompileStepError(`the step takes ${spec.inputs.length} inputs, got ${inputs.length}`);
    }
    const shapes = inputs.map((a, i) => {
      const s = spec.inputs[i].shape, per = s.slice(1).reduce((p, d) => p * d, 1);
      if (a.length % per !== 0) {
        throw new CompileStepError(`input ${i} of ${a.length} values does not fit [*, ${s.slice(1)}]`);
      }
      return [a.length / per, ...s.slice(1)];
    });
    return { shapes, key: JSON.stringify(shapes) };
  }

  /** Whether every state variable still points at its home. */
  #homesValid(): boolean {
    if (this.#recordings.size === 0) return true;
    return this.#spec.state.every((v) => this.#homes.holds(v));
  }

  #dropRecordings(): void {
    for (const r of this.#recordings.values()) {
      for (const b of r.owned) {
        b.destroy();
        this.#be.bufferManager.numBytesAllocated -= b.size;
      }
      r.uniform?.destroy();
      tf.dispose(r.inputs);
    }
    this.#recordings.clear();
  }

  #record(
    shapes: number[][],
    hostInputs: readonly (Float32Array | Int32Array)[],
    collect: readonly (Collect | null)[],
  ): Recording {
    const be = this.#be, spec = this.#spec;
    flush(be);
    this.#homes.adopt(spec.state);
    const constants = (spec.constants ?? []).map((t) => {
      be.uploadToGPU(t.dataId);
      return bufferOf(be, t);
    });
    const inputs = shapes.map((shape, i) => {
      const t = tf.tensor(hostInputs[i], shape, spec.inputs[i].dtype);
      be.uploadToGPU(t.dataId); // on the GPU now: no op on it may run on the CPU
      return t;
    });
    const inputBuffers = inputs.map((t) => be.tensorMap.get(t.dataId).resource!);
    // The recording starts with a fresh encoder and no open pass.
    flush(be);
    const flags = tf.env();
    const batch = flags.getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
    flags.set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", Number.MAX_SAFE_INTEGER);
    const recorded: Capture = { commands: [], groups: new Map(), submits: 0 };
    capture = recorded;
    let outs: tf.Tensor[] = [];
    try {
      outs = tf.tidy(() => spec.run(inputs) ?? []);
      be.endComputePassEncoder();
    } finally {
      capture = null;
      flags.set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batch);
    }
    const outputs = outs.map((t) => bufferOf(be, t));
    // The recorded run's own outputs are collected like a replay's.
    be.ensureCommandEncoderReady();
    this.#collect(be.commandEncoder!, outputs, collect);
    be.submitQueue();
    tf.dispose(outs);
    if (recorded.submits > 0) {
      tf.dispose(inputs);
      throw new CompileStepError(`the step submitted work ${recorded.submits} time(s) before its end`);
    }
    this.#count++;

    // State: the step's new values go home now and after every replay.
    const copiesBack: [GPUBuffer, GPUBuffer][] = [];
    const owned: GPUBuffer[] = [];
    for (const v of spec.state) {
      const data = be.tensorMap.get(v.dataId);
      const home = this.#homes.get(v)!;
      const out = data.resource!;
      if (out === home) continue;
      if (data.external || !takeFromPool(be.bufferManager, out, "used")) {
        throw new CompileStepError(`state variable ${v.name}'s new value is not in a buffer of its own`);
      }
      owned.push(out);
      copiesBack.push([out, home]);
      data.resource = home;
      data.external = true;
      data.values = null;
    }
    const encoder = be.device.createCommandEncoder();
    for (const [from, to] of copiesBack) encoder.copyBufferToBuffer(from, 0, to, 0, from.size);
    be.queue.submit([encoder.finish()]);
    // Replays update what they can in place, and copy only the rest home.
    copiesBack.splice(0, copiesBack.length, ...updateInPlace(be.device, recorded, copiesBack, outputs));

    // Every other buffer: take intermediates out of the pool; refuse foreign ones.
    const known = new Set<GPUBuffer>([
      ...spec.state.map((v) => this.#homes.get(v)!),
      ...inputBuffers,
      ...constants,
      ...owned,
      this.#host.arena.buffer,
    ]);
    const claim = (b: GPUBuffer) => {
      if (known.has(b)) return;
      if (takeFromPool(be.bufferManager, b, "free")) owned.push(b);
      else if (!this.#host.isCachedScalar(b)) {
        throw new CompileStepError(
          `the step uses a ${b.size}-byte buffer held by a tensor outside it (a tensor kept from the step?)`,
        );
      }
      known.add(b);
    };
    for (const c of recorded.commands) {
      if (c.op === "copy") [c.src, c.dst].forEach(claim);
    }
    for (const g of recorded.groups.values()) g.entries.forEach((e) => claim(e.buffer));
    outputs.forEach(claim);

    // Uniforms: out of the per-submit arena into the recording's own buffer.
    const align = be.device.limits.minUniformBufferOffsetAlignment;
    let uniformBytes = 0;
    const placed = new Map<GPUBindGroup, Map<number, number>>();
    for (const [group, g] of recorded.groups) {
      for (const [binding, bytes] of g.uniforms) {
        if (!placed.has(group)) placed.set(group, new Map());
        placed.get(group)!.set(binding, uniformBytes);
        uniformBytes = Math.ceil((uniformBytes + bytes.length) / align) * align;
      }
    }
    let uniform: GPUBuffer | null = null;
    const rebuilt = new Map<GPUBindGroup, GPUBindGroup>();
    if (uniformBytes > 0) {
      uniform = be.device.createBuffer({
        size: uniformBytes,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: "compiled step uniforms",
      });
      const host = new Uint8Array(uniformBytes);
      for (const [group, offsets] of placed) {
        const g = recorded.groups.get(group)!;
        for (const [binding, offset] of offsets) host.set(g.uniforms.get(binding)!, offset);
        rebuilt.set(
          group,
          be.device.createBindGroup({
            layout: g.layout,
            entries: g.entries.map((e) => ({
              binding: e.binding,
              resource: offsets.has(e.binding)
                ? { buffer: uniform!, offset: offsets.get(e.binding)!, size: e.size }
                : { buffer: e.buffer, offset: e.offset, size: e.size },
            })),
          }),
        );
      }
      be.queue.writeBuffer(uniform, 0, host);
    }
    const commands = recorded.commands.map((c) =>
      c.op === "group" && rebuilt.has(c.group) ? { ...c, group: rebuilt.get(c.group)! } : c
    );
    return {
      inputs,
      inputBuffers,
      lastSmall: hostInputs.map((a) => a.byteLength <= SMALL_INPUT ? bytesOf(a).slice() : null),
      commands,
      owned,
      uniform,
      copiesBack,
      outputs,
    };
  }

  /** Copies `outputs` into their collectors, where asked, at the end of `encoder`'s work. */
  #collect(encoder: GPUCommandEncoder, outputs: GPUBuffer[], collect: readonly (Collect | null)[]): void {
    collect.forEach((c, i) => {
      if (!c) return;
      const out = outputs[i];
      if (!out) throw new CompileStepError(`the step has ${outputs.length} outputs, not ${i + 1}`);
      const into = c.into as GpuCollector;
      if (c.byteOffset < 0 || c.byteOffset % 4 || c.byteOffset + out.size > into.buffer.size) {
        throw new CompileStepError(
          `output ${i} (${out.size} bytes) does not fit its collector at ${c.byteOffset}`,
        );
      }
      encoder.copyBufferToBuffer(out, 0, into.buffer, c.byteOffset, out.size);
    });
  }

  /**
   * One step like {@linkcode run}, re-encoded with every dispatch in a compute
   * pass of its own that writes GPU timestamps, and returns the GPU time per
   * kernel (pipeline label), most first. Needs the adapter's
   * `timestamp-query` feature. The step is a real one: state advances (by
   * two steps where these shapes were never run: the recording is one).
   */
  async profile(inputs: readonly (Float32Array | Int32Array)[]): Promise<KernelTime[]> {
    const be = this.#be;
    if (!be.device.features.has("timestamp-query")) {
      throw new CompileStepError(`the adapter has no "timestamp-query" feature: no GPU times`);
    }
    const r = this.#recordingFor(inputs, []).recording;
    const dispatches = r.commands.filter((c) => c.op === "dispatch").length;
    const querySet = be.device.createQuerySet({ type: "timestamp", count: 2 * dispatches });
    const resolved = be.device.createBuffer({
      size: 16 * dispatches,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = be.device.createBuffer({
      size: 16 * dispatches,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const labels = this.#replay(r, inputs, [], (encoder, pipeline, groups, dispatch, k) => {
        const pass = encoder.beginComputePass({
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 },
        });
        pass.setPipeline(pipeline);
        for (const [index, group] of groups) pass.setBindGroup(index, group);
        pass.dispatchWorkgroups(dispatch.x, dispatch.y, dispatch.z);
        pass.end();
      }, (encoder) => {
        encoder.resolveQuerySet(querySet, 0, 2 * dispatches, resolved, 0);
        encoder.copyBufferToBuffer(resolved, 0, staging, 0, 16 * dispatches);
      });
      await staging.mapAsync(GPUMapMode.READ);
      const ticks = new BigUint64Array(staging.getMappedRange().slice(0));
      const byKernel = new Map<string, KernelTime>();
      labels.forEach((kernel, k) => {
        const ms = Number(ticks[2 * k + 1] - ticks[2 * k]) / 1e6;
        const t = byKernel.get(kernel) ?? { kernel, ms: 0, count: 0 };
        t.ms += ms;
        t.count++;
        byKernel.set(kernel, t);
      });
      return [...byKernel.values()].sort((x, y) => y.ms - x.ms);
    } finally {
      querySet.destroy();
      resolved.destroy();
      staging.destroy();
    }
  }

  /**
   * Writes the inputs, re-encodes the recording, copies state home and
   * outputs out, submits. With `timed`, each dispatch is encoded by it (its
   * own pass) and `finish` adds commands before the submit; returns the
   * pipelines' labels in dispatch order.
   */
  #replay(
    r: Recording,
    hostInputs: readonly (Float32Array | Int32Array)[],
    collect: readonly (Collect | null)[],
    timed?: (
      encoder: GPUCommandEncoder,
      pipeline: GPUComputePipeline,
      groups: Map<number, GPUBindGroup>,
      dispatch: { x: number; y: number; z: number },
      index: number,
    ) => void,
    finish?: (encoder: GPUCommandEncoder) => void,
  ): string[] {
    const be = this.#be;
    flush(be);
    hostInputs.forEach((a, i) => {
      const bytes = bytesOf(a);
      const last = r.lastSmall[i];
      if (last && last.length === bytes.length && last.every((b, j) => b === bytes[j])) return;
      be.queue.writeBuffer(r.inputBuffers[i], 0, bytes);
      if (last) r.lastSmall[i] = bytes.slice();
    });
    const encoder = be.device.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    let pipeline: GPUComputePipeline | null = null;
    const groups = new Map<number, GPUBindGroup>();
    const labels: string[] = [];
    for (const c of r.commands) {
      switch (c.op) {
        case "begin":
          if (!timed) pass = encoder.beginComputePass();
          pipeline = null;
          break;
        case "end":
          pass?.end();
          pass = null;
          break;
        case "pipeline":
          if (c.pipeline !== pipeline) {
            pipeline = c.pipeline;
            pass?.setPipeline(pipeline);
          }
          break;
        case "group":
          groups.set(c.index, c.group);
          pass?.setBindGroup(c.index, c.group);
          break;
        case "dispatch":
          if (timed) {
            timed(encoder, pipeline!, groups, c, labels.length);
            labels.push(pipeline!.label || "unnamed");
          } else pass!.dispatchWorkgroups(c.x, c.y, c.z);
          break;
        case "copy":
          encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
          break;
      }
    }
    if (pass) pass.end();
    for (const [from, to] of r.copiesBack) encoder.copyBufferToBuffer(from, 0, to, 0, from.size);
    this.#collect(encoder, r.outputs, collect);
    finish?.(encoder);
    be.queue.submit([encoder.finish()]);
    // Values a read cached on the host are stale now.
    for (const v of this.#spec.state) be.tensorMap.get(v.dataId).values = null;
    this.#spec.hostEffects?.();
    return labels;
  }
}

function bytesOf(a: Float32Array | Int32Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength);
}

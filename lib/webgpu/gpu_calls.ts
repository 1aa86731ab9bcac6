/**
 * Counts the WebGPU calls a piece of work makes, by wrapping the methods of
 * the `GPUQueue`, `GPUDevice`, `GPUCommandEncoder`, `GPUComputePassEncoder`
 * and `GPUBuffer` prototypes (every WebGPU call in Deno goes through them),
 * and optionally turns every dispatch into an empty one
 * (`dispatchWorkgroups(0, 0, 0)`): the same host work with no GPU work, to
 * time the host side alone. Results computed that way are meaningless.
 * Optionally it also times each call, and the encoding calls it does not
 * count (`setPipeline`, `setBindGroup`, pass `end`, `finish`): where a
 * step's host time goes.
 *
 * For benchmarks and tests: wrapping is global to the process, installed
 * once, and costs a counter increment per call (and two clock reads while
 * timing).
 *
 * @module
 */

/** Calls counted since the last {@linkcode GpuCallCounter.reset}. */
export interface GpuCalls {
  /** `queue.writeBuffer`. */
  writeBuffer: number;
  /** `device.createBuffer`. */
  createBuffer: number;
  /** `device.createBindGroup`. */
  createBindGroup: number;
  /** `pass.dispatchWorkgroups`. */
  dispatch: number;
  /** `queue.submit`. */
  submit: number;
  /** `buffer.mapAsync`: read-backs to the host. */
  mapAsync: number;
  /** `encoder.beginComputePass`. */
  computePass: number;
  /** `encoder.copyBufferToBuffer`. */
  copy: number;
  /** `device.createComputePipeline` and its async variant. */
  createPipeline: number;
}

/** The counter installed by {@linkcode countGpuCalls}. */
export interface GpuCallCounter {
  /** The counts so far. */
  snapshot(): GpuCalls;
  /** Sets every count to zero. */
  reset(): void;
  /** While true, every dispatch runs zero workgroups: host work only. */
  hostOnly: boolean;
  /** While true, every wrapped call is timed ({@linkcode GpuCallCounter.times}). */
  timing: boolean;
  /** Calls and milliseconds of each timed method (by name) since the last reset. */
  times(): Record<string, CallTime>;
}

/** How often a method was called and the host time spent in it. */
export interface CallTime {
  calls: number;
  ms: number;
}

const COUNTED: [string, string, keyof GpuCalls][] = [
  ["GPUQueue", "writeBuffer", "writeBuffer"],
  ["GPUQueue", "submit", "submit"],
  ["GPUDevice", "createBuffer", "createBuffer"],
  ["GPUDevice", "createBindGroup", "createBindGroup"],
  ["GPUDevice", "createComputePipeline", "createPipeline"],
  ["GPUDevice", "createComputePipelineAsync", "createPipeline"],
  ["GPUBuffer", "mapAsync", "mapAsync"],
  ["GPUCommandEncoder", "beginComputePass", "computePass"],
  ["GPUCommandEncoder", "copyBufferToBuffer", "copy"],
];

/** Methods timed (while timing) but not counted. */
const TIMED_ONLY: [string, string][] = [
  ["GPUDevice", "createCommandEncoder"],
  ["GPUCommandEncoder", "finish"],
  ["GPUComputePassEncoder", "setPipeline"],
  ["GPUComputePassEncoder", "setBindGroup"],
  ["GPUComputePassEncoder", "end"],
];

let installed: GpuCallCounter | null = null;

function zero(): GpuCalls {
  return {
    writeBuffer: 0,
    createBuffer: 0,
    createBindGroup: 0,
    dispatch: 0,
    submit: 0,
    mapAsync: 0,
    computePass: 0,
    copy: 0,
    createPipeline: 0,
  };
}

/**
 * Installs the counter (once per process; later calls return the same one).
 * Returns null where the runtime has no WebGPU classes.
 *
 * @example
 * ```ts ignore
 * // Needs a WebGPU adapter.
 * const counter = countGpuCalls()!;
 * counter.reset();
 * trainStep(model, sgd, images, labels);
 * console.log(counter.snapshot().dispatch);
 * ```
 */
export function countGpuCalls(): GpuCallCounter | null {
  if (installed) return installed;
  const g = globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>;
  if (!g.GPUQueue || !g.GPUComputePassEncoder) return null;
  let calls = zero();
  let times: Record<string, CallTime> = {};
  const counter: GpuCallCounter = {
    snapshot: () => ({ ...calls }),
    reset: () => {
      calls = zero();
      times = {};
    },
    hostOnly: false,
    timing: false,
    times: () => structuredClone(times),
  };
  /** Wraps `cls.prototype[method]`: counted under `key` (if any), timed while timing. */
  const wrap = (cls: string, method: string, key?: keyof GpuCalls) => {
    const proto = g[cls]?.prototype;
    const original = proto?.[method] as ((...args: unknown[]) => unknown) | undefined;
    if (!proto || typeof original !== "function") return;
    // An emptied dispatch while host-only.
    const call = method === "dispatchWorkgroups"
      ? (self: unknown, args: unknown[]) => original.apply(self, counter.hostOnly ? [0, 0, 0] : args)
      : (self: unknown, args: unknown[]) => original.apply(self, args);
    proto[method] = function (this: unknown, ...args: unknown[]) {
      if (key) calls[key]++;
      if (!counter.timing) return call(this, args);
      const t0 = performance.now();
      try {
        return call(this, args);
      } finally {
        const t = times[method] ??= { calls: 0, ms: 0 };
        t.calls++;
        t.ms += performance.now() - t0;
      }
    };
  };
  for (const [cls, method, key] of COUNTED) wrap(cls, method, key);
  wrap("GPUComputePassEncoder", "dispatchWorkgroups", "dispatch");
  for (const [cls, method] of TIMED_ONLY) wrap(cls, method);
  installed = counter;
  return counter;
}

/**
 * `after - before`, call by call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { diffCalls, type GpuCalls } from "./gpu_calls.ts";
 * const none: GpuCalls = { writeBuffer: 0, createBuffer: 0, createBindGroup: 0, dispatch: 0, submit: 0,
 *   mapAsync: 0, computePass: 0, copy: 0, createPipeline: 0 };
 * assert.equal(diffCalls({ ...none, dispatch: 5 }, { ...none, dispatch: 2 }).dispatch, 3);
 * ```
 */
export function diffCalls(after: GpuCalls, before: GpuCalls): GpuCalls {
  const out = zero();
  for (const key of Object.keys(out) as (keyof GpuCalls)[]) out[key] = after[key] - before[key];
  return out;
}

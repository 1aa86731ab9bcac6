/**
 * What single WebGPU calls cost the host in this runtime, in microseconds:
 * the calls a tfjs training step makes per program or per upload. On a GPU
 * machine this tells in one short run whether the host path is the
 * bottleneck (Deno's wgpu allocates a staging buffer per `writeBuffer` and
 * queries the driver's memory budget per buffer creation and per submit).
 *
 *   deno run -A bench/webgpu_calls.ts [--reps 2000] [--require-hardware]
 *
 * Prints the adapter, then CSV: `call,reps,median_us,mean_us` for
 * `writeBuffer` (64 B and 256 KiB), `createBuffer+destroy`,
 * `createBindGroup` (3 storage + 1 uniform), `setPipeline+setBindGroup+
 * dispatch` (per dispatch of zero workgroups, encoded, finished and
 * submitted in batches), an empty `submit`, and
 * a `mapAsync` round trip (copy, submit, map, unmap). Medians over batches,
 * after a warm-up batch.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { probeWebGpu } from "../lib/runtime/backend.ts";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "2000" },
    "require-hardware": { type: "boolean", default: false },
  },
});
const REPS = Number(values.reps);
if (!Number.isInteger(REPS) || REPS < 10) {
  throw new Error(`--reps must be an integer of 10 or more, got ${values.reps}`);
}

const gpu = await probeWebGpu();
if (!gpu) throw new Error("no WebGPU adapter");
console.log(`# adapter: ${gpu.description}`);
if (values["require-hardware"] && gpu.software) {
  console.error(
    `error: the WebGPU adapter "${gpu.description}" is a software rasteriser: its timings say nothing about a GPU`,
  );
  Deno.exit(1);
}
const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
const device = await adapter!.requestDevice();
const U = GPUBufferUsage;

/** Median and mean microseconds per call of `fn(i)` over `reps` calls, in 20 timed batches after one warm-up. */
function time(reps: number, fn: (i: number) => void, after?: () => void): [number, number] {
  const batches = 20, per = Math.max(1, Math.floor(reps / batches));
  const samples: number[] = [];
  for (let b = -1; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < per; i++) fn(i);
    after?.();
    if (b >= 0) samples.push((performance.now() - t0) * 1000 / per);
  }
  samples.sort((a, b) => a - b);
  return [samples[samples.length >> 1], samples.reduce((s, v) => s + v, 0) / samples.length];
}

const rows: [string, number, [number, number]][] = [];
const storage = device.createBuffer({ size: 1 << 18, usage: U.STORAGE | U.COPY_DST | U.COPY_SRC });
const small = new Uint8Array(64), big = new Uint8Array(1 << 18);
rows.push(["writeBuffer 64 B", REPS, time(REPS, () => device.queue.writeBuffer(storage, 0, small))]);
rows.push([
  "writeBuffer 256 KiB",
  REPS / 10,
  time(REPS / 10, () => device.queue.writeBuffer(storage, 0, big)),
]);
device.queue.submit([]);
rows.push([
  "createBuffer+destroy 4 KiB",
  REPS,
  time(REPS, () => device.createBuffer({ size: 4096, usage: U.STORAGE | U.COPY_DST | U.COPY_SRC }).destroy()),
]);

const module = device.createShaderModule({
  code: `
@group(0) @binding(0) var<storage, read> a : array<f32>;
@group(0) @binding(1) var<storage, read> b : array<f32>;
@group(0) @binding(2) var<storage, read_write> c : array<f32>;
struct U { n : u32 }
@group(0) @binding(3) var<uniform> u : U;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g : vec3<u32>) { if (g.x < u.n) { c[g.x] = a[g.x] + b[g.x]; } }`,
});
const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
const bufs = [0, 1, 2].map(() =>
  device.createBuffer({ size: 4096, usage: U.STORAGE | U.COPY_DST | U.COPY_SRC })
);
const uniform = device.createBuffer({ size: 256, usage: U.UNIFORM | U.COPY_DST });
device.queue.writeBuffer(uniform, 0, new Uint32Array([1024]));
const entries = [...bufs.map((buffer, i) => ({ binding: i, resource: { buffer } })), {
  binding: 3,
  resource: { buffer: uniform, offset: 0, size: 4 },
}];
const layout = pipeline.getBindGroupLayout(0);
rows.push([
  "createBindGroup (4 entries)",
  REPS,
  time(REPS, () => device.createBindGroup({ layout, entries })),
]);
const group = device.createBindGroup({ layout, entries });
let encoder = device.createCommandEncoder(), pass = encoder.beginComputePass();
rows.push([
  "setPipeline+setBindGroup+dispatch (+finish, submit)",
  REPS,
  time(REPS, () => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    // No workgroups: the host's cost only (a software adapter would compute in submit).
    pass.dispatchWorkgroups(0);
  }, () => {
    pass.end();
    device.queue.submit([encoder.finish()]);
    encoder = device.createCommandEncoder();
    pass = encoder.beginComputePass();
  }),
]);
pass.end();
encoder.finish();
rows.push([
  "submit (empty encoder)",
  REPS / 10,
  time(REPS / 10, () => device.queue.submit([device.createCommandEncoder().finish()])),
]);

const read = device.createBuffer({ size: 4096, usage: U.MAP_READ | U.COPY_DST });
const mapSamples: number[] = [];
for (let i = -1; i < 20; i++) {
  const t0 = performance.now();
  const e = device.createCommandEncoder();
  e.copyBufferToBuffer(bufs[2], 0, read, 0, 4096);
  device.queue.submit([e.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  read.getMappedRange();
  read.unmap();
  if (i >= 0) mapSamples.push((performance.now() - t0) * 1000);
}
mapSamples.sort((a, b) => a - b);
rows.push(["mapAsync round trip", 20, [mapSamples[10], mapSamples.reduce((s, v) => s + v, 0) / 20]]);

console.log("call,reps,median_us,mean_us");
for (const [name, reps, [med, mean]] of rows) {
  console.log(`${name},${reps},${med.toFixed(2)},${mean.toFixed(2)}`);
}
device.destroy();

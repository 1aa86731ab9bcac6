/**
 * The WebGPU host path: uniform packing and the bind-group cache (pure), and
 * on an adapter the calls
 * one ResNet20 training step makes in steady state at batch 128, counted by
 * wrapping the WebGPU prototypes with every dispatch emptied (host work only:
 * lavapipe would take seconds a step to compute it).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { BindGroupCache, packUniforms, UniformArena } from "../../lib/webgpu/host_path.ts";
import { countGpuCalls } from "../../lib/webgpu/gpu_calls.ts";
import type { WebGpuBackend } from "../../lib/webgpu/backend_internals.ts";
import { flush } from "../../lib/webgpu/backend_internals.ts";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { ResNet20 } from "../../lib/models/resnet20.ts";
import { Sgd } from "../../lib/train/sgd.ts";
import { trainStep } from "../../lib/train/train_epoch.ts";
import { gpuTest } from "./helpers.ts";

Deno.test("packUniforms() lays fields out as WGSL structs of scalars and vectors", () => {
  const view = (b: Uint8Array) => new DataView(b.buffer);
  // Scalars pack at 4 bytes; the struct rounds to its largest alignment.
  let b = packUniforms([{ type: "uint32", data: [7] }, { type: "float32", data: [0.5] }, {
    type: "int32",
    data: [-3],
  }]);
  assert.equal(b.byteLength, 12);
  assert.deepEqual([view(b).getUint32(0, true), view(b).getFloat32(4, true), view(b).getInt32(8, true)], [
    7,
    0.5,
    -3,
  ]);
  // vec2 aligns to 8; vec3/vec4 to 16.
  b = packUniforms([{ type: "float32", data: [1] }, { type: "int32", data: [2, 3] }, {
    type: "int32",
    data: [4, 5, 6, 7],
  }]);
  assert.equal(b.byteLength, 32);
  assert.deepEqual([...new Int32Array(b.buffer, 8, 2)], [2, 3]);
  assert.deepEqual([...new Int32Array(b.buffer, 16, 4)], [4, 5, 6, 7]);
  // After a 5- or 6-value field the next one aligns to 16; an empty field is [1].
  b = packUniforms([{ type: "int32", data: [1, 2, 3, 4, 5] }, { type: "int32", data: [] }]);
  assert.equal(new Int32Array(b.buffer)[8], 1);
  assert.throws(() => packUniforms([{ type: "int32", data: [1, 2, 3, 4, 5, 6, 7] }]), /at most 6/);
});

Deno.test("BindGroupCache reuses a group only for the same layout and buffer slices, least recently used out", () => {
  const cache = new BindGroupCache(3);
  const layout = {} as GPUBindGroupLayout, other = {} as GPUBindGroupLayout;
  const a = { size: 256 } as GPUBuffer, b = { size: 256 } as GPUBuffer;
  const made: GPUBindGroupDescriptor[] = [];
  const get = (d: GPUBindGroupDescriptor) =>
    cache.get(d, () => {
      made.push(d);
      return { made: made.length } as unknown as GPUBindGroup;
    });
  const desc = (l: GPUBindGroupLayout, ...slices: [GPUBuffer, number?, number?][]) => ({
    layout: l,
    entries: slices.map(([buffer, offset, size], binding) => ({
      binding,
      resource: { buffer, offset, size },
    })),
  });
  const abDescriptor = desc(layout, [a], [b, 0, 16]);
  const ab = get(abDescriptor);
  assert.equal(cache.descriptorOf(ab), abDescriptor, "what the group was made from, for a recorder");
  assert.equal(get(desc(layout, [a], [b, 0, 16])), ab, "equal descriptor, new objects: reused");
  assert.equal(get(desc(layout, [a, 0], [b, 0, 16])), ab, "offset 0 is the default offset");
  // Any difference in what is bound makes a new group.
  const variants = [
    desc(other, [a], [b, 0, 16]), // layout
    desc(layout, [b], [a, 0, 16]), // buffers swapped
    desc(layout, [a], [b, 256, 16]), // offset
  ];
  const groups = variants.map(get);
  assert.equal(new Set([ab, ...groups]).size, 4);
  assert.deepEqual([cache.hits, cache.misses, cache.size], [2, 4, 3]);
  // Capacity 3: the least recently used (ab) went out; the others stay.
  assert.notEqual(get(desc(layout, [a], [b, 0, 16])), ab);
  assert.equal(get(variants[2]), groups[2]);
  // A binding that is not a buffer slice is never cached.
  const sampler = { layout, entries: [{ binding: 0, resource: {} as GPUSampler }] };
  assert.notEqual(get(sampler), get(sampler));
  assert.equal(cache.descriptorOf(get(sampler)), undefined);
  assert.equal(cache.size, 3);
  cache.clear();
  assert.equal(cache.size, 0);
});

Deno.test("UniformArena hands out aligned slices and is written once per flush", gpuTest, async () => {
  await selectBackend("webgpu");
  const be = tf.backend() as WebGpuBackend;
  const arena = new UniformArena(be.device, 1024);
  const align = be.device.limits.minUniformBufferOffsetAlignment;
  const a = arena.push(new Uint8Array([1, 2, 3, 4]));
  const b = arena.push(new Uint8Array(8).fill(9));
  assert.deepEqual([a.offset, a.size, b.offset, b.size], [0, 4, align, 8]);
  assert.deepEqual([...arena.bytesAt(b.offset, 8)], new Array(8).fill(9));
  assert.equal(arena.fits(1024 - 2 * align), true);
  assert.equal(arena.fits(1024 - 2 * align + 1), false);
  assert.throws(() => arena.push(new Uint8Array(1024)), /Uniform arena full/);
  const counter = countGpuCalls()!;
  counter.reset();
  arena.flush(be.queue);
  arena.flush(be.queue); // nothing pending: no second write
  assert.equal(counter.snapshot().writeBuffer, 1);
  assert.equal(arena.push(new Uint8Array(4)).offset, 0, "a flush starts over");
  arena.destroy();
});

Deno.test(
  "uploads through the host path keep their values: scalars, int32, bool, large",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const values = Float32Array.from({ length: 3000 }, (_, i) => Math.sin(i));
    const ts = [
      tf.scalar(0.9),
      tf.scalar(0.9), // the same cached buffer
      tf.scalar(-7, "int32"),
      tf.tensor1d([true, false, true], "bool"),
      tf.tensor1d(values),
    ];
    // A kernel uploads its inputs; read back what the GPU holds.
    const out = ts.map((t) => tf.add(t, tf.zerosLike(t)));
    assert.deepEqual([...await out[0].data()], [Math.fround(0.9)]);
    assert.deepEqual([...await out[1].data()], [Math.fround(0.9)]);
    assert.deepEqual([...await out[2].data()], [-7]);
    assert.deepEqual([...await out[3].data()], [1, 0, 1]);
    assert.deepEqual(await out[4].data(), values);
    tf.dispose([...ts, ...out]);
  },
);

Deno.test(
  "one ResNet20 training step at batch 128 makes few writes, buffers and dispatches",
  gpuTest,
  async () => {
    await selectBackend("webgpu");
    const counter = countGpuCalls()!;
    const be = tf.backend() as WebGpuBackend;
    const model = new ResNet20({ seed: 0 });
    const sgd = new Sgd(model.trainable(), { lr: 0.1 });
    const n = 128;
    const images = Float32Array.from({ length: n * 32 * 32 * 3 }, (_, i) => Math.sin(i));
    const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
    counter.hostOnly = true;
    try {
      const counts = [];
      for (let step = 0; step < 10; step++) {
        counter.reset();
        tf.dispose(trainStep(model, sgd, images, labels));
        flush(be);
        counts.push(counter.snapshot());
      }
      // Step 1 compiles pipelines and fills the buffer pool; from step 2 on the calls are few.
      for (const c of counts.slice(1)) {
        assert.ok(c.writeBuffer <= 10, `writeBuffer ${c.writeBuffer} > 10`);
        assert.ok(c.createBuffer <= 10, `createBuffer ${c.createBuffer} > 10`);
        assert.ok(c.dispatch <= 810, `dispatch ${c.dispatch} > 810`);
        assert.ok(c.createPipeline === 0, `${c.createPipeline} pipelines compiled in steady state`);
        assert.equal(c.mapAsync, 0, "no read-back inside a step");
      }
      // Which pooled buffer each op takes settles within a few steps (the
      // weights' buffers alternate between two); then every bind group is reused.
      assert.deepEqual(counts[8], counts[9], "steady state");
      assert.equal(counts[9].createBindGroup, 0, "bind groups reused");
    } finally {
      counter.hostOnly = false;
      sgd.dispose();
      model.dispose();
    }
  },
);

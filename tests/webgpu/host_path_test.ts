/**
 * The WebGPU host path: uniform packing (pure), and on an adapter the calls
 * one ResNet20 training step makes in steady state at batch 128, counted by
 * wrapping the WebGPU prototypes with every dispatch emptied (host work only:
 * lavapipe would take seconds a step to compute it).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { packUniforms, UniformArena } from "../../lib/webgpu/host_path.ts";
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
      for (let step = 0; step < 3; step++) {
        counter.reset();
        tf.dispose(trainStep(model, sgd, images, labels));
        flush(be);
        counts.push(counter.snapshot());
      }
      // Step 1 compiles pipelines and fills the buffer pool; steps 2 and 3 are steady.
      for (const c of counts.slice(1)) {
        assert.ok(c.writeBuffer <= 10, `writeBuffer ${c.writeBuffer} > 10`);
        assert.ok(c.createBuffer <= 10, `createBuffer ${c.createBuffer} > 10`);
        assert.ok(c.dispatch <= 810, `dispatch ${c.dispatch} > 810`);
        assert.ok(c.createPipeline === 0, `${c.createPipeline} pipelines compiled in steady state`);
        assert.equal(c.mapAsync, 0, "no read-back inside a step");
      }
      assert.deepEqual(counts[1], counts[2], "steady state");
    } finally {
      counter.hostOnly = false;
      sgd.dispose();
      model.dispose();
    }
  },
);

import assert from "node:assert/strict";
import { countGpuCalls, diffCalls } from "../../lib/webgpu/gpu_calls.ts";
// helpers.ts probes WebGPU at import, which also sets up the runtime (Vulkan only, XDG_RUNTIME_DIR).
import { gpuTest } from "./helpers.ts";

/** One writeBuffer, one copy and one dispatch of a trivial kernel on `device`, submitted. */
function work(device: GPUDevice): void {
  const module = device.createShaderModule({
    code: "@group(0) @binding(0) var<storage, read_write> x : array<f32>;\n" +
      "@compute @workgroup_size(1) fn main() { x[0] = x[0] + 1.0; }",
  });
  const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const [a, b] = [device.createBuffer({ size: 4, usage }), device.createBuffer({ size: 4, usage })];
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: a } }],
  });
  device.queue.writeBuffer(a, 0, Float32Array.of(1));
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(1);
  pass.end();
  encoder.copyBufferToBuffer(a, 0, b, 0, 4);
  device.queue.submit([encoder.finish()]);
}

Deno.test(
  "countGpuCalls() counts calls, and times them, encoding calls included, only while timing",
  gpuTest,
  async () => {
    const device = await (await navigator.gpu.requestAdapter())!.requestDevice();
    const counter = countGpuCalls()!;
    assert.equal(countGpuCalls(), counter, "installed once");
    counter.reset();
    work(device);
    const once = counter.snapshot();
    assert.deepEqual(
      [once.writeBuffer, once.dispatch, once.copy, once.submit, once.computePass, once.createBindGroup],
      [1, 1, 1, 1, 1, 1],
    );
    assert.deepEqual(counter.times(), {}, "not timed while timing is off");
    counter.timing = true;
    try {
      work(device);
      const times = counter.times();
      for (
        const method of [
          "writeBuffer",
          "setPipeline",
          "setBindGroup",
          "dispatchWorkgroups",
          "end",
          "finish",
          "submit",
        ]
      ) {
        assert.equal(times[method]?.calls, 1, method);
        assert.ok(times[method].ms >= 0, method);
      }
      assert.equal(diffCalls(counter.snapshot(), once).dispatch, 1, "two dispatches counted in all");
      counter.reset();
      assert.deepEqual(counter.times(), {}, "reset() clears the times");
    } finally {
      counter.timing = false;
      device.destroy();
    }
  },
);

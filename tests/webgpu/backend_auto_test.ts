/**
 * `--backend auto` with a hardware GPU and `native` both available, on a
 * fake hardware adapter (the real one here is Mesa's software rasteriser,
 * which tfjs drives all the same) and fake probe timings: the measured
 * faster backend wins and the run can record why.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { selectBackend } from "../../lib/runtime/backend.ts";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { gpu, gpuTest } from "./helpers.ts";

const fakeHardware = () => Promise.resolve({ description: "Fake GPU 9000", software: false });
const test = { ...gpuTest, ignore: gpu === null || !nativeAvailable().ok };

/** A probe that reports `rates[backend]` for whichever backend is active. */
function fakeProbe(rates: Record<string, number>): { probe: () => Promise<number>; ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    probe: () => {
      ran.push(tf.getBackend());
      return Promise.resolve(rates[tf.getBackend()]);
    },
  };
}

Deno.test("selectBackend('auto') takes webgpu when the probe measures it faster", test, async () => {
  const { probe, ran } = fakeProbe({ webgpu: 3000, native: 250 });
  const info = await selectBackend("auto", { adapter: fakeHardware, probe });
  assert.deepEqual(ran, ["webgpu", "native"]);
  assert.equal(info.backend, "webgpu");
  assert.equal(tf.getBackend(), "webgpu");
  assert.equal(info.device, "Fake GPU 9000");
  assert.equal(info.reason, "auto: webgpu is faster (measured 3000/s on webgpu, 250/s on native)");
  assert.deepEqual(info.probe, { webgpu: 3000, native: 250 });
});

Deno.test("selectBackend('auto') takes native when the probe measures the GPU slower", test, async () => {
  const { probe } = fakeProbe({ webgpu: 17.04, native: 250 });
  const info = await selectBackend("auto", { adapter: fakeHardware, probe });
  assert.equal(info.backend, "native");
  assert.equal(tf.getBackend(), "native");
  assert.equal(info.reason, "auto: native is faster (measured 17/s on webgpu, 250/s on native)");
});

Deno.test(
  "selectBackend('auto') without a probe never picks the GPU for its presence alone",
  test,
  async () => {
    const info = await selectBackend("auto", { adapter: fakeHardware });
    assert.equal(info.backend, "native");
    assert.match(
      info.reason,
      /^auto: native CPU kernels \(no probe for this task; a hardware GPU is present\)$/,
    );
    assert.equal(info.probe, undefined);
  },
);

Deno.test("selectBackend('auto') on a software adapter skips the probe", test, async () => {
  const { probe, ran } = fakeProbe({ webgpu: 1e9, native: 1 });
  const info = await selectBackend("auto", {
    adapter: () => Promise.resolve({ description: "llvmpipe (LLVM 15.0.6, 256 bits)", software: true }),
    probe,
  });
  assert.deepEqual(ran, []);
  assert.equal(info.backend, "native");
  assert.match(info.reason, /^auto: WebGPU adapter "llvmpipe .*" is a software rasteriser; /);
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  type BackendChoice,
  BackendError,
  BACKENDS,
  describeCpu,
  hasGpuDeviceFile,
  nativeInstallHint,
  probeWebGpu,
  selectBackend,
  slowBackendNotice,
} from "../../lib/runtime/backend.ts";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { traceLibraries } from "../helpers.ts";

// CPU rasterisers that Mesa, Chrome and Dawn expose as WebGPU adapters.
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|softpipe/i;
// WebGPU adapters hold native resources that Deno's sanitizers count.
const gpuTest = { sanitizeOps: false, sanitizeResources: false };

Deno.test("selectBackend('cpu') starts tfjs's cpu backend and names the CPU", async () => {
  const info = await selectBackend("cpu");
  assert.equal(info.backend, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  assert.equal(info.reason, "requested");
  assert.match(info.device, /^cpu: .+ \(\d+ threads\), JavaScript$/);
  assert.equal(tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0]), 5);
});

Deno.test("selectBackend() rejects an unknown name with the exact message", async () => {
  for (const name of ["gpu", "", "CPU", "tensorflow"]) {
    await assert.rejects(selectBackend(name as BackendChoice), (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.equal(e.name, "BackendError");
      assert.equal(e.message, `Unknown backend "${name}": expected one of auto, webgpu, native, wasm, cpu`);
      return true;
    });
  }
  assert.deepEqual(BACKENDS, ["auto", "webgpu", "native", "wasm", "cpu"]);
});

Deno.test("describeCpu() names the model and thread count", () => {
  assert.match(describeCpu(), /^cpu: .+ \(\d+ threads\)$/);
});

Deno.test("selectBackend('auto', { preferCpu }) takes a CPU backend (native when found) for small models", async () => {
  const info = await selectBackend("auto", { preferCpu: true });
  assert.equal(info.backend, nativeAvailable().ok ? "native" : "cpu");
  assert.match(info.reason, /^auto: small model, a CPU backend beats GPU dispatch; /);
});

Deno.test("probeWebGpu() returns null or an adapter, flagging software rasterisers", gpuTest, async () => {
  const gpu = await probeWebGpu();
  if (gpu === null) return;
  assert.equal(typeof gpu.description, "string");
  assert.ok(gpu.description.length > 0);
  assert.equal(typeof gpu.software, "boolean");
  if (SOFTWARE.test(gpu.description)) assert.equal(gpu.software, true, gpu.description);
  // On CI and dev boxes (no GPU; Mesa's llvmpipe at most) it is software.
  if (Deno.env.get("CI")) assert.equal(gpu.software, true, `CI has a hardware GPU? ${gpu.description}`);
});

Deno.test("selectBackend('auto') never picks webgpu on a software adapter", gpuTest, async () => {
  const gpu = await probeWebGpu();
  const info = await selectBackend("auto");
  assert.equal(tf.getBackend(), info.backend);
  if (gpu === null || gpu.software) {
    assert.notEqual(info.backend, "webgpu");
    assert.ok(["native", "cpu"].includes(info.backend), info.backend);
    const why = gpu === null
      ? "auto: no WebGPU adapter"
      : `auto: WebGPU adapter "${gpu.description}" is a software rasteriser`;
    assert.ok(info.reason.startsWith(`${why}; `), info.reason);
  } else {
    assert.equal(info.backend, "webgpu");
    assert.equal(info.reason, "auto: hardware GPU");
  }
  await selectBackend("cpu");
});

Deno.test("selectBackend('wasm') starts tfjs's WebAssembly backend", async () => {
  const info = await selectBackend("wasm");
  assert.equal(info.backend, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(info.device, `${describeCpu()}, WebAssembly`);
  assert.equal(info.reason, "requested");
  assert.equal(tf.tidy(() => tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0]), 5);
  await selectBackend("cpu");
});

Deno.test("selectBackend('native') starts native kernels or says why it cannot", async () => {
  const found = nativeAvailable();
  if (!found.ok) {
    await assert.rejects(selectBackend("native"), {
      name: "BackendError",
      message: `Backend "native" is unavailable: ${found.detail}`,
    });
    return;
  }
  const info = await selectBackend("native");
  assert.equal(info.backend, "native");
  assert.equal(tf.getBackend(), "native");
  assert.equal(info.reason, "requested");
  assert.equal(info.device, `${describeCpu()}, ${found.detail}`);
  assert.equal(tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])).dataSync()[0]), 3);
  await selectBackend("cpu");
});

Deno.test(
  "selectBackend('webgpu') starts on an adapter, flagged when software, or names the fix",
  gpuTest,
  async () => {
    const gpu = await probeWebGpu();
    if (gpu === null) {
      await assert.rejects(selectBackend("webgpu"), {
        name: "BackendError",
        message:
          `Backend "webgpu" was requested but this runtime has no WebGPU adapter: use --backend auto, native or cpu`,
      });
      return;
    }
    const info = await selectBackend("webgpu");
    assert.equal(info.backend, "webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    assert.equal(info.device, gpu.description);
    assert.equal(
      info.reason,
      gpu.software ? "requested (software adapter: slow, for testing only)" : "requested",
    );
    const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])));
    assert.deepEqual(Array.from(await sum.data()), [4, 6]);
    sum.dispose();
    await selectBackend("cpu");
  },
);

Deno.test({
  name: "WebGPU starts on wgpu's Vulkan backend alone: libEGL never loads (its exit-time double free)",
  ...gpuTest,
  ignore: Deno.build.os !== "linux" || (await probeWebGpu()) === null ||
    Deno.env.get("DENO_WEBGPU_BACKEND") !== "vulkan",
  async fn() {
    // tfjs asks for its own adapter after a probe that was not ours (a fake one).
    const script = "tests/fixtures/gpu_env/start_webgpu.ts";
    const vulkan = await traceLibraries(script, [], { DENO_WEBGPU_BACKEND: "" });
    assert.equal(vulkan.code, 0, vulkan.stderr.slice(-2000));
    assert.equal(vulkan.stdout, "webgpu");
    assert.ok(vulkan.loaded.some((f) => /libvulkan/.test(f)), vulkan.loaded.join("\n"));
    assert.deepEqual(vulkan.loaded.filter((f) => /libEGL/.test(f)), []);
    // The control: where the user asks for every backend, wgpu loads EGL.
    const all = await traceLibraries(script, [], { DENO_WEBGPU_BACKEND: "vulkan,gl" });
    assert.ok(all.loaded.some((f) => /libEGL/.test(f)), `libEGL not loaded:\n${all.loaded.join("\n")}`);
  },
});

Deno.test("hasGpuDeviceFile() finds render nodes, NVIDIA, WSL2 and ROCm devices and nothing else", () => {
  for (const gpu of [["dri"], ["nvidiactl", "nvidia0"], ["nvidia3"], ["dxg"], ["kfd"]]) {
    assert.equal(hasGpuDeviceFile(["null", "tty0", ...gpu]), true, gpu.join());
  }
  for (const none of [[], ["null", "kvm", "fuse", "nvidiactl", "nvidia-uvm", "drm"]]) {
    assert.equal(hasGpuDeviceFile(none), false, none.join());
  }
});

Deno.test("slowBackendNotice() is three short lines with the expected time and the platform's install line", () => {
  for (const os of ["linux", "darwin", "windows"]) {
    const lines = slowBackendNotice("exp2", "about 21:40:00 for this run (native: about 33:20)", os);
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => l.startsWith("exp2: ") && l.length < 240), lines.join("\n"));
    assert.ok(lines[1].includes(nativeInstallHint(os)));
  }
  assert.match(nativeInstallHint("linux"), /sudo apt-get install -y libdnnl2 libopenblas0-pthread/);
  assert.match(nativeInstallHint("darwin"), /brew install openblas/);
  assert.match(nativeInstallHint("windows"), /WSL2.*libopenblas\.dll/);
});

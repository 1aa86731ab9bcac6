/**
 * Chooses and starts the TensorFlow.js backend a lab runs on, and says which
 * device that is, so every run can record where its numbers came from.
 *
 * `auto` never picks a path because an adapter exists:
 * - a software adapter (llvmpipe, lavapipe, SwiftShader) is correct but
 *   ~100x slower than a CPU path: `native` (tfjs's CPU backend with BLAS and
 *   oneDNN kernels through FFI), else `cpu`;
 * - a hardware GPU with `native` also available: the caller's probe (a few
 *   steps of the lab's own model, seconds at most) runs on both and the
 *   faster one wins; without a probe (small jobs: evaluation, prediction),
 *   `native`, which starts at once and needs no pipeline compiles;
 * - a hardware GPU without `native`: WebGPU.
 *
 * On Linux with no GPU device file in `/dev`, `auto` does not ask WebGPU at
 * all: the only adapter there could be is a software one, and asking loads
 * Mesa's Vulkan driver and its threads into a process that then runs on the
 * CPU.
 *
 * Backends are imported only when chosen: nothing starts at import time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { cpus } from "node:os";
import { readEnv } from "./env.ts";
import { clip } from "./quote.ts";

/** Backend names accepted by `--backend`. */
export const BACKENDS = ["auto", "webgpu", "native", "wasm", "cpu"] as const;

/** One of {@linkcode BACKENDS}. */
export type BackendChoice = typeof BACKENDS[number];

/** What a run ran on. */
export interface BackendInfo {
  /** The tfjs backend name actually in use, e.g. `"webgpu"`. */
  backend: string;
  /** The device, e.g. `"NVIDIA H100 (vulkan)"` or `"cpu: AMD EPYC (2 threads)"`. */
  device: string;
  /** Why `auto` chose this backend, or a fallback notice (one short line). */
  reason: string;
  /** The probe's rates (per second) by backend, when `auto` measured. */
  probe?: Record<string, number>;
  /**
   * True when `auto` fell back to tfjs's plain `cpu` backend because no
   * native library was found: a lab then prints {@linkcode slowBackendNotice}.
   */
  slow?: boolean;
}

/** A WebGPU adapter as {@linkcode probeWebGpu} sees it. */
export interface GpuProbe {
  /** Adapter description (vendor, architecture, device, description). */
  description: string;
  /** True for CPU rasterisers such as llvmpipe, lavapipe or SwiftShader. */
  software: boolean;
}

/** Raised when a requested backend cannot start. */
export class BackendError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "BackendError";
  }
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|softpipe/i;

/**
 * Asks the runtime for a WebGPU adapter; `null` when there is none.
 *
 * @example
 * ```ts ignore
 * const gpu = await probeWebGpu();
 * console.log(gpu ? gpu.description : "no WebGPU adapter");
 * ```
 */
export async function probeWebGpu(): Promise<GpuProbe | null> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return null;
  prepareWebGpuRuntime();
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description]
    .filter((s) => s && s !== "0").join(" ").trim() || "unknown adapter";
  const fallback = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  return { description, software: fallback || SOFTWARE_ADAPTER.test(description) };
}

/**
 * Sets up the process for its first WebGPU adapter request (ours or tfjs's):
 * {@linkcode ensureXdgRuntimeDir} and {@linkcode ensureVulkanOnly}.
 */
function prepareWebGpuRuntime(): void {
  ensureXdgRuntimeDir();
  ensureVulkanOnly();
}

/**
 * On Linux, limits Deno's WebGPU (wgpu) to its Vulkan backend by setting
 * `DENO_WEBGPU_BACKEND=vulkan` when unset: otherwise wgpu also enumerates its
 * GL backend, which loads libglvnd's libEGL into the process for good, and
 * EGL's per-thread state is then freed twice when a thread that asked for an
 * adapter (each `deno test` module's) ends while the process exits: `double
 * free or corruption (fasttop)` or `corrupted size vs. prev_size in
 * fastbins` after every test had passed (in 1 to 3 of 12 runs of four WebGPU
 * test files; 0 of 15 with Vulkan only). The GL backend cannot run tfjs's
 * compute shaders well anyway. Needs `--allow-env`; does nothing without it.
 */
function ensureVulkanOnly(): void {
  if (Deno.build.os !== "linux") return;
  if (Deno.permissions.querySync({ name: "env", variable: "DENO_WEBGPU_BACKEND" }).state !== "granted") {
    return;
  }
  if (!Deno.env.get("DENO_WEBGPU_BACKEND")) Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan");
}

/**
 * Mesa's Vulkan and EGL drivers print `error: XDG_RUNTIME_DIR is invalid or
 * not set in the environment.` when probed without it (ssh sessions,
 * containers, CI): point it at a private folder of this process, removed when
 * it exits, before the first probe. Needs `--allow-env`; does nothing
 * without it, or when the variable is set, or off Linux.
 */
function ensureXdgRuntimeDir(): void {
  if (Deno.build.os !== "linux") return;
  if (Deno.permissions.querySync({ name: "env", variable: "XDG_RUNTIME_DIR" }).state !== "granted") return;
  if (Deno.env.get("XDG_RUNTIME_DIR")) return;
  try {
    const dir = Deno.makeTempDirSync({ prefix: "tfjs-lab-xdg-" });
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
  } catch {
    // No writable temp folder: the drivers' message is harmless.
  }
}

/**
 * The one-line install of the native backend's libraries on this platform.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativeInstallHint } from "./backend.ts";
 * assert.match(nativeInstallHint("linux"), /apt-get install -y libdnnl2 libopenblas0-pthread/);
 * assert.match(nativeInstallHint("windows"), /WSL2/);
 * ```
 */
export function nativeInstallHint(os: string = Deno.build.os): string {
  switch (os) {
    case "darwin":
      return "brew install openblas (macOS's Accelerate is used when found; oneDNN 3 from Homebrew is not " +
        "supported), or set TFJS_LAB_BLAS=/path/to/libopenblas.dylib";
    case "windows":
      return "run the lab in WSL2 (then: sudo apt-get install -y libdnnl2 libopenblas0-pthread), or put " +
        "libopenblas.dll on PATH, or set TFJS_LAB_BLAS=C:\\path\\to\\libopenblas.dll";
    default:
      return "sudo apt-get install -y libdnnl2 libopenblas0-pthread (Debian/Ubuntu), or set " +
        "TFJS_LAB_DNNL / TFJS_LAB_BLAS to a library's path";
  }
}

/**
 * The notice a lab prints when it runs on the plain `cpu` backend for want of
 * native libraries: what it costs and the one line that fixes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { slowBackendNotice } from "./backend.ts";
 * const lines = slowBackendNotice("exp2", "about 22 h for this run (native: about 23 min)", "linux");
 * assert.equal(lines.length, 3);
 * assert.match(lines[0], /^exp2: SLOW: /);
 * ```
 */
export function slowBackendNotice(lab: string, expected: string, os: string = Deno.build.os): string[] {
  return [
    `${lab}: SLOW: no oneDNN or OpenBLAS library was found, so this runs on the plain cpu backend: ${expected}.`,
    `${lab}: install them: ${nativeInstallHint(os)}`,
    `${lab}: (or stop with Ctrl-C; --backend native makes a missing library an error)`,
  ];
}

/**
 * A one-line description of this machine's CPU.
 *
 * @example
 * ```ts ignore
 * console.log(describeCpu()); // "cpu: AMD EPYC 7B13 (2 threads)"
 * ```
 */
export function describeCpu(): string {
  try {
    const list = cpus();
    return `cpu: ${list[0]?.model.trim() ?? "unknown"} (${list.length} threads)`;
  } catch {
    return `cpu: unknown (${navigator.hardwareConcurrency} threads)`;
  }
}

/** Options for {@linkcode selectBackend}. */
export interface SelectOptions {
  /**
   * For `auto`: the model is so small that dispatch costs dominate and a CPU
   * backend beats even a hardware GPU (Lab 1's MLP).
   * @default {false}
   */
  preferCpu?: boolean;
  /**
   * For `auto` with a hardware GPU and `native` both available: measures
   * the lab's work on the active backend (e.g. images per second of a few
   * training steps; higher is faster), as `lib/train/probe.ts` builds it.
   */
  probe?: () => Promise<number>;
  /** The adapter query, replaceable for tests. @default {probeWebGpu} */
  adapter?: () => Promise<GpuProbe | null>;
}

/**
 * Starts the requested backend and returns what it runs on. Throws
 * {@linkcode BackendError} when an explicitly requested backend is missing.
 *
 * @example
 * ```ts ignore
 * const info = await selectBackend("auto");
 * console.log(`backend ${info.backend} on ${info.device}`);
 * ```
 */
export async function selectBackend(
  choice: BackendChoice,
  options: SelectOptions = {},
): Promise<BackendInfo> {
  if (!(BACKENDS as readonly string[]).includes(choice)) {
    throw new BackendError(
      `Unknown backend "${choice}": expected one of ${BACKENDS.join(", ")}`,
    );
  }
  // Silences tfjs's "install tfjs-node" banner; also skips debug-only checks.
  tf.env().set("PROD", true);
  switch (choice) {
    case "webgpu":
      return await startWebGpu(true);
    case "native":
      return await startNative(true);
    case "wasm":
      return await startWasm();
    case "cpu":
      return await startCpu("requested");
    case "auto":
      return await startAuto(options);
  }
}

/**
 * Whether a GPU device file is among `names` (the entries of `/dev` on
 * Linux): `dri` (Mesa's render nodes), `nvidia0`, `nvidia1`, ..., `dxg`
 * (WSL2) or `kfd` (ROCm). Without one, any WebGPU adapter is a software
 * rasteriser.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasGpuDeviceFile } from "./backend.ts";
 * assert.equal(hasGpuDeviceFile(["null", "tty", "nvidiactl", "nvidia0"]), true);
 * assert.equal(hasGpuDeviceFile(["null", "tty", "kvm"]), false);
 * ```
 */
export function hasGpuDeviceFile(names: Iterable<string>): boolean {
  for (const name of names) if (/^(dri|nvidia\d+|dxg|kfd)$/.test(name)) return true;
  return false;
}

/**
 * False only where no hardware adapter can exist: on Linux with no GPU device
 * file in `/dev`. Asking WebGPU for an adapter there would only load Mesa's
 * software Vulkan driver and its threads into a process that then runs on
 * the CPU.
 */
function mayHaveHardwareGpu(): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    return hasGpuDeviceFile([...Deno.readDirSync("/dev")].map((e) => e.name));
  } catch {
    return true; // no permission to look: ask WebGPU
  }
}

async function startAuto(options: SelectOptions): Promise<BackendInfo> {
  if (options.preferCpu) {
    const cpu = await startNative(false);
    return { ...cpu, reason: `auto: small model, a CPU backend beats GPU dispatch; ${cpu.reason}` };
  }
  const hardware = options.adapter !== undefined || mayHaveHardwareGpu();
  const gpu = hardware ? await (options.adapter ?? probeWebGpu)() : null;
  if (!gpu || gpu.software) {
    const why = gpu
      ? `auto: WebGPU adapter "${gpu.description}" is a software rasteriser`
      : hardware
      ? "auto: no WebGPU adapter"
      : "auto: no GPU device in /dev";
    const native = await startNative(false);
    return { ...native, reason: `${why}; ${native.reason}` };
  }
  if (!(await import("../native/mod.ts")).nativeAvailable().ok) return await startWebGpu(false, gpu);
  if (!options.probe) {
    const native = await startNative(false);
    return {
      ...native,
      reason: `auto: native CPU kernels (no probe for this task; a hardware GPU is present)`,
    };
  }
  const webgpu = await startWebGpu(false, gpu);
  const gpuRate = await options.probe();
  const native = await startNative(false);
  const cpuRate = await options.probe();
  const probe = { webgpu: round(gpuRate), native: round(cpuRate) };
  const measured = `measured ${probe.webgpu}/s on webgpu, ${probe.native}/s on native`;
  if (gpuRate > cpuRate) {
    await tf.setBackend("webgpu");
    return { ...webgpu, reason: `auto: webgpu is faster (${measured})`, probe };
  }
  // The GPU lost. Its backend stays registered, idle (tfjs cannot register
  // it again once removed, and a run chooses once).
  return { ...native, reason: `auto: native is faster (${measured})`, probe };
}

function round(rate: number): number {
  return Number(rate.toPrecision(3));
}

async function startWebGpu(strict: boolean, probe?: GpuProbe): Promise<BackendInfo> {
  const gpu = probe ?? await probeWebGpu();
  if (!gpu) {
    throw new BackendError(
      `Backend "webgpu" was requested but this runtime has no WebGPU adapter: ` +
        `use --backend auto, native or cpu`,
    );
  }
  prepareWebGpuRuntime(); // tfjs asks for its own adapter, also after a fake probe
  const { startWebGpuPlugin, WEBGPU_SUBMIT_BATCH } = await import("../webgpu/mod.ts");
  // WEBGPU_SUBMIT_BATCH overrides the programs per queue submit, for experiments.
  const batch = Number(readEnv("WEBGPU_SUBMIT_BATCH") ?? WEBGPU_SUBMIT_BATCH);
  try {
    await startWebGpuPlugin({
      submitBatch: Number.isInteger(batch) && batch > 0 ? batch : WEBGPU_SUBMIT_BATCH,
    });
  } catch (e) {
    throw new BackendError(
      `Backend "webgpu" failed to start on "${gpu.description}": ${(e as Error).message}`,
    );
  }
  const reason = strict
    ? gpu.software ? "requested (software adapter: slow, for testing only)" : "requested"
    : "auto: hardware GPU";
  return { backend: "webgpu", device: `${gpu.description}`, reason };
}

async function startNative(strict: boolean): Promise<BackendInfo> {
  const native = await import("../native/mod.ts");
  const found = native.nativeAvailable();
  if (!found.ok) {
    if (strict) {
      throw new BackendError(`Backend "native" is unavailable: ${found.detail}`);
    }
    const cpu = await startCpu(`native unavailable (${shortDetail(found.detail)}); the slow cpu backend`);
    return { ...cpu, slow: true };
  }
  const library = await native.registerNativeBackend();
  if (!(await tf.setBackend("native"))) {
    throw new BackendError(`Backend "native" failed to start (${library})`);
  }
  await tf.ready();
  return {
    backend: "native",
    device: `${describeCpu()}, ${library}`,
    reason: strict ? "requested" : "auto: native CPU kernels",
  };
}

async function startWasm(): Promise<BackendInfo> {
  await import("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend("wasm"))) {
    throw new BackendError(`Backend "wasm" failed to start`);
  }
  await tf.ready();
  return { backend: "wasm", device: `${describeCpu()}, WebAssembly`, reason: "requested" };
}

async function startCpu(reason: string): Promise<BackendInfo> {
  await import("@tensorflow/tfjs-backend-cpu");
  if (!(await tf.setBackend("cpu"))) throw new BackendError(`Backend "cpu" failed to start`);
  await tf.ready();
  return { backend: "cpu", device: `${describeCpu()}, JavaScript`, reason };
}

/** The start of a library-search failure: what was missing, not every path tried. */
function shortDetail(detail: string): string {
  const first = detail.split(/; tried |\n/)[0];
  return clip(first, 160);
}

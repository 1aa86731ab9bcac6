import assert from "node:assert/strict";
import { pinLibrary } from "../../lib/native/pin.ts";
import { traceLibraries } from "../helpers.ts";

Deno.test("pinLibrary() pins nothing, saying so, where the library does not load", () => {
  assert.equal(pinLibrary("libno-such-library.so"), false);
  assert.equal(pinLibrary("/no/such/dir/libm.so.6"), false);
});

/** Whether `name` loads here (Linux: the dynamic loader's search path). */
function loads(name: string): boolean {
  try {
    Deno.dlopen(name, {}).close();
    return true;
  } catch {
    return false;
  }
}

/** The libraries unloaded while the fixture runs `how`, and its exit status. */
function unloadedBy(how: "native" | "raw") {
  return traceLibraries("tests/fixtures/pin/end_after_native.ts", [how], { DENO_WEBGPU_BACKEND: "gl" });
}

const openmp = /lib(dnnl|gomp)\b/;

Deno.test({
  name:
    "oneDNN and libgomp stay loaded, and the process exits 0, when a worker and the script that used them end",
  // glibc's loader reports unloads under LD_DEBUG; oneDNN and OpenBLAS as CI installs them.
  ignore: Deno.build.os !== "linux" || !loads("libdnnl.so.2") || !loads("libopenblas.so.0"),
  async fn() {
    // The control: a bare Deno.dlopen in a worker is unloaded when the worker ends.
    const raw = await unloadedBy("raw");
    assert.equal(raw.code, 0, raw.stderr.slice(-2000));
    assert.ok(raw.unloaded.some((f) => /libopenblas/.test(f)), `no unload seen:\n${raw.unloaded.join("\n")}`);
    // oneDNN and libgomp, opened as the backend opens them after the WebGPU
    // probe loaded Mesa's GL driver (so nothing else marks oneDNN undeletable),
    // outlive the worker and the main isolate: the OpenMP threads never run
    // unmapped code. Unpinned, this script died with SIGSEGV in 10 of 10 runs.
    const pinned = await unloadedBy("native");
    assert.equal(pinned.code, 0, pinned.stderr.slice(-2000));
    assert.match(pinned.stderr, /calling init: \S*libdnnl\.so\.2/);
    assert.deepEqual(pinned.unloaded.filter((f) => openmp.test(f)), []);
  },
});

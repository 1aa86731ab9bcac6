import assert from "node:assert/strict";
import { loadNativeLibraries, NativeUnavailableError } from "../../lib/native/ffi.ts";

Deno.test("loadNativeLibraries() names every path it tried when none loads", () => {
  assert.throws(
    () => loadNativeLibraries({ dnnlPaths: ["libnope-dnnl.so"], blasPaths: ["libnope-blas.so"] }),
    (e: unknown) =>
      e instanceof NativeUnavailableError &&
      /^No oneDNN or CBLAS library found \(install libdnnl2 or libopenblas0-pthread\); tried libnope-dnnl\.so: .*; libnope-blas\.so: /
        .test(e.message),
  );
});

let found = true;
try {
  loadNativeLibraries();
} catch {
  found = false;
  console.warn("native ffi test skipped: no oneDNN or CBLAS library installed");
}

Deno.test({
  name: "loadNativeLibraries() describes what it chose in one line",
  ignore: !found,
  fn() {
    const libs = loadNativeLibraries();
    assert.doesNotMatch(libs.description, /\n/);
    if (libs.dnnl) assert.match(libs.description, /^oneDNN 2\.\d+\.\d+ \(/);
    const blasOnly = loadNativeLibraries({ dnnl: false });
    assert.equal(blasOnly.dnnl, null);
  },
});

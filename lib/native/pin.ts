/**
 * Keeps a shared library loaded until the process ends (`dlopen` with
 * `RTLD_NODELETE`, called through Deno FFI).
 *
 * Why: Deno `dlclose`s a `Deno.dlopen` library when the isolate that opened
 * it ends: each test module of `deno test`, a worker, and the main isolate at
 * a normal exit. Unloading oneDNN unloads libgomp while its OpenMP worker
 * threads still spin in their barrier, and the next instruction they fetch
 * is unmapped: SIGSEGV after correct output. It happens when nothing else
 * made oneDNN undeletable by accident (a C++ library loaded before it, such
 * as Mesa's GL driver, owns the symbols that would). Pinned, the libraries
 * stay mapped as if linked into the process, and their threads live until
 * the process ends. OpenBLAS needs no pin: its destructor joins its threads
 * before it is unmapped.
 *
 * @module
 */

/** The C library that exports `dlopen`, and `RTLD_NOW | RTLD_NODELETE`, per OS. */
const DLOPEN: Partial<Record<typeof Deno.build.os, { libc: string; flags: number }>> = {
  linux: { libc: "libc.so.6", flags: 0x2 | 0x1000 },
  darwin: { libc: "/usr/lib/libSystem.B.dylib", flags: 0x2 | 0x80 },
};

/**
 * Pins the shared library `path` (a name the dynamic loader searches for, as
 * `Deno.dlopen` takes it) in this process: later `dlclose`s, Deno's
 * included, never unload it. Returns false, pinning nothing, where it does not
 * load or on an OS without `RTLD_NODELETE` (Windows); Deno.dlopen then
 * reports why. Needs `--allow-ffi`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pinLibrary } from "./pin.ts";
 * assert.equal(pinLibrary("libno-such-library.so"), false);
 * if (Deno.build.os === "linux") assert.equal(pinLibrary("libm.so.6"), true);
 * ```
 */
export function pinLibrary(path: string): boolean {
  const os = DLOPEN[Deno.build.os];
  if (os === undefined) return false;
  const libc = Deno.dlopen(os.libc, { dlopen: { parameters: ["buffer", "i32"], result: "pointer" } });
  try {
    // The handle is never closed: that reference alone would keep the library loaded.
    return libc.symbols.dlopen(new TextEncoder().encode(`${path}\0`), os.flags) !== null;
  } finally {
    libc.close(); // The C library itself is never unloaded.
  }
}

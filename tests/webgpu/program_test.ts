/**
 * The WGSL module builder of the plugin's kernels (`lib/webgpu/program.ts`):
 * bindings in order, the in-place form of an update and the checks on it,
 * kernels that update several tensors a dispatch. Pure string building: no
 * adapter needed (the kernels' values are tested in kernels_test.ts).
 */
import assert from "node:assert/strict";
import { perSlot, slotKernels, SLOTS_MAX, slotsFor, wgsl } from "../../lib/webgpu/program.ts";

const SGD_LIKE = {
  inputs: ["p", "g", "b", "lr"],
  outputs: ["pOut", "bOut"],
  uniforms: "size : u32",
  linear: true,
  body: "bOut[i] = b[i] + g[i]; pOut[i] = p[i] - lr[0] * bOut[i];",
};

Deno.test("wgsl(): inputs read, outputs read-write, uniforms last, in binding order", () => {
  const k = wgsl("k", {
    ...SGD_LIKE,
    inputs: ["p", "n : i32"],
    declarations: "var<workgroup> s : array<f32, 4>;",
  });
  const bindings = [...k.code.matchAll(/@binding\((\d+)\) var<([^>]+)> (\w+)/g)].map((
    m,
  ) => [m[1], m[2], m[3]]);
  assert.deepEqual(bindings, [
    ["0", "storage, read", "p"],
    ["1", "storage, read", "n"],
    ["2", "storage, read_write", "pOut"],
    ["3", "storage, read_write", "bOut"],
    ["4", "uniform", "u"],
  ]);
  assert.ok(k.code.indexOf("var<workgroup> s") < k.code.indexOf("fn main"), "declarations before main");
  assert.equal(k.inPlace, undefined);
});

Deno.test("wgsl(): the in-place form writes each aliased output over its input", () => {
  const k = wgsl("sgd", { ...SGD_LIKE, inPlace: { pOut: "p", bOut: "b" } });
  const form = k.inPlace!;
  assert.equal(form.kernel.name, "sgdInPlace");
  // Original bindings: p0 g1 b2 lr3 pOut4 bOut5 u6.
  assert.deepEqual(form.aliases, [[4, 0], [5, 2]]);
  assert.deepEqual(form.bindings, [0, 1, 2, 3, 6]);
  assert.match(form.kernel.code, /@binding\(0\) var<storage, read_write> p : array<f32>;/);
  assert.match(form.kernel.code, /@binding\(1\) var<storage, read> g : array<f32>;/);
  assert.match(form.kernel.code, /@binding\(2\) var<storage, read_write> b : array<f32>;/);
  assert.match(form.kernel.code, /@binding\(4\) var<uniform> u : U;/);
  assert.match(form.kernel.code, /b\[i\] = b\[i\] \+ g\[i\]; p\[i\] = p\[i\] - lr\[0\] \* b\[i\];/);
  assert.doesNotMatch(form.kernel.code, /Out/);
  // Only whole names are replaced: pOut1 is not pOut.
  const two = wgsl("two", {
    inputs: ["x1", "x10"],
    outputs: ["y1", "y10"],
    body: "y1[0] = x1[0]; y10[0] = x10[0];",
    inPlace: { y1: "x1" },
  });
  assert.match(two.inPlace!.kernel.code, /x1\[0\] = x1\[0\]; y10\[0\] = x10\[0\];/);
  assert.deepEqual(two.inPlace!.bindings, [0, 1, 3]);
});

Deno.test("wgsl(): an in-place form that cannot be is refused, naming the kernel and the pair", () => {
  const bad: [Record<string, string>, string][] = [
    [{ nope: "p" }, "nope cannot be written over p"],
    [{ pOut: "nope" }, "pOut cannot be written over nope"],
    [{ pOut: "p", bOut: "p" }, "bOut cannot be written over p"],
  ];
  for (const [inPlace, message] of bad) {
    assert.throws(
      () => wgsl("sgd", { ...SGD_LIKE, inPlace }),
      new RegExp(`kernel sgd: in place, ${message}`),
    );
  }
  assert.throws(
    () =>
      wgsl("ints", { inputs: ["n : i32"], outputs: ["y"], body: "y[0] = f32(n[0]);", inPlace: { y: "n" } }),
    /kernel ints: in place, y cannot be written over n/,
  );
});

Deno.test("perSlot() and slotsFor(): one case per tensor; as many tensors as the device binds", () => {
  const body = perSlot(3, (z) => `y${z}[0] = ${z}.0;`);
  assert.deepEqual([...body.matchAll(/case (\d)u/g)].map((m) => Number(m[1])), [0, 1, 2]);
  assert.match(body, /^switch gid\.z \{/);
  assert.match(body, /default: \{\}/);
  assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 8 }, 5, 1), 1);
  assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 4 }, 6), 1, "at least one");
  assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 32 }, 6), 5);
  assert.equal(slotsFor({ maxStorageBuffersPerShaderStage: 1 << 20 }, 5, 1), SLOTS_MAX);
});

Deno.test("slotKernels() builds each member of a family once, on first use", () => {
  const built: number[] = [];
  const family = slotKernels((k) => {
    built.push(k);
    return wgsl(`k${k}`, { inputs: [], outputs: ["y"], body: perSlot(k, (z) => `y[${z}] = 1.0;`) });
  });
  assert.deepEqual(built, [], "nothing built before use");
  const three = family(3);
  assert.equal(family(3), three);
  assert.equal(family(1).name, "k1");
  assert.deepEqual(built, [3, 1]);
});

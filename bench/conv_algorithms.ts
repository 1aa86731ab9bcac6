/**
 * Which convolution algorithms oneDNN offers on this CPU for ResNet20's
 * training convolutions, and what each costs: for every layer shape (batch
 * 128) and direction (forward, backward data, backward weights), every
 * implementation oneDNN lists for the direct algorithm in NHWC (what the
 * `native` backend runs) and in its own blocked layout (`nChw8c`, what
 * PyTorch reorders into), and whether Winograd is there at all (oneDNN 2.x
 * implements CPU Winograd for AVX-512 only: on the 2-core AVX2 box it is
 * not, so there is no accuracy to check).
 *
 *   deno run -A bench/conv_algorithms.ts [--reps 7] [--threads 1]
 *
 * Times are medians of `--reps` calls (after one warm-up), inputs rotating
 * among three sets so that they come from memory as in a step; the blocked
 * times exclude the reorders in and out. The last lines sum the fastest
 * implementation per direction over one step's layers (counts as in
 * ResNet20). On a shared machine compare rows of one run only; `--threads 1`
 * (`OMP_NUM_THREADS`) is steadier under load.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DNNL, type Dnnl } from "../lib/native/dnnl.ts";
import { median } from "./stats.ts";

const { values: flags } = parseArgs({
  options: { reps: { type: "string", default: "7" }, threads: { type: "string" } },
});
if (flags.threads) Deno.env.set("OMP_NUM_THREADS", flags.threads); // before oneDNN loads
const { loadNativeLibraries } = await import("../lib/native/ffi.ts");
const d: Dnnl = loadNativeLibraries().dnnl ?? (() => {
  throw new Error("oneDNN (libdnnl.so.2) is not installed");
})();
const REPS = Number(flags.reps), N = 128, SETS = 3;

/** [H, Cin, Cout, stride, convolutions of this shape in ResNet20], the stem excluded. */
const SHAPES: [number, number, number, number, number][] = [
  [32, 16, 16, 1, 6],
  [32, 16, 32, 2, 1],
  [16, 32, 32, 1, 5],
  [16, 32, 64, 2, 1],
  [8, 64, 64, 1, 5],
];
type Dir = "fwd" | "bwd_data" | "bwd_weights";
const ARGS: Record<Dir, number[]> = {
  fwd: [DNNL.argSrc, DNNL.argWeights, DNNL.argDst],
  bwd_data: [DNNL.argDiffDst, DNNL.argWeights, DNNL.argDiffSrc],
  bwd_weights: [DNNL.argSrc, DNNL.argDiffDst, DNNL.argDiffWeights],
};

/** The op descriptors of one shape, algorithm and activation layout tag. */
function descs(h: number, cin: number, cout: number, stride: number, alg: number, tag: number) {
  const s = d.symbols, oh = h / stride;
  const src = d.memoryDesc([N, cin, h, h], tag), dst = d.memoryDesc([N, cout, oh, oh], tag);
  const w = d.memoryDesc([cout, cin, 3, 3], DNNL.tagAny);
  const win = [d.dims([stride, stride]), d.dims([1, 1]), d.dims([1, 1])] as const;
  return {
    fwd: d.opDesc(
      "fwd",
      (b) => s.dnnl_convolution_forward_desc_init(b, DNNL.forwardTraining, alg, src, w, null, dst, ...win),
    ),
    bwd_data: d.opDesc(
      "bwd_data",
      (b) => s.dnnl_convolution_backward_data_desc_init(b, alg, src, w, dst, ...win),
    ),
    bwd_weights: d.opDesc(
      "bwd_weights",
      (b) => s.dnnl_convolution_backward_weights_desc_init(b, alg, src, w, null, dst, ...win),
    ),
  };
}

/** Median ms of `pd`'s primitive on made-up data. */
function time(pd: Deno.PointerObject, args: number[]): number {
  const prim = d.primitiveForArgs(pd, args);
  const sets = Array.from({ length: SETS }, (_, k) =>
    args.map((a) => {
      const v = new Float32Array(Math.max(1, d.argBytes(pd, a) / 4));
      for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.618 + k + a);
      return v;
    }));
  const times: number[] = [];
  for (let r = 0; r <= REPS; r++) {
    const t = performance.now();
    prim.run(sets[r % SETS]);
    if (r > 0) times.push(performance.now() - t);
  }
  return median(times);
}

const BLOCKED = blockedTag();
console.log(
  `# ${d.path} ${d.version}; median of ${REPS}; OMP_NUM_THREADS=${Deno.env.get("OMP_NUM_THREADS") ?? "all"}`,
);
console.log("shape,direction,algorithm,layout,implementation,ms");
const best: Record<string, number> = {};
for (const [h, cin, cout, stride, count] of SHAPES) {
  const shape = `${h}x${h}x${cin}->${cout} s${stride}`;
  const direct = {
    nhwc: descs(h, cin, cout, stride, DNNL.convolutionDirect, DNNL.tagNhwc),
    blocked: descs(h, cin, cout, stride, DNNL.convolutionDirect, BLOCKED),
  };
  for (const dir of ["fwd", "bwd_data", "bwd_weights"] as Dir[]) {
    for (const [layout, ds] of Object.entries(direct)) {
      const hint = dir === "fwd" ? null : d.primitiveDesc(ds.fwd);
      d.implementations(ds[dir], hint).forEach((pd, i) => {
        const impl = d.impl(pd);
        if (impl.startsWith("ref")) return; // reference loops: minutes a call
        const ms = time(pd, ARGS[dir]);
        // The first is what oneDNN picks, and what a step runs.
        if (i === 0) best[`${layout} ${dir}`] = (best[`${layout} ${dir}`] ?? 0) + ms * count;
        console.log(`${shape},${dir},direct,${layout},${impl},${ms.toFixed(2)}`);
      });
    }
    const wino = d.implementations(descs(h, cin, cout, stride, DNNL.convolutionWinograd, DNNL.tagAny)[dir]);
    if (wino.length === 0) console.log(`${shape},${dir},winograd,any,(not implemented on this CPU),`);
    for (const pd of wino) {
      console.log(`${shape},${dir},winograd,any,${d.impl(pd)},${time(pd, ARGS[dir]).toFixed(2)}`);
    }
  }
}
for (const [key, ms] of Object.entries(best)) {
  console.log(`# one step's ${key}, oneDNN's first choice, stem excluded: ${ms.toFixed(0)} ms`);
}

/** oneDNN's format tag of `nChw8c` (`aBcd8b`), found by its strides. */
function blockedTag(): number {
  for (let tag = 2; tag < 512; tag++) {
    let md: Uint8Array;
    try {
      md = d.memoryDesc([1, 16, 2, 2], tag);
    } catch {
      continue;
    }
    const v = new DataView(md.buffer);
    const at = (o: number) => Number(v.getBigInt64(o, true));
    if (v.getInt32(312, true) !== 2 || v.getInt32(416, true) !== 1) continue;
    if (at(424) === 8 && at(520) === 1 && [0, 1, 2, 3].map((i) => at(320 + 8 * i)).join() === "64,32,16,8") {
      return tag;
    }
  }
  throw new Error("oneDNN has no nChw8c format tag here");
}

import { Dnnl, DNNL } from "../lib/native/dnnl.ts";
import { bnForward, bnBackward } from "../lib/native/batch_norm_kernels.ts";
const d = Dnnl.open("libdnnl.so.2");
const N = 128 * 32 * 32 * 16, C = 16;
const x = new Float32Array(N).map(() => Math.random() - 0.5), dy = new Float32Array(N).map(() => Math.random() - 0.5);
function time(name: string, f: () => void, n = 10) { f(); const t = performance.now(); for (let i = 0; i < n; i++) f(); console.log(name.padEnd(30), ((performance.now() - t) / n).toFixed(2), "ms"); }
const pre = new Float32Array(N);
time("js relu fresh", () => { const o = new Float32Array(N); for (let i = 0; i < N; i++) o[i] = x[i] > 0 ? x[i] : 0; });
time("js relu prealloc", () => { const o = pre; for (let i = 0; i < N; i++) o[i] = x[i] > 0 ? x[i] : 0; });
time("js alloc only", () => { const o = new Float32Array(N); o[N-1] = 1; });
time("js add fresh", () => { const o = new Float32Array(N); for (let i = 0; i < N; i++) o[i] = x[i] + dy[i]; });
time("js bn fwd", () => bnForward(x, new Float32Array(C).fill(1), new Float32Array(C), 1e-5));
const st = bnForward(x, new Float32Array(C).fill(1), new Float32Array(C), 1e-5);
time("js bn bwd", () => bnBackward(dy, x, [new Float32Array(C).fill(1), st.mean, st.variance], 1e-5));
// oneDNN eltwise relu
const md = d.memoryDesc([128, C, 32, 32], DNNL.tagNhwc);
const eltSym = Deno.dlopen("libdnnl.so.2", { dnnl_eltwise_forward_desc_init: { parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"], result: "i32" } });
const ed = d.opDesc("elt", (b) => eltSym.symbols.dnnl_eltwise_forward_desc_init(b, DNNL.forwardInference, DNNL.eltwiseRelu, md, 0, 0));
const epd = d.primitiveDesc(ed);
const relu = d.primitive(epd, [[DNNL.argSrc, DNNL.querySrcMd], [DNNL.argDst, DNNL.queryDstMd]]);
console.log("relu impl", relu.impl);
time("dnnl relu fresh", () => { const o = new Float32Array(N); relu.run([x, o]); });
time("dnnl relu prealloc", () => { relu.run([x, pre]); });
if (Deno.args[0] !== "bn") Deno.exit(0);
for (const flags of [DNNL.useScale | DNNL.useShift, DNNL.useScale | DNNL.useShift | DNNL.fuseNormRelu]) {
  const bd = d.opDesc("bn", (b) => d.symbols.dnnl_batch_normalization_forward_desc_init(b, DNNL.forwardTraining, md, 1e-5, flags));
  const bpd = d.primitiveDesc(bd);
  const ws = d.queryMd(bpd, DNNL.queryWorkspaceMd);
  const wsBytes = d.mdBytes(ws);
  const args: [number, number][] = [[DNNL.argSrc, DNNL.querySrcMd], [DNNL.argDst, DNNL.queryDstMd], [DNNL.argMean, 0], [DNNL.argVariance, 0], [DNNL.argScale, 0], [DNNL.argShift, 0]];
  console.log("bn ws bytes", wsBytes);
  // build arg list with query for stats: use dnnl_query_src_md index 1? use explicit mds
  const cmd = d.memoryDesc([C], DNNL.tagA);
  const fwd = d.primitiveForArgs(bpd, [DNNL.argSrc, DNNL.argDst, DNNL.argMean, DNNL.argVariance, DNNL.argScale, DNNL.argShift, ...(wsBytes ? [DNNL.argWorkspace] : [])]);
  console.log("bn impl", fwd.impl);
  const mean = new Float32Array(C), v = new Float32Array(C), sc = new Float32Array(C).fill(1), sh = new Float32Array(C), w = new Uint8Array(wsBytes || 1);
  time(`dnnl bn fwd flags ${flags}`, () => { const o = new Float32Array(N); fwd.run([x, o, mean, v, sc, sh, ...(wsBytes ? [w] : [])]); });
  console.log("mean err", Math.abs(mean[3] - st.mean[3]), Math.abs(v[3] - st.variance[3]));
  const bbd = d.opDesc("bnb", (b) => d.symbols.dnnl_batch_normalization_backward_desc_init(b, DNNL.backward, md, md, 1e-5, flags));
  const bbpd = d.primitiveDesc(bbd, bpd);
  const bwd = d.primitiveForArgs(bbpd, [DNNL.argSrc, DNNL.argDiffDst, DNNL.argMean, DNNL.argVariance, DNNL.argScale, DNNL.argShift, DNNL.argDiffSrc, DNNL.argDiffScale, DNNL.argDiffShift, ...(wsBytes ? [DNNL.argWorkspace] : [])]);
  console.log("bwd arg bytes", [DNNL.argSrc, DNNL.argDiffDst, DNNL.argMean, DNNL.argVariance, DNNL.argScale, DNNL.argShift, DNNL.argDiffSrc, DNNL.argDiffScale, DNNL.argDiffShift].map((a) => d.argBytes(bbpd, a)));
  console.log("bn bwd impl", bwd.impl);
  const dsc = new Float32Array(C), dsh = new Float32Array(C);
  time(`dnnl bn bwd flags ${flags}`, () => { const o = new Float32Array(N); bwd.run([x, dy, mean, v, sc, sh, o, dsc, dsh, ...(wsBytes ? [w] : [])]); });
  if (!wsBytes) { const r = bnBackward(dy, x, [sc, st.mean, st.variance], 1e-5); console.log("dgamma err", Math.abs(dsc[2] - r.dgamma[2]) / Math.abs(r.dgamma[2]), Math.abs(dsh[2]-r.dbeta[2])); }
}

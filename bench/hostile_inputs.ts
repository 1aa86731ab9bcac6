// Touches the disk and runs the tasks: writes hostile inputs into a folder, runs each task on them.
/**
 * The adversarial pass's examples at full size, each run as a user would run
 * it (`deno task ...`) under `/usr/bin/time -v`, with what the issue asks of
 * every one: a non-zero exit with a one-line `error:` naming the file,
 * within 30 s, peak RSS under 1.5 GiB, and the files already in the folder
 * byte-identical afterwards. Prints one row per case and exits 1 if any
 * fails a bar. Not part of `deno task test` (about a minute, and the zip
 * bomb takes ~15 s to generate the first time).
 *
 *   deno run -P=bench bench/hostile_inputs.ts [DIR]     # DIR: where the inputs go (default /tmp/hostile-inputs)
 *
 * The inputs are made by `tests/hostile_inputs.ts`, where the unit tests
 * build the same shapes at small sizes.
 *
 * @module
 */
import { Deflate } from "fflate";
import { join, resolve } from "node:path";
import { decodeSafetensors, encodeSafetensors } from "../lib/formats/safetensors.ts";
import { metricsRow, mlpZeros, TINY_FIT_CONFIG, tinyCheckpoint } from "../tests/checkpoints.ts";
import {
  dagPickle,
  deepPickle,
  makePng,
  manyDictsPickle,
  mlpFile,
  nestedShapeSafetensors,
  pthWith,
  smallStatePickle,
  zlibZeros,
} from "../tests/hostile_inputs.ts";

const REPO = resolve(new URL("..", import.meta.url).pathname);
const dir = resolve(Deno.args[0] ?? "/tmp/hostile-inputs");
await Deno.mkdir(dir, { recursive: true });
const WEIGHTS = join(REPO, "tests/fixtures/weights/resnet20.safetensors");

/** A raw deflate stream of 1 GiB of zeros (~1 MB), cached in `dir`. */
async function gigabyteBomb(): Promise<Uint8Array> {
  const path = join(dir, ".bomb-1gib.deflate");
  try {
    return await Deno.readFile(path);
  } catch {
    const parts: Uint8Array[] = [];
    const deflate = new Deflate({ level: 9 }, (chunk) => parts.push(chunk));
    const zeros = new Uint8Array(2 ** 20);
    for (let i = 0; i < 1024; i++) deflate.push(zeros, i === 1023);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (out.set(p, at), at += p.length);
    await Deno.writeFile(path, out);
    return out;
  }
}

const [mlpZerosState, saved] = [mlpZeros([4]), TINY_FIT_CONFIG];
const variance = decodeSafetensors(await Deno.readFile(WEIGHTS)).state;
(variance.get("layer1.0.bn2.running_var")!.data as Float32Array)[0] = -1;

const bomb = await gigabyteBomb();

/** name -> bytes of every input file. */
const inputs: Record<string, Uint8Array> = {
  "dag-size.pth": pthWith(dagPickle("size")),
  "dag-persistent-id.pth": pthWith(dagPickle("persistent id")),
  "dag-key.pth": pthWith(dagPickle("key")),
  "dag-top-level-key.pth": pthWith(dagPickle("top-level key")),
  "deep-key.pth": pthWith(deepPickle("key", 900_000)),
  "deep-1e6.pth": pthWith(deepPickle("key", 1_000_000)),
  "many-dicts.pth": pthWith(manyDictsPickle(8_000_000)),
  "zip-bomb.pth": pthWith(
    smallStatePickle(),
    Array.from({ length: 12 }, (_, i) => ({ name: `archive/x${i}`, data: bomb, method: 8, size: 100 })),
  ),
  "png-16000.png": makePng(16000, 16000),
  "png-wide.png": makePng(2 ** 31 - 1, 1, { idat: zlibZeros(10) }),
  "mlp-huge-hidden.safetensors": mlpFile(mlpZerosState, { ...saved, hidden: new Array(16).fill(4096) }),
  "mlp-nan-range.safetensors": mlpFile(mlpZerosState, { ...saved, xMin: null, xMax: "abc" }),
  "nested-shape.safetensors": nestedShapeSafetensors(1_000_000),
  "negative-variance.safetensors": encodeSafetensors(variance),
  "epoch-002.safetensors": tinyCheckpoint(2, {
    metrics: [metricsRow(1), { ...metricsRow(2), train_loss: "<script>alert(1)</script>" }],
  }),
  "metrics.csv": new TextEncoder().encode("epoch,lr\n1,0.1\n"),
};
for (const [name, bytes] of Object.entries(inputs)) await Deno.writeFile(join(dir, name), bytes);
const fifo = join(dir, "fifo.safetensors");
await Deno.remove(fifo).catch(() => {});
await new Deno.Command("mkfifo", { args: [fifo] }).output();

const at = (name: string) => join(dir, name);
/** [case, task, args]. */
const cases: [string, string, string[]][] = [
  ...[
    "dag-size",
    "dag-persistent-id",
    "dag-key",
    "dag-top-level-key",
    "deep-key",
    "deep-1e6",
    "many-dicts",
    "zip-bomb",
  ]
    .map((
      n,
    ): [string, string, string[]] => [`${n}.pth`, "eval", [
      "--weights",
      at(`${n}.pth`),
      "--limit-test",
      "16",
    ]]),
  ["nested-shape.safetensors", "eval", ["--weights", at("nested-shape.safetensors")]],
  ["negative-variance.safetensors", "eval", ["--weights", at("negative-variance.safetensors")]],
  ["fifo.safetensors", "eval", ["--weights", fifo]],
  ["directory", "eval", ["--weights", dir]],
  ["/dev/zero", "eval", ["--weights", "/dev/zero"]],
  ["png-16000.png", "predict", ["--weights", WEIGHTS, at("png-16000.png")]],
  ["png-wide.png", "predict", ["--weights", WEIGHTS, at("png-wide.png")]],
  ["mlp-huge-hidden.safetensors", "exp1", ["--load", at("mlp-huge-hidden.safetensors"), "--plot"]],
  ["mlp-nan-range.safetensors", "exp1", ["--load", at("mlp-nan-range.safetensors"), "--plot"]],
  ["epoch-002.safetensors", "exp2", ["--out", dir, "--resume", at("epoch-002.safetensors")]],
];

async function digest(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) {
      out.set(e.name, e.isDirectory ? "dir" : "special");
      continue;
    }
    const hash = await crypto.subtle.digest("SHA-256", await Deno.readFile(join(dir, e.name)));
    out.set(e.name, [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join(""));
  }
  return out;
}

const rows: string[] = [];
let failed = 0;
console.log("case,task,exit,seconds,peak_rss_mib,files_unchanged,ok,error_line");
for (const [name, task, args] of cases) {
  const before = await digest();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-v", "timeout", "120", Deno.execPath(), "task", "-q", task, ...args],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const wall = stderr.match(/Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/)!;
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  const rss = Number(stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)![1]) / 1024;
  const errors = stderr.split("\n").filter((l) => l.startsWith("error:"));
  const after = await digest();
  const unchanged = before.size === after.size && [...before].every(([k, v]) => after.get(k) === v);
  const ok = out.code !== 0 && errors.length === 1 && errors[0].length < 400 && seconds < 30 && rss < 1536 &&
    unchanged;
  if (!ok) failed++;
  const line = errors[0] ?? stderr.split("\n").find((l) => l.trim() && !/^\t/.test(l)) ?? "";
  rows.push(name);
  console.log(
    [
      name,
      task,
      out.code,
      seconds.toFixed(2),
      rss.toFixed(0),
      unchanged,
      ok,
      JSON.stringify(line.slice(0, 300)),
    ]
      .join(","),
  );
}
await Deno.remove(fifo).catch(() => {});
console.error(`${rows.length - failed} of ${rows.length} cases meet every bar`);
if (failed) Deno.exit(1);

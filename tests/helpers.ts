/**
 * What the tests share (touches the disk: temp folders only): the repository
 * and data paths, running a lab as a subprocess with the permissions its task
 * grants, the libraries a script loads and unloads (LD_DEBUG), temporary
 * folders that are always removed, raw HTTP requests to a local server, and
 * the numeric references: seeded uniform data, running ops on one backend,
 * and PyTorch's SGD step in float32.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../lib/data/rng.ts";
import { parseCsv } from "../lib/report/csv.ts";

/** The repository root. */
export const REPO: string = resolve(new URL("..", import.meta.url).pathname);
/** The real CIFAR-10 files (read-only): `$CIFAR10_DIR` when set, else beside the checkout. */
export const CIFAR_DIR: string = Deno.env.get("CIFAR10_DIR") ||
  resolve(REPO, "../shared/data/cifar-10-batches-bin");
/** Whether the real CIFAR-10 test file is there. */
export const haveCifar: boolean = (() => {
  try {
    return Deno.statSync(join(CIFAR_DIR, "test_batch.bin")).isFile;
  } catch {
    return false;
  }
})();

/** A finished subprocess. */
export interface LabResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@linkcode runLab}. */
export interface RunLabOptions {
  /** Extra environment; CIFAR10_DIR points at the real files. */
  env?: Record<string, string>;
  /** Variables of this process's environment to leave out (e.g. `XDG_RUNTIME_DIR`). */
  unsetEnv?: string[];
  /**
   * The folder to run in, as the project root a task runs in: its `runs/`
   * and `data/` are the defaults. @default {REPO}
   */
  cwd?: string;
}

/** The `deno run` flags of task `name` in deno.json (its permission set), without the script. */
export function taskRunFlags(name: string): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(REPO, "deno.json")));
  const words = String(config.tasks[name].command).split(/\s+/);
  const run = words.indexOf("run");
  assert.ok(run > 0 && words[run - 1] === "deno", `task ${name} runs "deno run"`);
  return words.slice(run + 1, -1);
}

/**
 * Runs `labs/<name>.ts` with `args` from the repository root, with exactly
 * the permissions its task grants (the task's permission set), and never a
 * prompt.
 */
export async function runLab(name: string, args: string[], options: RunLabOptions = {}): Promise<LabResult> {
  const out = await labCommand(name, args, options).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** The command {@linkcode runLab} runs, for a test that talks to the lab while it runs (`.spawn()`). */
export function labCommand(name: string, args: string[], options: RunLabOptions = {}): Deno.Command {
  const script = `labs/${name}.ts`;
  const config = JSON.parse(Deno.readTextFileSync(join(REPO, "deno.json")));
  assert.equal(String(config.tasks[name].command).split(/\s+/).at(-1), script, `task ${name} runs ${script}`);
  const env: Record<string, string> = { CIFAR10_DIR: CIFAR_DIR, NO_COLOR: "1", ...options.env };
  const unset = options.unsetEnv ?? [];
  const base = unset.length
    ? Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => !unset.includes(k)))
    : {};
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--config",
      join(REPO, "deno.json"),
      ...taskRunFlags(name),
      join(REPO, script),
      ...args,
    ],
    cwd: options.cwd ?? REPO,
    env: unset.length ? { ...base, ...env } : env,
    clearEnv: unset.length > 0,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * `deno run -A` of `script` (a path from the repository root) with this
 * repository's config, stdout and stderr piped: for tests that drive a
 * fixture script as a process of its own.
 */
export function scriptCommand(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(REPO, "deno.json"), join(REPO, script), ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Reads `reader` until what it has read includes `text` (or the stream ends); returns all it read. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  text: string,
  read = "",
): Promise<string> {
  while (!read.includes(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    read += value;
  }
  return read;
}

/** A script's run under glibc's `LD_DEBUG=files`: the shared libraries it loaded and unloaded, in order. */
export interface LoaderTrace extends LabResult {
  loaded: string[];
  unloaded: string[];
}

/**
 * Runs `deno run -A <script> ...args` from the repository under
 * `LD_DEBUG=files` (Linux) and lists the libraries the dynamic loader
 * loaded ("generating link map") and unloaded ("destroying link map").
 */
export async function traceLibraries(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<LoaderTrace> {
  const out = await scriptCommand(script, args, { LD_DEBUG: "files", ...env }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const files = (what: string) =>
    [...stderr.matchAll(new RegExp(`file=(\\S+) \\[\\d+\\];\\s+${what} link map`, "g"))].map((m) => m[1]);
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout).trim(),
    stderr,
    loaded: files("generating"),
    unloaded: files("destroying"),
  };
}

/** Asserts a lab exited 0, showing its stderr otherwise. */
export function assertOk(r: LabResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed:\n${r.stderr}`);
}

/** Runs `fn` in a fresh temporary folder, removed afterwards whatever happens. */
export async function withTempDir(prefix: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Sends a GET (or `options.method`) for `target` to 127.0.0.1:`port` exactly
 * as written, with no URL normalisation (unlike `fetch`, which resolves `..`
 * before sending), and returns the status code and body.
 *
 * @example
 * ```ts ignore
 * const { status } = await rawGet(port, "/runs/0/../../etc/passwd");
 * ```
 */
export async function rawGet(
  port: number,
  target: string,
  options: { host?: string; method?: string } = {},
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const host = options.host ?? `127.0.0.1:${port}`;
  const request = `${
    options.method ?? "GET"
  } ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  await conn.write(new TextEncoder().encode(request));
  const text = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
  const [head, ...rest] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), body: rest.join("\r\n\r\n") };
}

/** The sorted names in `dir`. */
export async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** `metrics.csv` rows (text) without the timing columns, which differ from run to run. */
export function rowsWithoutTiming(csv: string): Record<string, string>[] {
  return parseCsv(csv).map(({ epoch_seconds: _s, images_per_second: _i, ...rest }) => rest);
}

/**
 * `n` floats uniform in [-1, 1), drawn from `new Rng(seed)`: the same values
 * for the same `n` and `seed`.
 *
 * @example
 * ```ts ignore
 * const x = tf.tensor4d(uniform(2 * 3 * 3 * 4, 1), [2, 3, 3, 4]);
 * ```
 */
export function uniform(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
}

/**
 * Runs `fn` in `tf.tidy` on `backend` (which must be registered) and returns
 * copies of its outputs' values, disposing the outputs.
 *
 * @example
 * ```ts ignore
 * const [want, got] = [await on("cpu", run), await on("native", run)];
 * ```
 */
export async function on(backend: string, fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(fn).map((t) => {
    const v = t.dataSync().slice() as Float32Array;
    t.dispose();
    return v;
  });
}

/**
 * Asserts that each output in `got` matches the one in `want` within
 * `rel` relative error (absolute below 1), naming `what`, the output and the
 * index of the first value that does not.
 *
 * @example
 * ```ts ignore
 * assertAllClose(await on("native", run), await on("cpu", run), 1e-6, "native [3, 5]");
 * ```
 */
export function assertAllClose(got: Float32Array[], want: Float32Array[], rel: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: number of outputs`);
  got.forEach((g, i) => {
    assert.equal(g.length, want[i].length, `${what}: length of output ${i}`);
    g.forEach((v, j) =>
      assert.ok(
        Math.abs(v - want[i][j]) <= rel * Math.max(1, Math.abs(want[i][j])),
        `${what}: output ${i}[${j}] ${v} vs ${want[i][j]}`,
      )
    );
  });
}

const f = Math.fround;

/**
 * One step of PyTorch's `torch.optim.SGD` (dampening 0, no Nesterov) in
 * float32, as tfjs's cpu backend rounds after every op:
 *   d = g + wd * p;  buf = m * buf + d;  p = p - lr * buf
 *
 * @example
 * ```ts ignore
 * const { p, buf } = torchStep([1, -2], [0, 0], [0.25, -0.5], 0.1, 0.9, 1e-4);
 * ```
 */
export function torchStep(
  p: number[],
  buf: number[],
  g: number[],
  lr: number,
  m: number,
  wd: number,
): { p: number[]; buf: number[] } {
  const d = p.map((pi, i) => f(f(g[i]) + f(f(wd) * pi)));
  const b = buf.map((bi, i) => f(f(f(m) * bi) + d[i]));
  return { p: p.map((pi, i) => f(pi - f(f(lr) * b[i]))), buf: b };
}

/**
 * A CIFAR-10 python batch as Python 2's cPickle (protocol 2) writes the
 * official files: {"batch_label", "labels", "data": uint8 [n, 3072], "filenames"}.
 */
export function pythonBatch(labels: number[], fill = (i: number) => i): Uint8Array {
  const enc = (s: string) => [...new TextEncoder().encode(s)];
  const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
  const str = (s: string) => [0x55, s.length, ...enc(s)];
  const n = labels.length;
  const data = new Uint8Array(n * 3072);
  for (let i = 0; i < n; i++) data.fill(fill(i), i * 3072, (i + 1) * 3072);
  const head = [
    0x80,
    2,
    0x7d,
    0x71,
    1,
    0x28,
    ...str("batch_label"),
    ...str("testing batch 1 of 1"),
    ...str("labels"),
    0x5d,
    0x71,
    2,
    0x28,
    ...labels.flatMap((l) => [0x4b, l]),
    0x65,
    ...str("data"),
    0x63,
    ...enc("numpy.core.multiarray\n_reconstruct\n"),
    0x71,
    3,
    0x63,
    ...enc("numpy\nndarray\n"),
    0x71,
    4,
    0x4b,
    0,
    0x85,
    ...str("b"),
    0x87,
    0x52,
    0x71,
    5,
    0x28,
    0x4b,
    1,
    0x4d,
    n & 255,
    n >> 8,
    0x4d,
    0,
    12,
    0x86,
    0x63,
    ...enc("numpy\ndtype\n"),
    0x71,
    6,
    ...str("u1"),
    0x4b,
    0,
    0x4b,
    1,
    0x87,
    0x52,
    0x71,
    7,
    0x28,
    0x4b,
    3,
    ...str("|"),
    0x4e,
    0x4e,
    0x4e,
    0x4a,
    ...u32(-1),
    0x4a,
    ...u32(-1),
    0x4b,
    0,
    0x74,
    0x62,
    0x89,
    0x54,
    ...u32(data.length),
  ];
  const tail = [
    0x74,
    0x62,
    ...str("filenames"),
    0x5d,
    0x28,
    ...labels.flatMap((_, i) => str(`img_${i}.png`)),
    0x65,
    0x75,
    0x2e,
  ];
  const out = new Uint8Array(head.length + data.length + tail.length);
  out.set(head);
  out.set(data, head.length);
  out.set(tail, head.length + data.length);
  return out;
}

/**
 * Command-line words from one line, for the many flags of a lab test:
 * `argv("--epochs 3 --hidden 4")` is `["--epochs", "3", "--hidden", "4"]`.
 */
export function argv(line: string): string[] {
  return line.split(" ");
}

/** Every file under `dir` with its bytes, by relative path: compare two to show nothing changed. */
export async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) {
      for (const [k, v] of await snapshot(join(dir, e.name))) files.set(`${e.name}/${k}`, v);
    } else files.set(e.name, await Deno.readFile(join(dir, e.name)));
  }
  return files;
}

/** Every entry under `dir` with its size and modification time: compare two to show nothing was written. */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const info = await Deno.lstat(join(dir, e.name));
    out.push(`${e.name} ${info.size} ${info.mtime?.getTime()}`);
    if (e.isDirectory) out.push(...(await tree(join(dir, e.name))).map((l) => `${e.name}/${l}`));
  }
  return out.sort();
}

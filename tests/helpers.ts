/**
 * What the integration tests share (touches the disk: temp folders only):
 * the repository and data paths, running a lab as a subprocess with the
 * permissions its task grants, and temporary folders that are always removed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, resolve } from "node:path";

/** The repository root. */
export const REPO: string = resolve(new URL("..", import.meta.url).pathname);
/** The real CIFAR-10 files beside the checkout (read-only). */
export const CIFAR_DIR: string = resolve(REPO, "../shared/data/cifar-10-batches-bin");
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
  /** Grant `--allow-net` (only exp2 may download). @default {false} */
  net?: boolean;
  /** Extra environment; CIFAR10_DIR points at the real files. */
  env?: Record<string, string>;
}

/**
 * Runs `labs/<name>.ts` with `args` from the repository root, with the
 * permissions the labs' tasks grant, and never a prompt.
 */
export async function runLab(name: string, args: string[], options: RunLabOptions = {}): Promise<LabResult> {
  const perms = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-sys"];
  if (options.net) perms.push("--allow-net");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...perms, `labs/${name}.ts`, ...args],
    cwd: REPO,
    env: { CIFAR10_DIR: CIFAR_DIR, NO_COLOR: "1", ...options.env },
    stdin: "null",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
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

/** The sorted names in `dir`. */
export async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

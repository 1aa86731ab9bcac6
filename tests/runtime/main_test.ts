import assert from "node:assert/strict";

/** Runs `main` (the body of an async function) under runMain in a fresh Deno. */
async function runMainWith(body: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir();
  try {
    const main = new URL("../../lib/runtime/main.ts", import.meta.url).href;
    const flags = new URL("../../lib/runtime/flags.ts", import.meta.url).href;
    const script = `${dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { runMain } from "${main}";\nimport { UsageError } from "${flags}";\nawait runMain(async () => { ${body} });\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", "--no-config", "--allow-env", script],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runMain() exits 0 on success, 2 on a UsageError and 1 on other errors, with one line", async () => {
  const ok = await runMainWith(`await Promise.resolve(); console.log("done");`);
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout, "done\n");
  const usage = await runMainWith(`throw new UsageError('--epochs must be an integer, got "x"');`);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr, `error: --epochs must be an integer, got "x"\n`);
  const other = await runMainWith(`throw new Error("Disk full");`);
  assert.equal(other.code, 1);
  assert.equal(other.stderr, "error: Disk full\n");
});

Deno.test("runMain() prints the stack trace when DEBUG is set", async () => {
  const r = await runMainWith(`throw new Error("Disk full");`, { DEBUG: "1" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: Error: Disk full\n\s+at /);
});

// Runs a small script as a subprocess and sends it Ctrl-C (touches the disk: a temp folder only).
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { InterruptedError } from "../../lib/runtime/interrupt.ts";
import { REPO, withTempDir } from "../helpers.ts";

Deno.test({
  name: "watchInterrupts() stops a busy thread at its next check on Ctrl-C; a second Ctrl-C ends it at once",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withTempDir("interrupt_test_", async (dir) => {
      const script = join(dir, "busy.ts");
      const lib = pathToFileURL(join(REPO, "lib/runtime")).href;
      await Deno.writeTextFile(
        script,
        `import { watchInterrupts } from "${lib}/interrupt.ts";
import { runMain } from "${lib}/main.ts";
await runMain(async () => {
  const stop = watchInterrupts({ notice: "busy: stopping at the next check" });
  try {
    console.log("ready");
    // Never yields to the event loop, as a TensorFlow.js CPU training loop does.
    for (let i = 0; ; i++) {
      const t = performance.now();
      while (performance.now() - t < 50);
      stop.throwIfRequested(() => \`busy: stopped after \${i + 1} steps; continue with: busy --again\`);
      if (Deno.args[0] === "never") while (true);
    }
  } finally {
    stop.dispose();
  }
});
`,
      );
      const run = (arg: string) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--config", join(REPO, "deno.json"), script, arg],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
      const started = async (child: Deno.ChildProcess) => {
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let out = "";
        while (!out.includes("ready")) out += (await reader.read()).value ?? "";
        reader.releaseLock();
        await new Promise((r) => setTimeout(r, 300));
      };

      const child = run("steps");
      await started(child);
      child.kill("SIGINT");
      const { code } = await child.status;
      const err = new TextDecoder().decode((await new Response(child.stderr).arrayBuffer()) as ArrayBuffer);
      assert.equal(code, 130, err);
      assert.match(err, /^busy: stopping at the next check$/m);
      assert.match(err, /^busy: stopped after \d+ steps; continue with: busy --again$/m);
      assert.doesNotMatch(err, /error:/);

      // A loop that never checks: the second Ctrl-C is the process's own again.
      const stuck = run("never");
      await started(stuck);
      stuck.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 300));
      stuck.kill("SIGINT");
      const s = await stuck.status;
      await stuck.stderr.cancel();
      assert.equal(s.signal ?? s.code, s.signal ? "SIGINT" : 130);
    });
  },
});

Deno.test("InterruptedError is its own class, so runMain can tell it from a failure", () => {
  const e = new InterruptedError("x");
  assert.ok(e instanceof Error);
  assert.equal(e.name, "InterruptedError");
});

Deno.test({
  name: "untilInterrupted() resolves at Ctrl-C (SIGINT) or SIGTERM, and stops listening",
  ignore: Deno.build.os === "windows",
  async fn() {
    await withTempDir("interrupt_test_", async (dir) => {
      const script = join(dir, "serve.ts");
      const lib = pathToFileURL(join(REPO, "lib/runtime")).href;
      // A second signal after the first resolved is the process's own again: it ends the script.
      await Deno.writeTextFile(
        script,
        `import { untilInterrupted } from "${lib}/interrupt.ts";
const stopped = untilInterrupted();
console.log("ready");
await stopped;
console.log("stopped");
await new Promise((r) => setTimeout(r, 60_000));
`,
      );
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--config", join(REPO, "deno.json"), script],
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let out = "";
        const until = async (text: string) => {
          while (!out.includes(text)) {
            const { value, done } = await reader.read();
            if (done) break;
            out += value;
          }
        };
        await until("ready");
        child.kill(signal);
        await until("stopped");
        child.kill(signal);
        const status = await child.status;
        await reader.cancel();
        assert.equal(status.signal, signal, `${signal}: ${out}`);
        assert.equal(out, "ready\nstopped\n");
      }
    });
  },
});

// Runs the fixture scripts of tests/fixtures/interrupt/ as subprocesses and sends them Ctrl-C or SIGTERM.
import assert from "node:assert/strict";
import { InterruptedError } from "../../lib/runtime/interrupt.ts";
import { readUntil, scriptCommand } from "../helpers.ts";

Deno.test({
  name: "watchInterrupts() stops a busy thread at its next check on Ctrl-C; a second Ctrl-C ends it at once",
  ignore: Deno.build.os === "windows",
  async fn() {
    const run = (arg: string) => scriptCommand("tests/fixtures/interrupt/busy.ts", [arg]).spawn();
    const started = async (child: Deno.ChildProcess) => {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      await readUntil(reader, "ready");
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
    // A second signal after the first resolved is the process's own again: it ends the script.
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const child = scriptCommand("tests/fixtures/interrupt/serve.ts").spawn();
      const stderr = new Response(child.stderr).text(); // drained while it runs
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = await readUntil(reader, "ready");
      child.kill(signal);
      out = await readUntil(reader, "stopped", out);
      child.kill(signal);
      const status = await child.status;
      await reader.cancel();
      await stderr;
      assert.equal(status.signal, signal, `${signal}: ${out}${await stderr}`);
      assert.equal(out, "ready\nstopped\n");
    }
  },
});

import assert from "node:assert/strict";
import { displayPath, readEnv, shellQuote, userPath } from "../../lib/runtime/env.ts";

Deno.test("readEnv() reads a granted variable and never prompts for others", async () => {
  Deno.env.set("TFJS_LAB_ENV_TEST", "42");
  assert.equal(readEnv("TFJS_LAB_ENV_TEST"), "42");
  Deno.env.delete("TFJS_LAB_ENV_TEST");
  assert.equal(readEnv("TFJS_LAB_ENV_TEST"), undefined);
  // Without --allow-env, the variable reads as unset instead of prompting or throwing.
  const code = `import { readEnv } from ${
    JSON.stringify(new URL("../../lib/runtime/env.ts", import.meta.url).href)
  };
console.log(String(readEnv("HOME")));`;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(script, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", "--allow-read", script],
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), "undefined\n");
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("userPath() resolves against INIT_CWD; displayPath() gives it back as the user would type it", () => {
  const root = Deno.cwd();
  assert.equal(userPath("runs/a", { initCwd: root }), "runs/a");
  assert.equal(userPath("runs/a", { initCwd: "" }), "runs/a");
  assert.equal(userPath("/abs/x", { initCwd: "/elsewhere" }), "/abs/x");
  assert.equal(userPath("myrun", { initCwd: `${root}/labs` }), "labs/myrun");
  assert.equal(userPath("..", { initCwd: `${root}/labs` }), ".");
  assert.equal(userPath("x", { initCwd: "/tmp/elsewhere" }), "/tmp/elsewhere/x");
  assert.equal(displayPath("labs/myrun", { initCwd: `${root}/labs` }), "myrun");
  assert.equal(displayPath("runs/a", { initCwd: `${root}/labs` }), "../runs/a");
  assert.equal(displayPath("/abs/x", { initCwd: "/elsewhere" }), "/abs/x");
  assert.equal(shellQuote("runs/exp2-20260101-000000"), "runs/exp2-20260101-000000");
  assert.equal(shellQuote("my run"), "'my run'");
});

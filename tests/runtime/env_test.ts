import assert from "node:assert/strict";
import { readEnv } from "../../lib/runtime/env.ts";

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

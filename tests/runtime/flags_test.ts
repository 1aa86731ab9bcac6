import assert from "node:assert/strict";
import { choiceFlag, numberFlag, parseFlags, UsageError } from "../../lib/runtime/flags.ts";

Deno.test("numberFlag() parses numbers within bounds", () => {
  assert.equal(numberFlag("epochs", "100", { integer: true, min: 1 }), 100);
  assert.equal(numberFlag("lr", "1e-3", { min: 0, exclusiveMin: true }), 0.001);
  assert.equal(numberFlag("x-min", "-5"), -5);
  assert.equal(numberFlag("x-min", " 2.5 "), 2.5);
  assert.equal(numberFlag("epochs", "1", { integer: true, min: 1, max: 1 }), 1);
});

Deno.test("numberFlag() rejects text that is not a number, quoting it", () => {
  for (const value of ["abc", "", "  ", "NaN", "Infinity", "1,000", "5x"]) {
    assert.throws(() => numberFlag("lr", value), {
      name: "UsageError",
      message: `--lr must be a number, got "${value}"`,
    });
  }
  for (const value of ["1.5", "1e-1"]) {
    assert.throws(() => numberFlag("epochs", value, { integer: true, min: 1 }), {
      name: "UsageError",
      message: `--epochs must be an integer, got "${value}"`,
    });
  }
});

Deno.test("numberFlag() rejects out-of-range values, quoting them", () => {
  assert.throws(() => numberFlag("epochs", "0", { integer: true, min: 1 }), {
    name: "UsageError",
    message: `--epochs must be an integer at least 1, got "0"`,
  });
  assert.throws(() => numberFlag("epochs", "11", { integer: true, min: 1, max: 10 }), {
    name: "UsageError",
    message: `--epochs must be an integer at least 1 and at most 10, got "11"`,
  });
  assert.throws(() => numberFlag("lr", "0", { min: 0, exclusiveMin: true, max: 1e3 }), {
    name: "UsageError",
    message: `--lr must be a number above 0 and at most 1000, got "0"`,
  });
});

Deno.test("numberFlag() states only the bounds that exist", () => {
  // No "at least -Infinity" when there is no lower bound.
  assert.throws(() => numberFlag("x-max", "5", { max: 1 }), {
    name: "UsageError",
    message: `--x-max must be a number at most 1, got "5"`,
  });
});

Deno.test("choiceFlag() accepts a listed choice and rejects others, quoting them", () => {
  assert.equal(choiceFlag("optimizer", "sgd", ["adam", "sgd"] as const), "sgd");
  for (const value of ["rmsprop", "", "Adam", "constructor", "__proto__"]) {
    assert.throws(() => choiceFlag("optimizer", value, ["adam", "sgd"] as const), {
      name: "UsageError",
      message: `--optimizer must be one of adam, sgd, got "${value}"`,
    });
  }
});

Deno.test("parseFlags() returns values and reports bad command lines as UsageError", () => {
  const options = { epochs: { type: "string" }, plot: { type: "boolean" } } as const;
  const { values } = parseFlags(["--epochs", "5", "--plot"], options);
  assert.equal(values.epochs, "5");
  assert.equal(values.plot, true);
  assert.equal(parseFlags(["--epochs=7"], options).values.epochs, "7");
  const cases: [string[], string][] = [
    [["--bogus"], `Unknown option '--bogus'`],
    [["--epochs"], `Option '--epochs <value>' argument missing`],
    [["extra"], `Unexpected argument 'extra'. This command does not take positional arguments`],
    [["--plot=yes"], `Option '--plot' does not take an argument`],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags(args, options), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${args}: ${e}`);
      assert.equal(e.message, message);
      return true;
    });
  }
  assert.deepEqual(parseFlags(["a", "b"], options, true).positionals, ["a", "b"]);
});

Deno.test("parseFlags() takes a value starting with a dash after a string flag", () => {
  // `--x-min -5` is how the lab's help reads; node's strict parseArgs calls it ambiguous.
  const options = { "x-min": { type: "string" }, fn: { type: "string" }, plot: { type: "boolean" } } as const;
  const { values } = parseFlags(["--x-min", "-5", "--fn", "-x^2", "--plot"], options);
  assert.equal(values["x-min"], "-5");
  assert.equal(values.fn, "-x^2");
  assert.equal(values.plot, true);
});

Deno.test("parseFlags() reports a flag followed by another flag in one line naming it", () => {
  const options = { epochs: { type: "string" }, plot: { type: "boolean" } } as const;
  assert.throws(() => parseFlags(["--epochs", "--plot"], options), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.ok(e.message.includes("--epochs"), e.message);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

/** Runs `main` (the body of an async function) under runMain in a fresh Deno. */
async function runMainWith(body: string, env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir();
  try {
    const cli = new URL("../../lib/runtime/flags.ts", import.meta.url).href;
    const script = `${dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { runMain, UsageError } from "${cli}";\nawait runMain(async () => { ${body} });\n`,
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

import assert from "node:assert/strict";
import { choiceFlag, defineFlags, flag, numberFlag, UsageError } from "../../lib/runtime/flags.ts";
import { quote } from "../../lib/runtime/quote.ts";

/** Asserts `fn` throws a UsageError whose one-line message is `message` (or matches it). */
function assertUsage(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
}

Deno.test("numberFlag() parses decimal numbers within bounds", () => {
  assert.equal(numberFlag("epochs", "100", { integer: true, min: 1 }), 100);
  assert.equal(numberFlag("lr", "1e-3", { min: 0, exclusiveMin: true }), 0.001);
  assert.equal(numberFlag("x-min", "-5"), -5);
  assert.equal(numberFlag("x-min", "+2.5"), 2.5);
  assert.equal(numberFlag("x-min", " 2.5 "), 2.5);
  assert.equal(numberFlag("lr", ".5"), 0.5);
  assert.equal(numberFlag("lr", "5."), 5);
  assert.equal(numberFlag("epochs", "1", { integer: true, min: 1, max: 1 }), 1);
});

Deno.test("numberFlag() rejects text that is not a plain decimal, quoting it", () => {
  const notDecimal = [
    "abc",
    "",
    "  ",
    "NaN",
    "Infinity",
    "-Infinity",
    "1,000",
    "5x",
    "0b10",
    "0x10",
    "0o7",
    "1_000",
    "1e",
    "--5",
    "1e400",
  ];
  for (const value of notDecimal) {
    assertUsage(() => numberFlag("lr", value), `--lr must be a number, got ${JSON.stringify(value)}`);
  }
  for (const value of ["1.5", "1e-1", "0b10"]) {
    assertUsage(
      () => numberFlag("epochs", value, { integer: true, min: 1 }),
      `--epochs must be an integer, got ${JSON.stringify(value)}`,
    );
  }
});

Deno.test("numberFlag() rejects out-of-range values, stating only the bounds that exist", () => {
  assertUsage(
    () => numberFlag("epochs", "0", { integer: true, min: 1 }),
    `--epochs must be an integer at least 1, got "0"`,
  );
  assertUsage(
    () => numberFlag("epochs", "11", { integer: true, min: 1, max: 10 }),
    `--epochs must be an integer at least 1 and at most 10, got "11"`,
  );
  assertUsage(
    () => numberFlag("lr", "0", { min: 0, exclusiveMin: true, max: 1e3 }),
    `--lr must be a number above 0 and at most 1000, got "0"`,
  );
  assertUsage(() => numberFlag("x-max", "5", { max: 1 }), `--x-max must be a number at most 1, got "5"`);
});

Deno.test("choiceFlag() accepts a listed choice and rejects others, quoting them", () => {
  assert.equal(choiceFlag("optimizer", "sgd", ["adam", "sgd"] as const), "sgd");
  for (const value of ["rmsprop", "", "Adam", "constructor", "__proto__"]) {
    assertUsage(
      () => choiceFlag("optimizer", value, ["adam", "sgd"] as const),
      `--optimizer must be one of adam, sgd, got ${JSON.stringify(value)}`,
    );
  }
});

Deno.test("quote() caps a hostile value at 80 characters", () => {
  assert.equal(quote("abc"), `"abc"`);
  const long = quote("x".repeat(10_000));
  assert.equal(long, `"${"x".repeat(77)}..."`);
  assertUsage(() => numberFlag("seed", "9".repeat(5000)), /^--seed must be a number, got "9{77}\.\.\."$/);
});

const table = {
  epochs: flag.int("passes over the data", { default: 100, min: 1, unit: "epochs" }),
  "x-min": flag.number("input range start", { default: -5 }),
  optimizer: flag.choice("optimizer", ["adam", "sgd"] as const, { default: "adam" }),
  hidden: flag.custom("widths", (t) => t.split(",").map(Number), { default: [64, 64], placeholder: "A,B" }),
  out: flag.string("run folder", { placeholder: "DIR", defaultText: "runs/<time>" }),
  weights: flag.string("model weights", { placeholder: "FILE" }),
  plot: flag.boolean("redraw only"),
};

Deno.test("defineFlags() fills defaults, types and camelCases the values", () => {
  const cli = defineFlags("deno task x [flags]", table);
  const { values, positionals } = cli.parse([]);
  assert.deepEqual(values, {
    epochs: 100,
    xMin: -5,
    optimizer: "adam",
    hidden: [64, 64],
    out: undefined,
    weights: undefined,
    plot: false,
    help: false,
  });
  assert.deepEqual(positionals, []);
  const given = cli.parse([
    "--epochs",
    "7",
    "--x-min=-2.5",
    "--optimizer",
    "sgd",
    "--hidden",
    "3,4",
    "--plot",
  ]);
  assert.deepEqual(
    [given.values.epochs, given.values.xMin, given.values.optimizer, given.values.hidden, given.values.plot],
    [7, -2.5, "sgd", [3, 4], true],
  );
  assert.equal(cli.parse(["-h"]).values.help, true);
  // The type of a defaulted flag excludes undefined; an optional one includes it.
  const epochs: number = values.epochs;
  const weights: string | undefined = values.weights;
  assert.equal(epochs + (weights ?? "").length, 100);
});

Deno.test("defineFlags() takes a value starting with a dash after a string flag", () => {
  const cli = defineFlags("deno task x", table);
  const { values } = cli.parse(["--x-min", "-5", "--out", "-dir", "--plot"]);
  assert.deepEqual([values.xMin, values.out, values.plot], [-5, "-dir", true]);
});

Deno.test("defineFlags() reports bad command lines in one line naming the flag", () => {
  const cli = defineFlags("deno task x", table);
  assertUsage(() => cli.parse(["--epoch", "3"]), "Unknown flag --epoch (did you mean --epochs?)");
  assertUsage(
    () => cli.parse(["--optimiser", "sgd"]),
    "Unknown flag --optimiser (did you mean --optimizer?)",
  );
  assertUsage(() => cli.parse(["--x_min", "1"]), "Unknown flag --x_min (did you mean --x-min?)");
  assertUsage(() => cli.parse(["--bogus"]), "Unknown flag --bogus: see --help");
  assertUsage(() => cli.parse(["--epochs"]), `Option '--epochs <value>' argument missing`);
  assertUsage(() => cli.parse(["--epochs", "--plot"]), /--epochs/);
  assertUsage(() => cli.parse(["extra"]), /Unexpected argument 'extra'/);
  assertUsage(() => cli.parse(["--plot=yes"]), `Option '--plot' does not take an argument`);
  assertUsage(() => cli.parse(["--epochs", ""]), `--epochs must be an integer, got ""`);
  assertUsage(() => cli.parse(["--out="]), `--out needs a value, got ""`);
  assertUsage(() => cli.parse(["--epochs", "0b10"]), `--epochs must be an integer, got "0b10"`);
  assertUsage(
    () => cli.parse(["--optimizer", "rmsprop"]),
    `--optimizer must be one of adam, sgd, got "rmsprop"`,
  );
});

Deno.test("defineFlags() refuses a missing required flag, except with --help", () => {
  const cli = defineFlags("deno task x", {
    weights: flag.string("model weights", { placeholder: "FILE", required: true }),
  });
  assertUsage(() => cli.parse([]), "--weights FILE is required: model weights");
  assert.equal(cli.parse(["--help"]).values.help, true);
  const weights: string = cli.parse(["--weights", "w.pth"]).values.weights;
  assert.equal(weights, "w.pth");
  assert.match(cli.help(), /--weights FILE\s+model weights \(required\)/);
});

Deno.test("defineFlags() takes positionals only when the task says what they are", () => {
  const images = defineFlags("deno task x IMAGE...", table, { positionals: "IMAGE..." });
  assert.deepEqual(images.parse(["a.png", "--plot", "b.png"]).positionals, ["a.png", "b.png"]);
  assertUsage(() => defineFlags("deno task x", table).parse(["a.png"]), /Unexpected argument 'a.png'/);
});

Deno.test("defineFlags() help lists every flag once with its default, unit and placeholder", () => {
  const cli = defineFlags("deno task x [flags]", table, {
    description: "Does x.",
    examples: ["deno task x --epochs 5"],
  });
  const help = cli.help();
  assert.match(help, /^Usage: deno task x \[flags\]\n\nDoes x\.\n\n/);
  for (const name of Object.keys(table)) {
    const rows = help.split("\n").filter((l) => l.startsWith(`  --${name} `) || l === `  --${name}`);
    assert.equal(rows.length, 1, `--${name} once`);
  }
  assert.match(help, /--epochs N\s+passes over the data \(default 100 epochs\)\n/);
  assert.match(help, /--x-min X\s+input range start \(default -5\)\n/);
  assert.match(help, /--optimizer NAME\s+adam \| sgd: optimizer \(default adam\)\n/);
  assert.match(help, /--hidden A,B\s+widths \(default 64,64\)\n/);
  assert.match(help, /--out DIR\s+run folder \(default runs\/<time>\)\n/);
  assert.match(help, /--weights FILE\s+model weights\n/);
  assert.match(help, /--plot\s+redraw only\n/);
  assert.match(help, /--help, -h\s+show this help\n/);
  assert.ok(help.endsWith("Examples:\n  deno task x --epochs 5\n"));
  for (const line of help.split("\n")) assert.ok(line.length <= 100, `help line too long: ${line}`);
});

Deno.test("parse() names the flags given; flag.path() resolves against INIT_CWD", () => {
  const cli = defineFlags("x", {
    out: flag.path("run folder", { placeholder: "DIR" }),
    seed: flag.int("seed", { default: 0 }),
    watch: flag.boolean("serve"),
  });
  const { values, given } = cli.parse(["--seed", "0", "--watch"]);
  assert.deepEqual([...given].sort(), ["seed", "watch"]);
  assert.equal(values.out, undefined);
  assert.deepEqual([...cli.parse([]).given], []);
  assertUsage(() => cli.parse(["--out", ""]), `--out needs a value, got ""`);
  const saved = Deno.env.get("INIT_CWD");
  try {
    Deno.env.set("INIT_CWD", "/tmp/somewhere-else");
    assert.equal(cli.parse(["--out", "mine"]).values.out, "/tmp/somewhere-else/mine");
    Deno.env.set("INIT_CWD", Deno.cwd());
    assert.equal(cli.parse(["--out", "mine"]).values.out, "mine");
  } finally {
    if (saved === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", saved);
  }
});

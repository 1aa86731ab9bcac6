import assert from "node:assert/strict";
import {
  checkFinite,
  type CheckFiniteOptions,
  compileExpr,
  type CompileExprOptions,
  DEFAULT_FN,
  ExprError,
} from "../../lib/data/expr.ts";

const f = (source: string, x = 0) => compileExpr(source).evaluate(x);

const FUNCTION_LIST = "sin, cos, tan, asin, acos, atan, sinh, cosh, tanh, exp, log, sqrt, abs";

function assertExprError(
  source: string,
  message: string,
  column?: number,
  options?: CompileExprOptions,
) {
  assert.throws(() => compileExpr(source, options), (error: unknown) => {
    assert.ok(error instanceof ExprError, `expected ExprError, got ${error}`);
    assert.ok(error instanceof SyntaxError);
    assert.equal(error.message, message);
    assert.equal(error.column, column);
    return true;
  });
}

/** {@linkcode assertExprError} for each `[source, message, column]`. */
function assertExprErrors(cases: [string, string, number?][], options?: CompileExprOptions) {
  for (const [source, message, column] of cases) assertExprError(source, message, column, options);
}

Deno.test("compileExpr() reads numbers in every form", () => {
  assert.equal(f("3"), 3);
  assert.equal(f("2.5"), 2.5);
  assert.equal(f(".5"), 0.5);
  assert.equal(f("5."), 5);
  assert.equal(f("1e-3"), 0.001);
  assert.equal(f("1E+2"), 100);
  assert.equal(f("  42\t"), 42);
  assert.equal(f("x", 7.25), 7.25);
});

Deno.test("compileExpr() applies precedence and associativity", () => {
  assert.equal(f("1 + 2 * 3"), 7);
  assert.equal(f("(1 + 2) * 3"), 9);
  assert.equal(f("10 - 4 - 3"), 3); // (10-4)-3, not 10-(4-3)
  assert.equal(f("100 / 10 / 5"), 2); // (100/10)/5
  assert.equal(f("2 * 3 / 4 * 2"), 3);
  assert.equal(f("1 - 2 + 3 - 4 + 5"), 3);
  assert.equal(f("2^3^2"), 512); // 2^(3^2), not (2^3)^2 = 64
  assert.equal(f("2^3*2"), 16);
  assert.equal(f("2*3^2"), 18);
  assert.equal(f("-x^2", 3), -9); // -(x^2)
  assert.equal(f("(-x)^2", 3), 9);
  assert.equal(f("2^-1"), 0.5);
  assert.equal(f("2^-1^2"), 0.5); // 2^(-(1^2))
  assert.equal(f("-2^-2^2"), -(2 ** -4)); // -(2^(-(2^2)))
  assert.equal(f("2^-x*3", 1), 1.5); // (2^(-x))*3
  assert.equal(f("--x", 4), 4);
  assert.equal(f("+x", 4), 4);
  assert.equal(f("-+-x", 4), 4);
  assert.equal(f("x--2", 1), 3);
  assert.equal(f("x*-2", 3), -6);
  assert.equal(f("1 - -x^2 / 2", 2), 3);
  assert.equal(f("x^2^-1", 16), 4); // x^(2^-1) = sqrt(x)
});

Deno.test("compileExpr() evaluates long flat chains in order", () => {
  const sum = Array(200).fill("x").join(" + ");
  assert.equal(f(sum, 0.5), 100);
  assert.equal(f("1 - x - x - x", 1), -2);
  assert.equal(f("64 / x / x * x / x", 2), 16);
  assert.equal(f("2^1^2^3^4"), 2);
  assert.equal(f("2^2^-1^3"), 2 ** (2 ** -1));
});

Deno.test("compileExpr() knows all functions and constants", () => {
  const x = 0.3;
  const cases: [string, number][] = [
    ["sin(x)", Math.sin(x)],
    ["cos(x)", Math.cos(x)],
    ["tan(x)", Math.tan(x)],
    ["asin(x)", Math.asin(x)],
    ["acos(x)", Math.acos(x)],
    ["atan(x)", Math.atan(x)],
    ["sinh(x)", Math.sinh(x)],
    ["cosh(x)", Math.cosh(x)],
    ["tanh(x)", Math.tanh(x)],
    ["exp(x)", Math.exp(x)],
    ["log(x)", Math.log(x)],
    ["sqrt(x)", Math.sqrt(x)],
    ["abs(-x)", x],
    ["pi", Math.PI],
    ["e", Math.E],
    ["2*pi*x", 2 * Math.PI * x],
    ["e^x", Math.E ** x],
    ["sin(3*x) + x^2/4", Math.sin(3 * x) + x ** 2 / 4],
    ["sqrt(abs(cos(pi * x)))", Math.sqrt(Math.abs(Math.cos(Math.PI * x)))],
  ];
  for (const [source, expected] of cases) {
    assert.equal(f(source, x), expected, source);
  }
  assert.equal(f("log(e)"), 1);
  assert.equal(f("cos(pi)"), -1);
});

Deno.test("compileExpr() matches the JS formula for DEFAULT_FN on a grid", () => {
  assert.equal(DEFAULT_FN, "x^2 + 2*sin(x) + cos(x - 1) - 5");
  const fn = compileExpr(DEFAULT_FN);
  assert.equal(fn.source, DEFAULT_FN);
  for (let i = 0; i <= 1000; i++) {
    const x = -5 + i / 100;
    assert.equal(
      fn.evaluate(x),
      x ** 2 + 2 * Math.sin(x) + Math.cos(x - 1) - 5,
      `x = ${x}`,
    );
  }
});

Deno.test("compileExpr() accepts 64 levels of nesting", () => {
  assert.equal(f("(".repeat(64) + "x" + ")".repeat(64), 2), 2);
  assert.equal(f("-".repeat(64) + "x", 2), 2);
  assert.equal(f("sin(".repeat(64) + "0" + ")".repeat(64)), 0);
});

Deno.test("compileExpr() rejects unknown names without touching prototypes", () => {
  const name = `expected x, pi, e or one of ${FUNCTION_LIST}`, fn = `expected one of ${FUNCTION_LIST}`;
  assertExprErrors([
    ["constructor", `Unknown name "constructor" at column 1: ${name}`, 1],
    ["__proto__", `Unknown name "__proto__" at column 1: ${name}`, 1],
    ["x + toString", `Unknown name "toString" at column 5: ${name}`, 5],
    ["X", `Unknown name "X" at column 1: ${name}`, 1],
    ["foo(x)", `Unknown function "foo" at column 1: ${fn}`, 1],
    ["constructor(x)", `Unknown function "constructor" at column 1: ${fn}`, 1],
    ["hasOwnProperty(x)", `Unknown function "hasOwnProperty" at column 1: ${fn}`, 1],
  ]);
});

Deno.test("compileExpr() rejects characters outside the language", () => {
  const expected = "expected a number, x, a name, an operator (+ - * / ^) or a parenthesis";
  assertExprErrors([
    ["x.constructor", `Unexpected character "." at column 2: ${expected}`, 2],
    ["x[0]", `Unexpected character "[" at column 2: ${expected}`, 2],
    ["x ** 2", `Unexpected "*" at column 4: expected a number, x, pi, e, a function call or "("`, 4],
    ["1.2.3", `Unexpected character "." at column 4: a number has at most one decimal point`, 4],
    ["x^2;", `Unexpected character ";" at column 4: ${expected}`, 4],
    ["x × 2", `Unexpected character "×" at column 3: ${expected}`, 3],
    ["`x`", `Unexpected character "\`" at column 1: ${expected}`, 1],
    ["1e999", `Number "1e999" at column 1 is too large: expected a finite number`, 1],
  ]);
});

Deno.test("compileExpr() rejects empty and overlong input", () => {
  const empty = `Expression is empty: expected a function of x such as "x^2 + 1"`;
  assertExprError("", empty);
  assertExprError("  \t ", empty);
  assertExprError(
    "x+".repeat(500) + "x",
    "Expression is 1001 characters long: expected at most 1000",
  );
  assert.equal(f("x+".repeat(499) + "x", 1), 500);
});

Deno.test("compileExpr() rejects implicit multiplication with a hint", () => {
  const hint = "implicit multiplication is not allowed, write";
  assertExprError("2x", `Unexpected "x" at column 2: ${hint} 2*x`, 2);
  assertExprError("2 sin(x)", `Unexpected "sin" at column 3: ${hint} 2*sin`, 3);
  assertExprError("(x+1)(x-1)", `Unexpected "(" at column 6: ${hint} )*(`, 6);
  assertExprError("2e", `Unexpected "e" at column 2: ${hint} 2*e`, 2);
  assertExprError("pi(x)", `Unexpected "(" at column 3: ${hint} pi*(`, 3);
  assertExprError("(2x)", `Unexpected "x" at column 3: ${hint} 2*x`, 3);
  assertExprError("sin(2x)", `Unexpected "x" at column 6: ${hint} 2*x`, 6);
});

Deno.test("compileExpr() rejects malformed calls", () => {
  assertExprErrors([
    ["sin x", `Unexpected "x" at column 5: expected "(" after function "sin", as in sin(x)`, 5],
    ["sin", `Unexpected end of input at column 4: expected "(" after function "sin", as in sin(x)`, 4],
    ["sin()", `Unexpected ")" at column 5: expected an argument for "sin", as in sin(x)`, 5],
    ["sin(x, 2)", `Unexpected "," at column 6: "sin" takes exactly one argument`, 6],
    ["sin(x", `Unexpected end of input at column 6: expected ")" to close "(" at column 4`, 6],
  ]);
});

Deno.test("compileExpr() rejects unbalanced parentheses and trailing tokens", () => {
  const operand = `expected a number, x, pi, e, a function call or "("`;
  assertExprErrors([
    ["(x", `Unexpected end of input at column 3: expected ")" to close "(" at column 1`, 3],
    ["((x)", `Unexpected end of input at column 5: expected ")" to close "(" at column 1`, 5],
    ["x)", `Unexpected ")" at column 2: no matching "("`, 2],
    ["(x))", `Unexpected ")" at column 4: no matching "("`, 4],
    [")", `Unexpected ")" at column 1: ${operand}`, 1],
    ["()", `Unexpected ")" at column 2: ${operand}`, 2],
    ["x +", `Unexpected end of input at column 4: ${operand}`, 4],
    ["x ^", `Unexpected end of input at column 4: ${operand}`, 4],
    ["*x", `Unexpected "*" at column 1: ${operand}`, 1],
    ["x, 2", `Unexpected "," at column 2: expected an operator (+ - * / ^) or the end`, 2],
  ]);
});

Deno.test("compileExpr() rejects nesting deeper than 64 levels", () => {
  const levels = "expected at most 64 nested parentheses, signs and calls";
  assertExprErrors([
    [
      "(".repeat(65) + "x" + ")".repeat(65),
      `Expression nests deeper than 64 levels at column 65 ("("): ${levels}`,
      65,
    ],
    ["-".repeat(65) + "x", `Expression nests deeper than 64 levels at column 65 ("-"): ${levels}`, 65],
    [
      "sin(".repeat(65) + "x" + ")".repeat(65),
      `Expression nests deeper than 64 levels at column 257 ("sin"): ${levels}`,
      257,
    ],
    // Signs inside an exponent nest the rest of the chain.
    ["2" + "^-2".repeat(65), `Expression nests deeper than 64 levels at column 195 ("-"): ${levels}`, 195],
  ]);
});

Deno.test("compileExpr() rejects 100,000-deep nesting without a stack overflow", () => {
  const n = 100_000;
  const parens = "(".repeat(n) + "x" + ")".repeat(n);
  const signs = "-(".repeat(n) + "x" + ")".repeat(n);
  // By default the length limit answers first.
  assertExprErrors([
    [parens, `Expression is ${2 * n + 1} characters long: expected at most 1000`],
    [signs, `Expression is ${3 * n + 1} characters long: expected at most 1000`],
  ]);
  // Without it, the depth limit stops the parser after 64 levels.
  const levels = "expected at most 64 nested parentheses, signs and calls";
  const unlimited = { maxLength: Infinity };
  assertExprErrors([
    [parens, `Expression nests deeper than 64 levels at column 65 ("("): ${levels}`, 65],
    [signs, `Expression nests deeper than 64 levels at column 65 ("-"): ${levels}`, 65],
  ], unlimited);
  // A flat chain of 100,000 terms is not nesting and compiles to a loop.
  assert.equal(compileExpr("x+".repeat(n) + "x", unlimited).evaluate(1), n + 1);
  assert.equal(compileExpr("1^".repeat(n) + "x", unlimited).evaluate(2), 1);
});

Deno.test("compileExpr() honours maxDepth", () => {
  assert.equal(compileExpr("((x))", { maxDepth: 2 }).evaluate(1), 1);
  assert.throws(() => compileExpr("(((x)))", { maxDepth: 2 }), ExprError);
});

Deno.test("checkFinite() passes finite functions and names the first bad x", () => {
  checkFinite(compileExpr(DEFAULT_FN), { xMin: -5, xMax: 5 });
  checkFinite(compileExpr("1/x"), { xMin: 0.5, xMax: 5, points: 3 });
  const onFive = { xMin: -5, xMax: 5 }, five = "choose a function defined on [-5, 5]";
  const cases: [string, CheckFiniteOptions, string][] = [
    ["1/x", onFive, `f(x) = 1/x is not finite at x = 0 (value Infinity): ${five}`],
    ["1/0", onFive, `f(x) = 1/0 is not finite at x = -5 (value Infinity): ${five}`],
    ["log(x - 1)", onFive, `f(x) = log(x - 1) is not finite at x = -5 (value NaN): ${five}`],
    ["-1/(x - 2.5)^2", onFive, `f(x) = -1/(x - 2.5)^2 is not finite at x = 2.5 (value -Infinity): ${five}`],
    [
      "sqrt(x)",
      { xMin: -1, xMax: 1, points: 5 },
      "f(x) = sqrt(x) is not finite at x = -1 (value NaN): choose a function defined on [-1, 1]",
    ],
  ];
  for (const [source, options, message] of cases) {
    assert.throws(() => checkFinite(compileExpr(source), options), new RangeError(message));
  }
});

Deno.test("checkFinite() rejects bad options", () => {
  const fn = compileExpr("x");
  const cases: [CheckFiniteOptions, string][] = [
    [{ xMin: 5, xMax: -5 }, "Interval [5, -5] is invalid: expected finite xMin < xMax"],
    [{ xMin: 0, xMax: NaN }, "Interval [0, NaN] is invalid: expected finite xMin < xMax"],
    [{ xMin: 0, xMax: 1, points: 1 }, "Grid points must be an integer >= 2, got 1"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => checkFinite(fn, options), new RangeError(message));
  }
});

/**
 * A small, safe expression language for a target function f(x) given on the
 * command line (Lab 1's `--fn "sin(3*x) + x^2/4"`).
 *
 * The source is tokenized and parsed by hand into a small AST, which is then
 * compiled into a tree of closures. Nothing is ever handed to `eval` or
 * `Function`, and names are looked up in `Map`s, so `constructor` or
 * `__proto__` resolve to nothing and are reported as unknown names.
 *
 * Grammar, loosest binding first:
 *
 * ```text
 * sum     = product (("+" | "-") product)*
 * product = power (("*" | "/") power)*
 * power   = ("+" | "-")* primary ("^" power)?    -x^2 = -(x^2), 2^-1 = 0.5
 * primary = number | "x" | "pi" | "e" | name "(" sum ")" | "(" sum ")"
 * ```
 *
 * Bounds: at most 1000 characters and 64 levels of nesting (parentheses,
 * signs and calls). Parsing recurses only when it goes one level deeper and
 * checks the limit first, and chains (`x+x+...`, `x^x^...`) are kept as flat
 * lists, so no input, however long or deep, can overflow the stack.
 *
 * @module
 */

/** The default target function of Lab 1: f(x) = x^2 + 2 sin(x) + cos(x - 1) - 5. */
export const DEFAULT_FN = "x^2 + 2*sin(x) + cos(x - 1) - 5";

/**
 * A syntax error in an expression. The message names the 1-based column and
 * the offending token; {@linkcode ExprError.column} holds the column too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileExpr, ExprError } from "./expr.ts";
 * assert.throws(() => compileExpr("2x"), (error) => error instanceof ExprError && error.column === 2);
 * ```
 */
export class ExprError extends SyntaxError {
  /** 1-based column of the offending token, or undefined for the whole input. */
  readonly column: number | undefined;

  /** Creates an error; `column` is 1-based. */
  constructor(message: string, column?: number) {
    super(message);
    this.name = "ExprError";
    this.column = column;
  }
}

/** A compiled expression: its source and a fast evaluator. */
export interface CompiledExpr {
  /** The source text the expression was compiled from. */
  readonly source: string;
  /** Evaluates f(x). */
  evaluate(x: number): number;
}

/** Options for {@linkcode compileExpr}. */
export interface CompileExprOptions {
  /**
   * Longest accepted source, in characters.
   *
   * @default {1000}
   */
  maxLength?: number;
  /**
   * Deepest accepted nesting of parentheses, unary signs and calls.
   *
   * @default {64}
   */
  maxDepth?: number;
}

/** Options for {@linkcode checkFinite}. */
export interface CheckFiniteOptions {
  /** Left end of the interval, included. */
  xMin: number;
  /** Right end of the interval, included. */
  xMax: number;
  /**
   * Number of evenly spaced grid points, both ends included.
   *
   * @default {1001}
   */
  points?: number;
}

// Maps, not object literals: a Map has no prototype chain to leak through, so
// "constructor" or "__proto__" cannot resolve to anything.
const FUNCTIONS: ReadonlyMap<string, (v: number) => number> = new Map([
  ["sin", Math.sin],
  ["cos", Math.cos],
  ["tan", Math.tan],
  ["asin", Math.asin],
  ["acos", Math.acos],
  ["atan", Math.atan],
  ["sinh", Math.sinh],
  ["cosh", Math.cosh],
  ["tanh", Math.tanh],
  ["exp", Math.exp],
  ["log", Math.log],
  ["sqrt", Math.sqrt],
  ["abs", Math.abs],
]);

const CONSTANTS: ReadonlyMap<string, number> = new Map([
  ["pi", Math.PI],
  ["e", Math.E],
]);

const FUNCTION_LIST = [...FUNCTIONS.keys()].join(", ");

type TokenKind = "number" | "name" | "op" | "(" | ")" | "," | "end";

interface Token {
  kind: TokenKind;
  text: string;
  /** 1-based. */
  column: number;
}

type Node =
  | { kind: "number"; value: number }
  | { kind: "x" }
  | { kind: "call"; fn: (v: number) => number; arg: Node }
  // first op is always "+" (sum) or "*" (product); the list is left-folded.
  | { kind: "sum" | "product"; ops: string[]; args: Node[] }
  // bases[0]^(bases[1]^(...)), each base negated (after the power to its
  // right is applied) where negate[i] is set; right-folded.
  | { kind: "power"; bases: Node[]; negate: boolean[] };

const isDigit = (c: string) => c >= "0" && c <= "9";
const isNameStart = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
const isNameChar = (c: string) => isNameStart(c) || isDigit(c);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const start = i;
    const column = i + 1;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    if (isDigit(c) || (c === "." && isDigit(source[i + 1] ?? ""))) {
      while (isDigit(source[i] ?? "")) i++;
      if (source[i] === ".") {
        i++;
        while (isDigit(source[i] ?? "")) i++;
      }
      // An exponent only when digits follow, so "2e" stays 2 then e (and is
      // reported as implicit multiplication).
      if (source[i] === "e" || source[i] === "E") {
        let j = i + 1;
        if (source[j] === "+" || source[j] === "-") j++;
        if (isDigit(source[j] ?? "")) {
          i = j;
          while (isDigit(source[i] ?? "")) i++;
        }
      }
      if (source[i] === ".") {
        throw new ExprError(
          `Unexpected character "." at column ${i + 1}: ` +
            `a number has at most one decimal point`,
          i + 1,
        );
      }
      const text = source.slice(start, i);
      if (!Number.isFinite(Number(text))) {
        throw new ExprError(
          `Number "${text}" at column ${column} is too large: ` +
            `expected a finite number`,
          column,
        );
      }
      tokens.push({ kind: "number", text, column });
    } else if (isNameStart(c)) {
      while (isNameChar(source[i] ?? "")) i++;
      tokens.push({
        kind: "name",
        text: source.slice(start, i),
        column,
      });
    } else if (c === "+" || c === "-" || c === "*" || c === "/" || c === "^") {
      i++;
      tokens.push({ kind: "op", text: c, column });
    } else if (c === "(" || c === ")" || c === ",") {
      i++;
      tokens.push({ kind: c, text: c, column });
    } else {
      const char = String.fromCodePoint(source.codePointAt(i)!);
      throw new ExprError(
        `Unexpected character ${JSON.stringify(char)} at column ${column}: ` +
          `expected a number, x, a name, an operator (+ - * / ^) or a parenthesis`,
        column,
      );
    }
  }
  tokens.push({ kind: "end", text: "", column: source.length + 1 });
  return tokens;
}

const describe = (t: Token) => t.kind === "end" ? "end of input" : JSON.stringify(t.text);

const OPERAND = `expected a number, x, pi, e, a function call or "("`;

class Parser {
  #tokens: Token[];
  #pos = 0;
  #maxDepth: number;

  constructor(tokens: Token[], maxDepth: number) {
    this.#tokens = tokens;
    this.#maxDepth = maxDepth;
  }

  get #tok(): Token {
    return this.#tokens[this.#pos];
  }

  #isOp(...ops: string[]): boolean {
    return this.#tok.kind === "op" && ops.includes(this.#tok.text);
  }

  #enter(depth: number, at: Token): number {
    const max = this.#maxDepth;
    if (depth > max) {
      throw new ExprError(
        `Expression nests deeper than ${max} levels at column ${at.column} ` +
          `(${describe(at)}): ` +
          `expected at most ${max} nested parentheses, signs and calls`,
        at.column,
      );
    }
    return depth;
  }

  /** The error for a token found where an operator or the end was expected. */
  #unexpectedAfterOperand(): ExprError {
    const tok = this.#tok;
    const prev = this.#tokens[this.#pos - 1];
    const at = `Unexpected ${describe(tok)} at column ${tok.column}`;
    if (tok.kind === "number" || tok.kind === "name" || tok.kind === "(") {
      return new ExprError(
        `${at}: implicit multiplication is not allowed, write ${prev.text}*${tok.text}`,
        tok.column,
      );
    }
    if (tok.kind === ")") {
      return new ExprError(`${at}: no matching "("`, tok.column);
    }
    return new ExprError(
      `${at}: expected an operator (+ - * / ^) or the end`,
      tok.column,
    );
  }

  parse(): Node {
    const node = this.#sum(0);
    if (this.#tok.kind !== "end") throw this.#unexpectedAfterOperand();
    return node;
  }

  #sum(depth: number): Node {
    const ops = ["+"];
    const args = [this.#product(depth)];
    while (this.#isOp("+", "-")) {
      ops.push(this.#tokens[this.#pos++].text);
      args.push(this.#product(depth));
    }
    return args.length === 1 ? args[0] : { kind: "sum", ops, args };
  }

  #product(depth: number): Node {
    const ops = ["*"];
    const args = [this.#power(depth)];
    while (this.#isOp("*", "/")) {
      ops.push(this.#tokens[this.#pos++].text);
      args.push(this.#power(depth));
    }
    return args.length === 1 ? args[0] : { kind: "product", ops, args };
  }

  /** Signs and `^` as one flat chain: `-a^-b^c` is -(a^(-(b^c))). */
  #power(depth: number): Node {
    const bases: Node[] = [];
    const negate: boolean[] = [];
    for (;;) {
      let neg = false;
      while (this.#isOp("+", "-")) {
        // Each sign nests the rest of the chain one level deeper.
        depth = this.#enter(depth + 1, this.#tok);
        if (this.#tokens[this.#pos++].text === "-") neg = !neg;
      }
      bases.push(this.#primary(depth));
      negate.push(neg);
      if (!this.#isOp("^")) break;
      this.#pos++;
    }
    if (bases.length === 1 && !negate[0]) return bases[0];
    return { kind: "power", bases, negate };
  }

  #primary(depth: number): Node {
    const tok = this.#tokens[this.#pos++];
    if (tok.kind === "number") {
      return { kind: "number", value: Number(tok.text) };
    }
    if (tok.kind === "(") {
      const inner = this.#sum(this.#enter(depth + 1, tok));
      this.#close(tok, "");
      return inner;
    }
    if (tok.kind !== "name") {
      this.#pos--;
      throw new ExprError(
        `Unexpected ${describe(tok)} at column ${tok.column}: ${OPERAND}`,
        tok.column,
      );
    }
    if (tok.text === "x") return { kind: "x" };
    const constant = CONSTANTS.get(tok.text);
    if (constant !== undefined) return { kind: "number", value: constant };
    const fn = FUNCTIONS.get(tok.text);
    const name = JSON.stringify(tok.text);
    if (fn === undefined) {
      if (this.#tok.kind === "(") {
        throw new ExprError(
          `Unknown function ${name} at column ${tok.column}: ` +
            `expected one of ${FUNCTION_LIST}`,
          tok.column,
        );
      }
      throw new ExprError(
        `Unknown name ${name} at column ${tok.column}: ` +
          `expected x, pi, e or one of ${FUNCTION_LIST}`,
        tok.column,
      );
    }
    const open = this.#tok;
    if (open.kind !== "(") {
      throw new ExprError(
        `Unexpected ${describe(open)} at column ${open.column}: ` +
          `expected "(" after function ${name}, as in ${tok.text}(x)`,
        open.column,
      );
    }
    this.#pos++;
    const inner = this.#enter(depth + 1, tok);
    if (this.#tok.kind === ")") {
      throw new ExprError(
        `Unexpected ")" at column ${this.#tok.column}: ` +
          `expected an argument for ${name}, as in ${tok.text}(x)`,
        this.#tok.column,
      );
    }
    const arg = this.#sum(inner);
    this.#close(open, tok.text);
    return { kind: "call", fn, arg };
  }

  /** Consumes the ")" matching `open`; `fn` names the function being called, if any. */
  #close(open: Token, fn: string): void {
    const tok = this.#tok;
    if (tok.kind === ")") {
      this.#pos++;
      return;
    }
    if (tok.kind === "," && fn !== "") {
      throw new ExprError(
        `Unexpected "," at column ${tok.column}: "${fn}" takes exactly one argument`,
        tok.column,
      );
    }
    if (tok.kind === "end") {
      throw new ExprError(
        `Unexpected end of input at column ${tok.column}: expected ")" to close "(" at column ${open.column}`,
        tok.column,
      );
    }
    throw this.#unexpectedAfterOperand();
  }
}

type Fn = (x: number) => number;

// Recursion here follows the AST, whose depth is bounded by the nesting limit
// because chains are flat lists.
function compile(node: Node): Fn {
  switch (node.kind) {
    case "number": {
      const v = node.value;
      return () => v;
    }
    case "x":
      return (x) => x;
    case "call": {
      const fn = node.fn;
      const arg = compile(node.arg);
      return (x) => fn(arg(x));
    }
    case "sum":
    case "product": {
      const args = node.args.map(compile);
      const ops = node.ops;
      if (args.length === 2) {
        const [a, b] = args;
        switch (ops[1]) {
          case "+":
            return (x) => a(x) + b(x);
          case "-":
            return (x) => a(x) - b(x);
          case "*":
            return (x) => a(x) * b(x);
          default:
            return (x) => a(x) / b(x);
        }
      }
      const signs = ops.map((op) => op === "-" || op === "/");
      if (node.kind === "sum") {
        return (x) => {
          let acc = args[0](x);
          for (let i = 1; i < args.length; i++) {
            acc = signs[i] ? acc - args[i](x) : acc + args[i](x);
          }
          return acc;
        };
      }
      return (x) => {
        let acc = args[0](x);
        for (let i = 1; i < args.length; i++) {
          acc = signs[i] ? acc / args[i](x) : acc * args[i](x);
        }
        return acc;
      };
    }
    case "power": {
      const bases = node.bases.map(compile);
      const negate = node.negate;
      if (bases.length === 1) {
        const a = bases[0];
        return (x) => -a(x);
      }
      if (bases.length === 2 && !negate[0] && !negate[1]) {
        const [a, b] = bases;
        return (x) => a(x) ** b(x);
      }
      const n = bases.length;
      return (x) => {
        let acc = bases[n - 1](x);
        if (negate[n - 1]) acc = -acc;
        for (let i = n - 2; i >= 0; i--) {
          acc = bases[i](x) ** acc;
          if (negate[i]) acc = -acc;
        }
        return acc;
      };
    }
  }
}

/**
 * Compiles an expression in x into a fast evaluator. Throws
 * {@linkcode ExprError} naming the column and token of the first problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileExpr } from "./expr.ts";
 * const f = compileExpr("sin(3*x) + x^2/4");
 * assert.equal(f.evaluate(0), 0);
 * assert.equal(f.evaluate(2), Math.sin(6) + 1);
 * assert.equal(compileExpr("-x^2").evaluate(3), -9);
 * ```
 */
export function compileExpr(
  source: string,
  options: CompileExprOptions = {},
): CompiledExpr {
  const { maxLength = 1000, maxDepth = 64 } = options;
  if (typeof source !== "string") {
    throw new TypeError(`Expression must be a string, got ${typeof source}`);
  }
  if (source.length > maxLength) {
    throw new ExprError(
      `Expression is ${source.length} characters long: expected at most ${maxLength}`,
    );
  }
  if (source.trim() === "") {
    throw new ExprError(
      `Expression is empty: expected a function of x such as "x^2 + 1"`,
    );
  }
  const evaluate = compile(new Parser(tokenize(source), maxDepth).parse());
  return { source, evaluate };
}

const formatNumber = (v: number) => String(Number(v.toPrecision(12)));

/**
 * Evaluates `fn` on an evenly spaced grid over [xMin, xMax] and throws a
 * `RangeError` naming the first x where the value is NaN or infinite.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkFinite, compileExpr } from "./expr.ts";
 * checkFinite(compileExpr("x^2"), { xMin: -5, xMax: 5 });
 * assert.throws(
 *   () => checkFinite(compileExpr("1/x"), { xMin: -5, xMax: 5 }),
 *   { name: "RangeError", message: /at x = 0 \(value Infinity\)/ },
 * );
 * ```
 */
export function checkFinite(
  fn: CompiledExpr,
  options: CheckFiniteOptions,
): void {
  const { xMin, xMax, points = 1001 } = options;
  if (!Number.isFinite(xMin) || !Number.isFinite(xMax) || !(xMin < xMax)) {
    throw new RangeError(
      `Interval [${xMin}, ${xMax}] is invalid: expected finite xMin < xMax`,
    );
  }
  if (!Number.isInteger(points) || points < 2) {
    throw new RangeError(`Grid points must be an integer >= 2, got ${points}`);
  }
  for (let i = 0; i < points; i++) {
    const t = i / (points - 1);
    // Written as a blend so both ends are hit exactly (and 0 on [-5, 5]).
    const x = xMin * (1 - t) + xMax * t;
    const y = fn.evaluate(x);
    if (!Number.isFinite(y)) {
      throw new RangeError(
        `f(x) = ${fn.source} is not finite at x = ${formatNumber(x)} ` +
          `(value ${y}): ` +
          `choose a function defined on [${xMin}, ${xMax}]`,
      );
    }
  }
}

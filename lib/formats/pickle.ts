/**
 * A restricted unpickler for the `data.pkl` that `torch.save` writes
 * (protocol 2), which never executes anything. A GLOBAL not on the
 * allow-list is refused the moment its opcode is read; REDUCE only applies
 * allow-listed builders that return plain data. Python values map to:
 * `None` -> `null`, `bool` -> `boolean`, `int` -> `number` (`bigint` beyond
 * 2^53), `float` -> `number`, `str` -> `string`, `bytes` (and Python 2's
 * byte strings) -> `Uint8Array`, `list` -> array, `tuple` ->
 * frozen array, `dict` / `OrderedDict` -> `Map`, a rebuilt tensor ->
 * {@linkcode TorchTensorRef}, a storage class -> {@linkcode TorchStorageType}.
 *
 * Every length is checked against the bytes left; the stack, the memo and
 * the values built (containers and their items) are bounded, and nothing
 * here or in its error messages walks into a value: a tuple nested a million
 * deep or a list shared a billion times over costs what its bytes cost.
 *
 * @module
 */
import { preview, quoteName } from "../runtime/quote.ts";
import { MAX_TENSOR_DIMS } from "./state_dict.ts";

/**
 * Thrown for a malformed, unsupported or over-large pickle.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PickleError, unpickle } from "./pickle.ts";
 * assert.throws(() => unpickle(Uint8Array.of(0x80, 2)), PickleError); // PROTO 2, then nothing
 * ```
 */
export class PickleError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PickleError";
  }
}

/**
 * Thrown when a pickle names a global outside the allow-list (e.g. `posix.system`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnsafePickleError, unpickle } from "./pickle.ts";
 * // PROTO 2, GLOBAL "posix system", STOP: what an os.system payload starts with.
 * const bytes = Uint8Array.of(0x80, 2, 0x63, ...new TextEncoder().encode("posix\nsystem\n"), 0x2e);
 * assert.throws(() => unpickle(bytes), UnsafePickleError);
 * ```
 */
export class UnsafePickleError extends PickleError {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UnsafePickleError";
  }
}

/**
 * A torch storage class such as `torch.FloatStorage`: a marker, never called.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STATE_DICT_GLOBALS, TorchStorageType } from "./pickle.ts";
 * const storage = STATE_DICT_GLOBALS["torch.FloatStorage"].value;
 * assert.ok(storage instanceof TorchStorageType);
 * assert.equal(storage.dtype, "float32");
 * ```
 */
export class TorchStorageType {
  /** Creates the marker. */
  constructor(
    /** Python name, e.g. `torch.FloatStorage`. */
    readonly name: string,
    /** Element type in torch's spelling, e.g. `float32`. */
    readonly dtype: string,
  ) {}
}

/**
 * What `torch._utils._rebuild_tensor_v2` would build, as plain data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STATE_DICT_GLOBALS, TorchTensorRef } from "./pickle.ts";
 * // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks) as unpickle() calls it.
 * const rebuild = STATE_DICT_GLOBALS["torch._utils._rebuild_tensor_v2"].call!;
 * const t = rebuild(["storage 0", 0, [2, 3], [3, 1], false, new Map()]);
 * assert.deepEqual(t, new TorchTensorRef("storage 0", 0, [2, 3], [3, 1]));
 * ```
 */
export class TorchTensorRef {
  /** Creates the reference. */
  constructor(
    /** Whatever `persistentLoad` returned for the storage. */
    readonly storage: unknown,
    /** Offset into the storage, in elements. */
    readonly offset: number,
    /** Dimensions. */
    readonly shape: number[],
    /** Strides, in elements. */
    readonly stride: number[],
  ) {}
}

/** An allow-listed Python global. */
export interface PickleGlobal {
  /** Builds plain data from REDUCE / NEWOBJ arguments; absent for globals that are only markers. */
  call?: (args: readonly unknown[]) => unknown;
  /** The value GLOBAL pushes when it is not called (e.g. a storage type). */
  value?: unknown;
}

/**
 * BUILD on an object made by an allow-listed builder calls the object's
 * method under this key with the pickled state (e.g. a NumPy array's shape,
 * dtype and bytes); objects without it refuse BUILD, dicts ignore it.
 */
export const PICKLE_BUILD: unique symbol = Symbol("pickle BUILD");

/** An object that accepts BUILD: see {@linkcode PICKLE_BUILD}. */
export interface Buildable {
  /** Takes the state BUILD pops; throws {@linkcode PickleError} for state it does not expect. */
  [PICKLE_BUILD](state: unknown): void;
}

/** A global on the stack: its dotted name and what it may do. */
class GlobalRef {
  constructor(readonly name: string, readonly spec: PickleGlobal) {}
}

function intList(v: unknown, what: string): number[] {
  if (
    !Array.isArray(v) || v.length > MAX_TENSOR_DIMS || !v.every((d) => Number.isSafeInteger(d) && d >= 0)
  ) {
    throw new PickleError(
      `Tensor ${what} ${preview(v)} is not a tuple of at most ${MAX_TENSOR_DIMS} non-negative integers`,
    );
  }
  return [...v];
}

function rebuildTensor(args: readonly unknown[]): TorchTensorRef {
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  if (args.length < 4) {
    throw new PickleError(`_rebuild_tensor_v2 got ${args.length} arguments, expected 6 or 7`);
  }
  const [storage, offset, size, stride] = args;
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
    throw new PickleError(`Tensor storage offset ${preview(offset)} is not a non-negative integer`);
  }
  const shape = intList(size, "size");
  const strides = intList(stride, "stride");
  if (shape.length !== strides.length) {
    throw new PickleError(`Tensor size (${shape}) and stride (${strides}) have different lengths`);
  }
  return new TorchTensorRef(storage, offset as number, shape, strides);
}

const STORAGES: Record<string, string> = {
  FloatStorage: "float32",
  LongStorage: "int64",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

/**
 * The globals a `state_dict` saved by `torch.save` needs, and nothing else:
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
 * `torch._utils._rebuild_parameter(_with_state)` and the `torch.*Storage`
 * classes (markers only; the .pth reader decides which dtypes it supports).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STATE_DICT_GLOBALS } from "./pickle.ts";
 * assert.ok("collections.OrderedDict" in STATE_DICT_GLOBALS);
 * assert.ok(!("posix.system" in STATE_DICT_GLOBALS));
 * ```
 */
export const STATE_DICT_GLOBALS: Readonly<Record<string, PickleGlobal>> = Object.freeze({
  "collections.OrderedDict": {
    call: (args: readonly unknown[]) => {
      if (args.length === 0) return new Map();
      throw new PickleError(`OrderedDict called with ${args.length} arguments, expected none`);
    },
  },
  "torch._utils._rebuild_tensor_v2": { call: rebuildTensor },
  "torch._utils._rebuild_parameter": { call: (args: readonly unknown[]) => asTensor(args[0]) },
  "torch._utils._rebuild_parameter_with_state": { call: (args: readonly unknown[]) => asTensor(args[0]) },
  ...Object.fromEntries(
    Object.entries(STORAGES).map((
      [k, dtype],
    ) => [`torch.${k}`, { value: new TorchStorageType(`torch.${k}`, dtype) }]),
  ),
});

function asTensor(v: unknown): TorchTensorRef {
  if (!(v instanceof TorchTensorRef)) throw new PickleError(`Parameter data is not a tensor`);
  return v;
}

/** Options for {@linkcode unpickle}. */
export interface UnpickleOptions {
  /** Name used in error messages. @default "pickle" */
  source?: string;
  /** Allowed globals by dotted name (`module.name`). @default STATE_DICT_GLOBALS */
  globals?: Readonly<Record<string, PickleGlobal>>;
  /** Resolves BINPERSID ids (torch: storage tuples); without it BINPERSID is an error. @default undefined */
  persistentLoad?: (pid: unknown) => unknown;
  /** Most values on the stack, marks included. @default 100000 */
  maxStack?: number;
  /** Most memo entries. @default 1000000 */
  maxMemo?: number;
  /**
   * Most values built: every dict, list, tuple and tensor created, plus every
   * item put into one. A ResNet20 state_dict takes about 2,000; each costs
   * up to ~100 bytes of memory, so the default bounds it near 200 MB.
   * @default 2000000
   */
  maxValues?: number;
}

const OPCODE_NAMES: Record<number, string> = {
  0x80: "PROTO",
  0x95: "FRAME",
  0x2e: "STOP",
  0x7d: "EMPTY_DICT",
  0x5d: "EMPTY_LIST",
  0x29: "EMPTY_TUPLE",
  0x28: "MARK",
  0x58: "BINUNICODE",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x55: "SHORT_BINSTRING",
  0x54: "BINSTRING",
  0x43: "SHORT_BINBYTES",
  0x42: "BINBYTES",
  0x8e: "BINBYTES8",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4d: "BININT2",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x47: "BINFLOAT",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x4e: "NONE",
  0x74: "TUPLE",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x73: "SETITEM",
  0x75: "SETITEMS",
  0x61: "APPEND",
  0x65: "APPENDS",
  0x64: "DICT",
  0x6c: "LIST",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x94: "MEMOIZE",
  0x68: "BINGET",
  0x6a: "LONG_BINGET",
  0x63: "GLOBAL",
  0x93: "STACK_GLOBAL",
  0x52: "REDUCE",
  0x62: "BUILD",
  0x51: "BINPERSID",
  0x81: "NEWOBJ",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  // Known but refused: they build arbitrary objects or use text protocols.
  0x69: "INST",
  0x6f: "OBJ",
  0x92: "NEWOBJ_EX",
  0x50: "PERSID",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
};

function safeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/**
 * Unpickles `bytes` with only the allowed globals (by default
 * {@linkcode STATE_DICT_GLOBALS}). Every length is checked against the bytes
 * left, and the stack and memo are bounded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unpickle } from "./pickle.ts";
 * // pickle.dumps({"epoch": 5}, protocol=2)
 * const epoch = new TextEncoder().encode("epoch");
 * const bytes = Uint8Array.of(0x80, 2, 0x7d, 0x71, 0, 0x58, 5, 0, 0, 0, ...epoch, 0x71, 1, 0x4b, 5, 0x73, 0x2e);
 * assert.deepEqual(unpickle(bytes), new Map([["epoch", 5]]));
 * ```
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): unknown {
  const {
    source = "pickle",
    globals = STATE_DICT_GLOBALS,
    persistentLoad,
    maxStack = 100_000,
    maxMemo = 1_000_000,
    maxValues = 2_000_000,
  } = options;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;
  let opStart = 0;
  let built = 0;

  const fail = (message: string): never => {
    throw new PickleError(`${message} at byte ${opStart} of '${source}'`);
  };
  const need = (n: number | bigint): number => {
    if (BigInt(n) > BigInt(bytes.length - pos)) {
      fail(
        `Pickle is truncated: ${OPCODE_NAMES[bytes[opStart]]} needs ${n} bytes, ${bytes.length - pos} left`,
      );
    }
    const start = pos;
    pos += Number(n);
    return start;
  };
  const push = (v: unknown) => {
    if (stack.length + marks.length >= maxStack) fail(`Pickle stack exceeds ${maxStack} entries`);
    stack.push(v);
  };
  // Counts `n` values built (a container, or items put into one).
  const build = (n: number) => {
    built += n;
    if (built > maxValues) fail(`Pickle builds more than ${maxValues} values`);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail(`Pickle stack underflow`);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) return fail(`Pickle has no MARK to pop to`);
    stack = prev;
    return items;
  };
  const top = (): unknown => (stack.length === 0 ? fail(`Pickle stack underflow`) : stack[stack.length - 1]);
  const put = (index: number) => {
    if (!memo.has(index) && memo.size >= maxMemo) fail(`Pickle memo exceeds ${maxMemo} entries`);
    memo.set(index, top());
  };
  const get = (index: number) => {
    if (!memo.has(index)) fail(`Pickle memo has no entry ${index}`);
    push(memo.get(index));
  };
  const str = (n: number | bigint) => {
    const start = need(n);
    try {
      return utf8.decode(bytes.subarray(start, pos));
    } catch {
      return fail(`Pickle string is not valid UTF-8`);
    }
  };
  // A copy, so that the result does not keep the whole pickle alive.
  const raw = (n: number | bigint): Uint8Array => bytes.slice(need(n), pos);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 1024) fail(`Pickle GLOBAL name is unterminated or longer than 1024 bytes`);
    return str(end - pos + 1).slice(0, -1);
  };
  const global = (module: string, name: string) => {
    const dotted = `${module}.${name}`;
    const spec = Object.hasOwn(globals, dotted) ? globals[dotted] : undefined;
    if (spec === undefined) {
      throw new UnsafePickleError(
        `Refusing pickle global ${quoteName(dotted)} at byte ${opStart} of '${source}': only ` +
          `${
            Object.keys(globals).filter((k) => !k.endsWith("Storage")).join(", ")
          } and torch.*Storage are allowed ` +
          `(a weights file must hold a state_dict, not code or a whole pickled model)`,
      );
    }
    push("value" in spec ? spec.value : new GlobalRef(dotted, spec));
  };
  const call = (fn: unknown, args: unknown, opcode: string) => {
    if (!(fn instanceof GlobalRef) || fn.spec.call === undefined) {
      const what = fn instanceof TorchStorageType ? fn.name : fn === null ? "None" : typeof fn;
      return fail(`${opcode} of '${what}' is not allowed`);
    }
    if (!Array.isArray(args)) return fail(`${opcode} of '${fn.name}' got non-tuple arguments`);
    build(1);
    try {
      return fn.spec.call(args);
    } catch (e) {
      if (e instanceof PickleError) fail(`${e.message} (in ${fn.name})`);
      throw e;
    }
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail(`SETITEM(S) target is not a dict`);
    if (items.length % 2 !== 0) fail(`SETITEMS has an odd number of keys and values`);
    build(items.length / 2);
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const append = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail(`APPEND(S) target is not a list`);
    build(items.length);
    for (const item of items) (target as unknown[]).push(item);
  };

  while (true) {
    opStart = pos;
    if (pos >= bytes.length) fail(`Pickle ends without STOP`);
    const op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const proto = bytes[need(1)];
        if (proto > 5) fail(`Unsupported pickle protocol ${proto}`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        need(8);
        break;
      case 0x2e: // STOP
        if (marks.length !== 0 || stack.length !== 1) {
          fail(`Pickle STOP with ${stack.length} values on the stack`);
        }
        return stack[0];
      case 0x7d: // EMPTY_DICT
        build(1);
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        build(1);
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        build(1);
        push(Object.freeze([]));
        break;
      case 0x28: // MARK
        if (stack.length + marks.length >= maxStack) fail(`Pickle stack exceeds ${maxStack} entries`);
        marks.push(stack);
        stack = [];
        break;
      case 0x58: // BINUNICODE
        push(str(view.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(str(bytes[need(1)]));
        break;
      case 0x8d: // BINUNICODE8
        push(str(view.getBigUint64(need(8), true)));
        break;
      case 0x55: // SHORT_BINSTRING: Python 2 str, bytes
      case 0x43: // SHORT_BINBYTES
        push(raw(bytes[need(1)]));
        break;
      case 0x54: { // BINSTRING: signed length
        const n = view.getInt32(need(4), true);
        if (n < 0) fail(`BINSTRING length ${n} is negative`);
        push(raw(n));
        break;
      }
      case 0x42: // BINBYTES
        push(raw(view.getUint32(need(4), true)));
        break;
      case 0x8e: // BINBYTES8
        push(raw(view.getBigUint64(need(8), true)));
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        push(view.getUint16(need(2), true));
        break;
      case 0x8a: // LONG1
      case 0x8b: { // LONG4
        const n = op === 0x8a ? bytes[need(1)] : view.getInt32(need(4), true);
        // Python ints in a checkpoint are small; the cap keeps the BigInt loop cheap.
        if (n < 0 || n > 1024) fail(`LONG length ${n} is outside 0..1024 bytes`);
        const start = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[start + i]);
        if (n > 0 && bytes[start + n - 1] & 0x80) v -= 1n << BigInt(8 * n); // two's complement
        push(safeInt(v));
        break;
      }
      case 0x47: // BINFLOAT: big-endian double
        push(view.getFloat64(need(8), false));
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4e:
        push(null);
        break;
      case 0x74: { // TUPLE
        const items = popMark();
        build(1 + items.length);
        push(Object.freeze(items));
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: { // TUPLE1..3
        const n = op - 0x84;
        if (stack.length < n) fail(`Pickle stack underflow`);
        build(1 + n);
        push(Object.freeze(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x73: { // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x64: { // DICT
        const d = new Map();
        build(1);
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x6c: { // LIST
        const items = popMark();
        build(1 + items.length);
        push(items);
        break;
      }
      case 0x71: // BINPUT
        put(bytes[need(1)]);
        break;
      case 0x72: // LONG_BINPUT
        put(view.getUint32(need(4), true));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(bytes[need(1)]);
        break;
      case 0x6a: // LONG_BINGET
        get(view.getUint32(need(4), true));
        break;
      case 0x63: { // GLOBAL: "module\nname\n", checked before anything else happens
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail(`STACK_GLOBAL needs two strings`);
        global(module as string, name as string);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        push(call(pop(), args, "REDUCE"));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args), only for allow-listed builders
        const args = pop();
        push(call(pop(), args, "NEWOBJ"));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        if (typeof target === "object" && target !== null && PICKLE_BUILD in target) {
          try {
            (target as Buildable)[PICKLE_BUILD](state);
          } catch (e) {
            if (e instanceof PickleError) fail(e.message);
            throw e;
          }
          break;
        }
        // OrderedDict state is its __dict__ (a state_dict's `_metadata` versions): not needed, dropped.
        if (!(target instanceof Map) || !(state === null || state instanceof Map)) {
          fail(`BUILD is only allowed on a dict`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (persistentLoad === undefined) fail(`Pickle has a persistent id but no loader was given`);
        push(persistentLoad!(pid));
        break;
      }
      case 0x30: // POP
        if (stack.length > 0) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      default:
        fail(
          `Unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")}` +
            (OPCODE_NAMES[op] ? ` (${OPCODE_NAMES[op]})` : ""),
        );
    }
  }
}

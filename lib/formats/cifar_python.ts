/**
 * torchvision's CIFAR-10 files (`cifar-10-batches-py/data_batch_1` ...
 * `test_batch`): one pickled dict per file, `data` a NumPy `uint8` array
 * `[N, 3072]` (planar R, G, B rows, the binary files' layout without the
 * label bytes) and `labels` a list of N ints. Read with the restricted
 * {@linkcode unpickle} and the few NumPy globals that rebuild such an array
 * as plain bytes: nothing from the file is ever executed. Pure: bytes in,
 * images and labels out.
 *
 * The official files were written by Python 2 (protocol 2, byte strings);
 * protocol 2-5 files written by Python 3 read the same.
 *
 * @module
 */
import { type CifarSplit, CLASS_NAMES, IMAGE_BYTES } from "../data/cifar.ts";
import { preview, quote } from "../runtime/quote.ts";
import { type Buildable, PICKLE_BUILD, PickleError, type PickleGlobal, unpickle } from "./pickle.ts";

/**
 * Thrown for a file that is not a CIFAR-10 python batch; the message names it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CifarPythonError, decodeCifarPython } from "./cifar_python.ts";
 * assert.throws(() => decodeCifarPython(new Uint8Array(4), "data_batch_1"), CifarPythonError);
 * ```
 */
export class CifarPythonError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CifarPythonError";
  }
}

const latin1 = (v: unknown): unknown => v instanceof Uint8Array ? new TextDecoder("latin1").decode(v) : v;

/** `numpy.dtype(name, align, copy)`: only the name matters; its BUILD state (byte order, flags) is checked loosely. */
class NumpyDtype implements Buildable {
  constructor(readonly name: string) {}
  [PICKLE_BUILD](state: unknown): void {
    if (!Array.isArray(state)) throw new PickleError(`numpy.dtype state is not a tuple`);
    const order = latin1(state[1]);
    if (order !== "|" && order !== "<" && order !== "=") {
      throw new PickleError(`numpy.dtype byte order ${preview(order)} is not supported`);
    }
  }
}

/** What `numpy.core.multiarray._reconstruct` builds, filled in by BUILD: shape, dtype and bytes. */
class NumpyArray implements Buildable {
  shape: number[] = [];
  dtype = "";
  data: Uint8Array = new Uint8Array(0);
  [PICKLE_BUILD](state: unknown): void {
    // (version, shape, dtype, is_fortran, raw bytes)
    if (!Array.isArray(state) || state.length !== 5) {
      throw new PickleError(`numpy.ndarray state is not a 5-tuple`);
    }
    const [, shape, dtype, fortran, raw] = state;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new PickleError(`numpy.ndarray shape is not a tuple of sizes`);
    }
    if (!(dtype instanceof NumpyDtype)) throw new PickleError(`numpy.ndarray dtype is not a numpy.dtype`);
    if (fortran !== false) throw new PickleError(`numpy.ndarray in Fortran order is not supported`);
    if (!(raw instanceof Uint8Array)) throw new PickleError(`numpy.ndarray data is not raw bytes`);
    this.shape = [...shape];
    this.dtype = dtype.name;
    this.data = raw;
  }
}

const reconstruct: PickleGlobal = {
  call: (args) => {
    if (args[0] !== NDARRAY) throw new PickleError(`_reconstruct of something other than numpy.ndarray`);
    return new NumpyArray();
  },
};
const NDARRAY = Object.freeze({ numpy: "ndarray" });

/** The globals a CIFAR-10 python batch needs, and nothing else. */
export const CIFAR_PYTHON_GLOBALS: Readonly<Record<string, PickleGlobal>> = Object.freeze({
  "numpy.core.multiarray._reconstruct": reconstruct,
  "numpy._core.multiarray._reconstruct": reconstruct,
  "numpy.ndarray": { value: NDARRAY },
  "numpy.dtype": {
    call: (args: readonly unknown[]) => {
      const name = latin1(args[0]);
      if (typeof name !== "string") throw new PickleError(`numpy.dtype name is not a string`);
      return new NumpyDtype(name);
    },
  },
  // Python 3's protocol 2 writes bytes as _codecs.encode(text, "latin1").
  "_codecs.encode": {
    call: (args: readonly unknown[]) => {
      const [text, encoding] = args;
      if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1")) {
        throw new PickleError(`_codecs.encode is allowed for latin1 text only`);
      }
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c > 255) throw new PickleError(`_codecs.encode text is not latin1`);
        out[i] = c;
      }
      return out;
    },
  },
});

/**
 * Decodes one torchvision CIFAR-10 batch file (`data_batch_1` ...
 * `test_batch`) into images `[N, 3, 32, 32]` planar uint8 and labels,
 * checking the array's dtype and shape and every label.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCifarPython } from "./cifar_python.ts";
 * // A hand-made protocol-2 pickle of {"data": uint8 zeros [1, 3072], "labels": [7]} as Python 2 writes it.
 * const enc = (s: string) => [...new TextEncoder().encode(s)];
 * const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24];
 * const bytes = Uint8Array.of(
 *   0x80, 2, 0x7d, 0x28, // PROTO 2, EMPTY_DICT, MARK
 *   0x55, 4, ...enc("data"),
 *   0x63, ...enc("numpy.core.multiarray\n_reconstruct\n"), 0x63, ...enc("numpy\nndarray\n"),
 *   0x4b, 0, 0x85, 0x55, 1, ...enc("b"), 0x87, 0x52, // _reconstruct(ndarray, (0,), "b")
 *   0x28, 0x4b, 1, 0x4b, 1, 0x4d, 0, 12, 0x86, // MARK 1 (1, 3072)
 *   0x63, ...enc("numpy\ndtype\n"), 0x55, 2, ...enc("u1"), 0x4b, 0, 0x4b, 1, 0x87, 0x52,
 *   0x28, 0x4b, 3, 0x55, 1, ...enc("|"), 0x4e, 0x4e, 0x4e, 0x4a, ...u32(-1), 0x4a, ...u32(-1), 0x4b, 0, 0x74, 0x62,
 *   0x89, 0x54, ...u32(3072), ...new Array(3072).fill(0), 0x74, 0x62, // False, BINSTRING, TUPLE, BUILD
 *   0x55, 6, ...enc("labels"), 0x5d, 0x4b, 7, 0x61, // "labels": [7]
 *   0x75, 0x2e, // SETITEMS, STOP
 * );
 * const batch = decodeCifarPython(bytes, "test_batch");
 * assert.equal(batch.count, 1);
 * assert.deepEqual(batch.labels, Uint8Array.of(7));
 * assert.equal(batch.images.length, 3072);
 * ```
 */
export function decodeCifarPython(bytes: Uint8Array, source = "CIFAR-10 python batch"): CifarSplit {
  const fail = (message: string): never => {
    throw new CifarPythonError(`File "${source}" ${message}`);
  };
  let root: unknown;
  try {
    root = unpickle(bytes, { source, globals: CIFAR_PYTHON_GLOBALS, maxStack: 200_000 });
  } catch (e) {
    return fail(`is not a CIFAR-10 python batch: ${(e as Error).message}`);
  }
  if (!(root instanceof Map)) return fail(`does not hold a dict: not a CIFAR-10 python batch`);
  const entries = new Map<unknown, unknown>([...root].map(([k, v]) => [latin1(k), v]));
  const data = entries.get("data");
  const labels = entries.get("labels");
  if (!(data instanceof NumpyArray)) return fail(`has no "data" array: not a CIFAR-10 python batch`);
  if (data.dtype !== "u1" || data.shape.length !== 2 || data.shape[1] !== IMAGE_BYTES) {
    fail(
      `has "data" of dtype ${quote(data.dtype)} and shape ${
        preview(data.shape)
      }, expected u1 [N, ${IMAGE_BYTES}]`,
    );
  }
  const count = data.shape[0];
  if (data.data.length !== count * IMAGE_BYTES) {
    fail(`has ${data.data.length} bytes of "data", expected ${count * IMAGE_BYTES}`);
  }
  if (!Array.isArray(labels) || labels.length !== count) {
    fail(`has ${Array.isArray(labels) ? labels.length : "no"} "labels", expected a list of ${count}`);
  }
  const out = new Uint8Array(count);
  (labels as unknown[]).forEach((label, i) => {
    if (!Number.isInteger(label) || (label as number) < 0 || (label as number) >= CLASS_NAMES.length) {
      fail(`label ${i} is ${preview(label)}, expected 0..${CLASS_NAMES.length - 1}`);
    }
    out[i] = label as number;
  });
  return { images: data.data, labels: out, count };
}

/**
 * oneDNN's multithreaded JIT element-wise primitives on flat float32
 * arrays: ReLU, its gradient, same-shape addition, and addition then ReLU
 * in one pass (a residual block's output). On the 2-core box a
 * ReLU over 2M values takes ~2 ms here against ~4-16 ms for a TypedArray
 * loop; below {@linkcode DNNL_ELEMENTWISE_MIN} values the loops win (a
 * oneDNN call costs a few microseconds).
 *
 * @module
 */
import { DNNL, type Dnnl, type DnnlPrimitive } from "./dnnl.ts";
import { type Alloc, freshAlloc } from "./kernel_io.ts";

/** Fewest values worth a oneDNN call. */
export const DNNL_ELEMENTWISE_MIN = 1 << 16;

/**
 * Cached oneDNN element-wise primitives, one set per array length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DnnlElementwise } from "./dnnl_elementwise.ts";
 * import { loadNativeLibraries } from "./ffi.ts";
 * const ew = new DnnlElementwise(loadNativeLibraries().dnnl!); // needs libdnnl.so.2
 * const x = Float32Array.of(-2, 1), dy = Float32Array.of(5, 5);
 * assert.deepEqual(ew.relu(x), Float32Array.of(0, 1)); // max(x, 0)
 * assert.deepEqual(ew.reluGrad(dy, x), Float32Array.of(0, 5)); // dy where x > 0, else 0
 * assert.deepEqual(ew.add(x, x), Float32Array.of(-4, 2)); // a + b
 * assert.deepEqual(ew.add(x, x, true), Float32Array.of(0, 2)); // max(a + b, 0)
 * ```
 */
export class DnnlElementwise {
  #dnnl: Dnnl;
  #alloc: Alloc;
  #plans = new Map<string, DnnlPrimitive>();

  /**
   * Uses `dnnl`'s engine and stream; outputs come from `alloc`, which may
   * return old contents (every element is written).
   */
  constructor(dnnl: Dnnl, alloc: Alloc = freshAlloc) {
    this.#dnnl = dnnl;
    this.#alloc = alloc;
  }

  /** `max(x, 0)`. */
  relu(x: Float32Array): Float32Array {
    const y = this.#alloc(x.length);
    this.#plan("relu", x.length).run([x, y]);
    return y;
  }

  /** `dy` where `x > 0`, else 0. */
  reluGrad(dy: Float32Array, x: Float32Array): Float32Array {
    const dx = this.#alloc(x.length);
    this.#plan("reluGrad", x.length).run([x, dy, dx]);
    return dx;
  }

  /** `a + b` for arrays of one length; `max(a + b, 0)` with `relu`. */
  add(a: Float32Array, b: Float32Array, relu = false): Float32Array {
    const y = this.#alloc(a.length);
    this.#plan(relu ? "addRelu" : "add", a.length).run([a, b, y]);
    return y;
  }

  #plan(op: "relu" | "reluGrad" | "add" | "addRelu", n: number): DnnlPrimitive {
    const key = `${op}:${n}`;
    let plan = this.#plans.get(key);
    if (plan) return plan;
    const d = this.#dnnl;
    const md = d.memoryDesc([n], DNNL.tagA);
    const relu = () =>
      d.primitiveDesc(d.opDesc(
        "dnnl_eltwise_forward_desc_init",
        (b) => d.symbols.dnnl_eltwise_forward_desc_init(b, DNNL.forwardTraining, DNNL.eltwiseRelu, md, 0, 0),
      ));
    if (op === "relu") {
      plan = d.primitiveForArgs(relu(), [DNNL.argSrc, DNNL.argDst]);
    } else if (op === "reluGrad") {
      const desc = d.opDesc(
        "dnnl_eltwise_backward_desc_init",
        (b) => d.symbols.dnnl_eltwise_backward_desc_init(b, DNNL.eltwiseRelu, md, md, 0, 0),
      );
      plan = d.primitiveForArgs(d.primitiveDesc(desc, relu()), [
        DNNL.argSrc,
        DNNL.argDiffDst,
        DNNL.argDiffSrc,
      ]);
    } else {
      const desc = d.opDesc(
        "dnnl_binary_desc_init",
        (b) => d.symbols.dnnl_binary_desc_init(b, DNNL.binaryAdd, md, md, md),
      );
      const pd = d.primitiveDesc(desc, null, { relu: op === "addRelu" });
      plan = d.primitiveForArgs(pd, [DNNL.argSrc, DNNL.argSrc1, DNNL.argDst]);
    }
    this.#plans.set(key, plan);
    return plan;
  }
}

/**
 * The small fully connected network of Lab 1: `Linear -> ReLU` for each
 * hidden width, then `Linear` to one output, initialised as PyTorch's
 * `nn.Linear` (weights and biases uniform in ±1/sqrt(fan_in)), so that it
 * means the same as `pytorch_fit.py`'s `nn.Sequential`.
 *
 * Weights are named as that `nn.Sequential`'s `state_dict` (`0.weight`,
 * `0.bias`, `2.weight`, ...) with PyTorch's `[out, in]` layout in
 * {@linkcode Mlp.stateDict}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { Rng } from "../data/rng.ts";
import { defaultBound, uniformInit } from "./init.ts";
import { linear } from "../ops/mod.ts";
import type { StateDict } from "../formats/state_dict.ts";

/** Options for {@linkcode Mlp}. */
export interface MlpOptions {
  /** Seed for the initial weights. @default {0} */
  seed?: number;
}

interface Layer {
  /** `[in, out]`: tfjs's matMul layout. */
  weight: tf.Variable;
  bias: tf.Variable;
  index: number;
}

/**
 * A ReLU MLP from 1 input to 1 output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Mlp } from "./mlp.ts";
 * await tf.setBackend("cpu");
 * const mlp = new Mlp([64, 64], { seed: 0 });
 * const y = tf.tidy(() => mlp.forward(tf.tensor2d([[0.5], [1.5]])));
 * assert.deepEqual(y.shape, [2, 1]);
 * const state = await mlp.stateDict(); // nn.Sequential's names and [out, in] layout
 * assert.deepEqual([...state.keys()], ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
 * assert.deepEqual(state.get("2.weight")!.shape, [64, 64]);
 * y.dispose();
 * mlp.dispose();
 * ```
 */
export class Mlp {
  /** Hidden layer widths. */
  readonly hidden: readonly number[];
  readonly #layers: Layer[] = [];

  /** Builds the network; variables live until {@linkcode Mlp.dispose}. */
  constructor(hidden: readonly number[], options: MlpOptions = {}) {
    for (const h of hidden) {
      if (!Number.isInteger(h) || h < 1 || h > 4096) {
        throw new RangeError(`Hidden width must be an integer in 1..4096, got ${h}`);
      }
    }
    this.hidden = [...hidden];
    const rng = new Rng(options.seed ?? 0);
    const widths = [1, ...hidden, 1];
    for (let i = 0; i + 1 < widths.length; i++) {
      const [fanIn, fanOut] = [widths[i], widths[i + 1]];
      const bound = defaultBound(fanIn);
      const w = uniformInit(rng, [fanIn, fanOut], bound);
      const b = uniformInit(rng, [fanOut], bound);
      this.#layers.push({
        weight: tf.variable(w),
        bias: tf.variable(b),
        // Index in PyTorch's Sequential, where each ReLU takes a slot too.
        index: 2 * i,
      });
      tf.dispose([w, b]);
    }
  }

  /** Trainable variables. */
  variables(): tf.Variable[] {
    return this.#layers.flatMap((l) => [l.weight, l.bias]);
  }

  /**
   * Predictions `[N, 1]` for inputs `[N, 1]`: one {@linkcode linear} op a
   * layer (one kernel each way on `native`).
   */
  forward(x: tf.Tensor2D): tf.Tensor2D {
    let h: tf.Tensor2D = x;
    this.#layers.forEach((l, i) => {
      h = linear(h, l.weight as tf.Tensor2D, l.bias as tf.Tensor1D, { relu: i + 1 < this.#layers.length });
    });
    return h;
  }

  /** Weights as PyTorch's `state_dict` (`[out, in]` layout). */
  async stateDict(): Promise<StateDict> {
    const state: StateDict = new Map();
    for (const l of this.#layers) {
      const w = l.weight.shape as [number, number];
      const t = tf.tidy(() => tf.transpose(l.weight));
      state.set(`${l.index}.weight`, {
        dtype: "F32",
        shape: [w[1], w[0]],
        data: Float32Array.from(await t.data()),
      });
      t.dispose();
      state.set(`${l.index}.bias`, {
        dtype: "F32",
        shape: [...l.bias.shape],
        data: Float32Array.from(await l.bias.data()),
      });
    }
    return state;
  }

  /** Replaces the weights with a `state_dict` of the same architecture. */
  loadStateDict(state: StateDict, source = "state dict"): void {
    const expected = new Set(this.#layers.flatMap((l) => [`${l.index}.weight`, `${l.index}.bias`]));
    const extra = [...state.keys()].filter((k) => !expected.has(k));
    if (extra.length) {
      throw new Error(
        `${source}: unexpected tensor "${extra[0]}" for an MLP with hidden ${this.hidden.join(",")}`,
      );
    }
    const values = this.#layers.map((l) => {
      const [fanIn, fanOut] = l.weight.shape;
      return [
        take(state, `${l.index}.weight`, [fanOut, fanIn], source),
        take(state, `${l.index}.bias`, [fanOut], source),
      ];
    });
    for (const [k, l] of this.#layers.entries()) {
      const [fanIn, fanOut] = l.weight.shape;
      const [w, b] = values[k];
      tf.tidy(() => {
        l.weight.assign(tf.transpose(tf.tensor2d(w, [fanOut, fanIn])));
        l.bias.assign(tf.tensor1d(b));
      });
    }
  }

  /** Frees the variables. */
  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

function take(state: StateDict, name: string, shape: number[], source: string): Float32Array {
  const t = state.get(name);
  if (!t) throw new Error(`${source}: missing tensor "${name}"`);
  if (t.dtype !== "F32" || t.shape.join(",") !== shape.join(",")) {
    throw new Error(
      `${source}: tensor "${name}" is ${t.dtype} [${t.shape}], expected F32 [${shape}]`,
    );
  }
  const data = t.data as Float32Array;
  if (!(data instanceof Float32Array) || data.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new Error(
      `${source}: tensor "${name}" holds ${data.length} values, expected ${shape.reduce((a, b) => a * b, 1)}`,
    );
  }
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${source}: tensor "${name}" has a non-finite value at index ${bad}`);
  return data;
}

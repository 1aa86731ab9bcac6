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
import { checkFinite, compileExpr } from "../data/expr.ts";
import { Rng } from "../data/rng.ts";
import { decodeSafetensors } from "../formats/safetensors.ts";
import { checkStateDict, firstNonFinite, type StateDict, type TensorSpec } from "../formats/state_dict.ts";
import { MAX_WEIGHTS_BYTES } from "../formats/weights.ts";
import { linear } from "../ops/mod.ts";
import { preview, quote, quoteName } from "../runtime/quote.ts";
import { defaultBound, uniformInit } from "./init.ts";

/** Most hidden layers, and the widest one, an {@linkcode Mlp} may have. */
export const MLP_LIMITS = Object.freeze({ layers: 16, width: 4096 });

/**
 * Largest Lab 1 model file read, in bytes: the weights readers' limit,
 * {@linkcode MAX_WEIGHTS_BYTES} (256 MiB; a 64,64 model is 17 KB).
 */
export const MAX_MLP_BYTES: number = MAX_WEIGHTS_BYTES;

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
    if (hidden.length > MLP_LIMITS.layers) {
      throw new RangeError(`An MLP has at most ${MLP_LIMITS.layers} hidden layers, got ${hidden.length}`);
    }
    for (const h of hidden) {
      if (!Number.isInteger(h) || h < 1 || h > MLP_LIMITS.width) {
        throw new RangeError(`Hidden width must be an integer in 1..${MLP_LIMITS.width}, got ${h}`);
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
  const bad = firstNonFinite([[name, t]]);
  if (bad) throw new Error(`${source}: tensor "${name}" has a non-finite value at index ${bad.index}`);
  return data;
}

/** Everything that defines a Lab 1 run. */
export interface FitConfig {
  /** Passes over the training samples. */
  epochs: number;
  /** Learning rate (per step; the loss is a per-example mean). */
  lr: number;
  /** Training samples, x uniform in [xMin, xMax] (the lab's NUM_TRAIN_SAMPLES). */
  samples: number;
  /** Samples per optimisation step. */
  batchSize: number;
  /** Hidden layer widths of the ReLU MLP. */
  hidden: number[];
  optimizer: "adam" | "sgd";
  /** Input range. */
  xMin: number;
  xMax: number;
  /** Seeds the samples, the initial weights and the batch order. */
  seed: number;
}

/** The training config a Lab 1 model file carries in its `config` metadata: what `exp1` saves. */
export interface SavedFitConfig extends FitConfig {
  /** The target f(x). */
  fn: string;
}

/** A Lab 1 model file, checked: see {@linkcode decodeMlpModel}. */
export interface MlpModelFile {
  /** The config it was trained with (only the fields above, each checked). */
  config: SavedFitConfig;
  /** Its weights, exactly the tensors an `Mlp` with `config.hidden` has. */
  state: StateDict;
}

/**
 * The `state_dict` an {@linkcode Mlp} with these hidden widths has: names,
 * F32 and PyTorch's `[out, in]` shapes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlpSpec } from "./mlp.ts";
 * assert.deepEqual(mlpSpec([8]).get("2.weight"), { dtype: "F32", shape: [1, 8] });
 * ```
 */
export function mlpSpec(hidden: readonly number[]): Map<string, TensorSpec> {
  const widths = [1, ...hidden, 1];
  const spec = new Map<string, TensorSpec>();
  for (let i = 0; i + 1 < widths.length; i++) {
    spec.set(`${2 * i}.weight`, { dtype: "F32", shape: [widths[i + 1], widths[i]] });
    spec.set(`${2 * i}.bias`, { dtype: "F32", shape: [widths[i + 1]] });
  }
  return spec;
}

/**
 * Reads a model file `exp1` saved (safetensors with `model: "mlp"` and its
 * training config as JSON), checking everything before anything is built
 * from it: each config field's type and range (hidden widths as `--hidden`
 * allows them, a finite input range with `xMin < xMax`, an `fn` that compiles
 * and is finite on that range), then that the tensors are exactly those of an
 * MLP with those widths, finite. So a file whose metadata asks for a huge
 * network but holds small tensors is refused from its bytes, without
 * allocating the network.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "../formats/safetensors.ts";
 * import { decodeMlpModel, mlpSpec } from "./mlp.ts";
 * const fit = { epochs: 10, lr: 0.01, samples: 100, batchSize: 10, optimizer: "adam", seed: 0 };
 * const config = { ...fit, hidden: [2], xMin: -5, xMax: 5, fn: "x^2" };
 * const state = new Map([...mlpSpec([2])].map(([n, s]) => [n, { ...s, data: new Float32Array(s.shape[0] * (s.shape[1] ?? 1)) }]));
 * const file = (c: object) => encodeSafetensors(state, { metadata: { model: "mlp", config: JSON.stringify(c) } });
 * assert.deepEqual(decodeMlpModel(file(config), "m.safetensors").config, config);
 * assert.throws(() => decodeMlpModel(file({ ...config, xMin: null }), "m.safetensors"), {
 *   message: "m.safetensors: not an exp1 model (config xMin is null, expected a finite number)",
 * });
 * // The tensors are a [2] model's, checked before any [4096, 4096] one is built.
 * assert.throws(() => decodeMlpModel(file({ ...config, hidden: [4096, 4096] }), "m.safetensors"), {
 *   message: "m.safetensors: not an exp1 model (config hidden is [4096, 4096] but the file holds 4 tensors, " +
 *     "with no tensor '4.weight')",
 * });
 * ```
 */
export function decodeMlpModel(bytes: Uint8Array, source = "model"): MlpModelFile {
  const { state, metadata } = decodeSafetensors(bytes, { source });
  const fail = (why: string): never => {
    throw new Error(`${source}: not an exp1 model (${why})`);
  };
  if (metadata.model !== "mlp") fail(`metadata model is ${quote(metadata.model ?? "")}, expected "mlp"`);
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.config ?? "");
  } catch {
    fail(`its metadata has no valid JSON "config"`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    fail(`its metadata "config" is not an object`);
  }
  const c = raw as Record<string, unknown>;
  const field = <T>(key: string, ok: (v: unknown) => boolean, expected: string): T => {
    if (!ok(c[key])) fail(`config ${key} is ${preview(c[key])}, expected ${expected}`);
    return c[key] as T;
  };
  const int = (min: number, max: number) => (v: unknown) =>
    Number.isInteger(v) && v as number >= min && v as number <= max;
  const finite = (v: unknown) =>
    typeof v === "number" && Number.isFinite(v) && Number.isFinite(Math.fround(v));
  const hidden = field<number[]>(
    "hidden",
    (v) => Array.isArray(v) && v.length <= MLP_LIMITS.layers && v.every(int(1, MLP_LIMITS.width)),
    `at most ${MLP_LIMITS.layers} integer widths in 1..${MLP_LIMITS.width}`,
  );
  const config: SavedFitConfig = {
    epochs: field("epochs", int(1, 1e7), "an integer in 1..10000000"),
    lr: field("lr", (v) => finite(v) && (v as number) > 0, "a finite number above 0"),
    samples: field("samples", int(1, 1e7), "an integer in 1..10000000"),
    batchSize: field("batchSize", int(1, 1e7), "an integer in 1..10000000"),
    hidden: [...hidden],
    optimizer: field("optimizer", (v) => v === "adam" || v === "sgd", `"adam" or "sgd"`),
    xMin: field("xMin", finite, "a finite number"),
    xMax: field("xMax", finite, "a finite number"),
    seed: field("seed", int(-(2 ** 31), 2 ** 31 - 1), "a 32-bit integer"),
    fn: field("fn", (v) => typeof v === "string", "a string"),
  };
  if (!(config.xMin < config.xMax)) fail(`config xMin ${config.xMin} is not below xMax ${config.xMax}`);
  try {
    checkFinite(compileExpr(config.fn), config);
  } catch (e) {
    const why = (e as Error).message;
    fail(`config fn ${quote(config.fn)}: ${why.length > 240 ? `${why.slice(0, 237)}...` : why}`);
  }
  // One line naming the first mismatch, before the full check (values, finiteness).
  const spec = mlpSpec(config.hidden);
  const missing = [...spec.keys()].find((n) => !state.has(n));
  const unexpected = [...state.keys()].find((n) => !spec.has(n));
  const misshapen = [...spec].find(([n, s]) => state.has(n) && state.get(n)!.shape.join() !== s.shape.join());
  const mismatch = missing !== undefined
    ? `no tensor '${missing}'`
    : unexpected !== undefined
    ? `an unexpected tensor ${quoteName(unexpected)}`
    : misshapen !== undefined
    ? `tensor '${misshapen[0]}' of shape ${preview(state.get(misshapen[0])!.shape)}, not ${
      preview(misshapen[1].shape)
    }`
    : null;
  if (mismatch !== null) {
    fail(
      `config hidden is ${preview(config.hidden)} but the file holds ${state.size} tensors, with ${mismatch}`,
    );
  }
  checkStateDict(state, spec, { source });
  return { config, state };
}

/**
 * The hidden widths of the MLP whose `state_dict` is `state` (`0.weight`
 * `[h1, 1]`, `2.weight` `[h2, h1]`, ..., the last `[1, hk]`), or null when it
 * is not one (e.g. a ResNet20's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlpHidden } from "./mlp.ts";
 * const t = (shape: number[]) => ({ dtype: "F32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b)) });
 * const state = new Map([["0.weight", t([8, 1])], ["0.bias", t([8])], ["2.weight", t([1, 8])], ["2.bias", t([1])]]);
 * assert.deepEqual(mlpHidden(state), [8]);
 * assert.equal(mlpHidden(new Map([["conv1.weight", t([16, 3, 3, 3])]])), null);
 * ```
 */
export function mlpHidden(state: StateDict): number[] | null {
  const layers: number[][] = [];
  for (let i = 0; state.has(`${2 * i}.weight`); i++) layers.push(state.get(`${2 * i}.weight`)!.shape);
  if (layers.length < 1 || state.size !== 2 * layers.length) return null;
  if (layers.some((s) => s.length !== 2) || layers[0][1] !== 1 || layers.at(-1)![0] !== 1) return null;
  for (let i = 1; i < layers.length; i++) if (layers[i][1] !== layers[i - 1][0]) return null;
  return layers.slice(0, -1).map((s) => s[0]);
}

/**
 * SGD with momentum and weight decay exactly as PyTorch's `torch.optim.SGD`
 * (dampening 0, no Nesterov): per parameter p with gradient g,
 *
 *     d = g + weight_decay * p
 *     buf = momentum * buf + d        (buf starts at 0, so the first buf = d)
 *     p = p - lr * buf
 *
 * Weight decay is added to the gradient (coupled L2), on every parameter,
 * including batch-norm scales and biases, as the PyTorch lab does. The
 * momentum buffers are named after their parameters so a checkpoint can hold
 * them and a resumed run continues exactly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { StateDict } from "../formats/state_dict.ts";
import { sgdMomentumStepAll } from "../ops/mod.ts";
import { LAB2_DEFAULTS } from "./defaults.ts";

/** Hyper-parameters; `lr` may change between steps. */
export interface SgdOptions {
  lr: number;
  /** @default {LAB2_DEFAULTS.momentum} (0.9) */
  momentum?: number;
  /** @default {LAB2_DEFAULTS.weightDecay} (1e-4) */
  weightDecay?: number;
}

/**
 * The optimizer over named variables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import "../ops/gradients.ts";
 * import { Sgd } from "./sgd.ts";
 * await tf.setBackend("cpu");
 * // With a model: new Sgd(model.trainable(), { lr: 0.1 }).
 * const w = tf.variable(tf.tensor1d([1, 2]), true, "w");
 * const sgd = new Sgd(new Map([["w", w]]), { lr: 0.25, weightDecay: 0 });
 * const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(w)), [w]); // gradient 2w
 * sgd.step(grads);
 * assert.deepEqual(await w.data(), Float32Array.of(0.5, 1)); // w - 0.25 * 2w
 * const state = await sgd.state(); // what a checkpoint stores
 * assert.deepEqual(state.get("optimizer.momentum.w")!.data, Float32Array.of(2, 4));
 * tf.dispose([value, grads, w]);
 * sgd.dispose();
 * ```
 */
export class Sgd {
  readonly momentum: number;
  readonly weightDecay: number;
  readonly #params: Map<string, tf.Variable>;
  readonly #buffers = new Map<string, tf.Variable>();
  /** The learning rate as a device scalar: written when it changes, read by every step. */
  readonly #lrTensor: tf.Variable<tf.Rank.R0>;
  #lr: number;

  /** Creates zeroed momentum buffers for `params`. */
  constructor(params: Map<string, tf.Variable>, options: SgdOptions) {
    this.#params = params;
    this.#lr = options.lr;
    const lr = tf.scalar(options.lr);
    this.#lrTensor = tf.variable(lr, false);
    lr.dispose();
    this.momentum = options.momentum ?? LAB2_DEFAULTS.momentum;
    this.weightDecay = options.weightDecay ?? LAB2_DEFAULTS.weightDecay;
    for (const [name, p] of params) {
      const zeros = tf.zerosLike(p);
      this.#buffers.set(name, tf.variable(zeros, false));
      zeros.dispose();
    }
  }

  /** The learning rate of the next step. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    if (value === this.#lr) return;
    this.#lr = value;
    tf.tidy(() => this.#lrTensor.assign(tf.scalar(value)));
  }

  /**
   * Applies one update from gradients keyed by variable name (tfjs
   * `variableGrads` keys), at `lr` when given (a device scalar, as a
   * compiled step passes it), else at {@linkcode Sgd.lr}.
   */
  step(grads: tf.NamedTensorMap, lr: tf.Scalar = this.#lrTensor): void {
    // Check first, so a missing gradient cannot leave a half-applied step.
    for (const [name, p] of this.#params) {
      if (!grads[p.name]) throw new Error(`No gradient for parameter "${name}"`);
    }
    const attrs = { momentum: this.momentum, weightDecay: this.weightDecay };
    const params = [...this.#params.values()], buffers = [...this.#buffers.values()];
    tf.tidy(() => {
      // One kernel for every parameter where the backend has it (native).
      const next = sgdMomentumStepAll(params, params.map((p) => grads[p.name]), buffers, lr, attrs);
      buffers.forEach((b, i) => b.assign(next.buffers[i]));
      params.forEach((p, i) => p.assign(next.params[i]));
    });
  }

  /** The momentum buffers, by parameter name (for a compiled step's state). */
  buffers(): Map<string, tf.Variable> {
    return new Map(this.#buffers);
  }

  /** Momentum buffers as `optimizer.momentum.<param>` tensors, in tfjs layout. */
  async state(): Promise<StateDict> {
    const out: StateDict = new Map();
    for (const [name, buf] of this.#buffers) {
      out.set(`optimizer.momentum.${name}`, {
        dtype: "F32",
        shape: [...buf.shape],
        data: Float32Array.from(await buf.data()),
      });
    }
    return out;
  }

  /** Restores buffers saved by {@linkcode Sgd.state}; every buffer must be present with its shape. */
  loadState(state: StateDict, source = "checkpoint"): void {
    for (const [name, buf] of this.#buffers) {
      const key = `optimizer.momentum.${name}`;
      const h = state.get(key);
      if (!h || h.dtype !== "F32" || h.shape.join(",") !== buf.shape.join(",")) {
        const found = h ? `${h.dtype} [${h.shape}]` : "nothing";
        throw new Error(`${source}: tensor "${key}" should be F32 [${buf.shape}], found ${found}`);
      }
    }
    tf.tidy(() => {
      for (const [name, buf] of this.#buffers) {
        const h = state.get(`optimizer.momentum.${name}`)!;
        buf.assign(tf.tensor(h.data as Float32Array, h.shape));
      }
    });
  }

  /** Frees the buffers. */
  dispose(): void {
    for (const b of this.#buffers.values()) b.dispose();
    this.#lrTensor.dispose();
  }
}

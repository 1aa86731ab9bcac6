/**
 * Adam exactly as PyTorch's `torch.optim.Adam` with its defaults
 * (`betas=(0.9, 0.999)`, `eps=1e-8`, no weight decay, no AMSGrad), for Lab
 * 1: moments start at zero, the step count at 0, and every step updates all
 * parameters through one {@linkcode adamUpdate} (one kernel on `native`,
 * bit for bit PyTorch's CPU rounding there; see `lib/native/adam_kernels.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { adamUpdate } from "../ops/mod.ts";

/** Hyper-parameters; `lr` may change between steps. */
export interface AdamOptions {
  lr: number;
  /** @default {0.9} */
  beta1?: number;
  /** @default {0.999} */
  beta2?: number;
  /** @default {1e-8} */
  epsilon?: number;
}

/**
 * The optimizer over a list of variables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import "../ops/gradients.ts";
 * import { Adam } from "./adam.ts";
 * await tf.setBackend("cpu");
 * const w = tf.variable(tf.tensor1d([1, -1]));
 * const adam = new Adam([w], { lr: 0.1 });
 * const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(w)), [w]);
 * adam.step(grads);
 * // Adam's first step moves every parameter by about lr, against its gradient.
 * const [a, b] = await w.data();
 * assert.ok(Math.abs(a - 0.9) < 1e-6 && Math.abs(b + 0.9) < 1e-6);
 * assert.equal(adam.steps, 1);
 * tf.dispose([value, grads, w]);
 * adam.dispose();
 * ```
 */
export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly #params: tf.Variable[];
  readonly #m: tf.Variable[];
  readonly #v: tf.Variable[];
  #steps = 0;

  /** Creates zeroed moments for `params`. */
  constructor(params: tf.Variable[], options: AdamOptions) {
    this.#params = [...params];
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    const zeros = () =>
      this.#params.map((p) => {
        const z = tf.zerosLike(p);
        const v = tf.variable(z, false);
        z.dispose();
        return v;
      });
    this.#m = zeros();
    this.#v = zeros();
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * Applies one update from gradients keyed by variable name (what
   * `tf.variableGrads` returns); every parameter must have one.
   */
  step(grads: tf.NamedTensorMap): void {
    const g = this.#params.map((p) => {
      const grad = grads[p.name];
      if (!grad) throw new Error(`No gradient for variable "${p.name}"`);
      return grad;
    });
    const step = this.#steps + 1;
    tf.tidy(() => {
      const next = adamUpdate(this.#params, g, this.#m, this.#v, {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        epsilon: this.epsilon,
        step,
      });
      this.#params.forEach((p, i) => p.assign(next.params[i]));
      this.#m.forEach((m, i) => m.assign(next.m[i]));
      this.#v.forEach((v, i) => v.assign(next.v[i]));
    });
    this.#steps = step;
  }

  /** Frees the moments (not the parameters). */
  dispose(): void {
    tf.dispose([...this.#m, ...this.#v]);
  }
}

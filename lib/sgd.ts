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
import { SGD_KERNEL } from "./native/sgd_kernels.ts";
import type { StateDict } from "./state_dict.ts";

/** Hyper-parameters; `lr` may change between steps. */
export interface SgdOptions {
  lr: number;
  /** @default {0.9} */
  momentum?: number;
  /** @default {1e-4} */
  weightDecay?: number;
}

/**
 * The optimizer over named variables.
 *
 * @example
 * ```ts ignore
 * const sgd = new Sgd(model.trainable(), { lr: 0.1 });
 * const { grads } = tf.variableGrads(loss);
 * sgd.step(grads);
 * tf.dispose(grads);
 * ```
 */
export class Sgd {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly #params: Map<string, tf.Variable>;
  readonly #buffers = new Map<string, tf.Variable>();

  /** Creates zeroed momentum buffers for `params`. */
  constructor(params: Map<string, tf.Variable>, options: SgdOptions) {
    this.#params = params;
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0.9;
    this.weightDecay = options.weightDecay ?? 1e-4;
    for (const [name, p] of params) {
      const zeros = tf.zerosLike(p);
      this.#buffers.set(name, tf.variable(zeros, false));
      zeros.dispose();
    }
  }

  /** Applies one update from gradients keyed by variable name (tfjs `variableGrads` keys). */
  step(grads: tf.NamedTensorMap): void {
    // Check first, so a missing gradient cannot leave a half-applied step.
    for (const [name, p] of this.#params) {
      if (!grads[p.name]) throw new Error(`No gradient for parameter "${name}"`);
    }
    if (tf.getKernel(SGD_KERNEL, tf.getBackend())) {
      // One fused kernel a parameter (the `native` backend).
      const attrs = { lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay };
      tf.tidy(() => {
        for (const [name, p] of this.#params) {
          const buffer = this.#buffers.get(name)!;
          const [np, nb] = tf.engine().runKernel(
            SGD_KERNEL,
            { param: p, grad: grads[p.name], buffer },
            attrs,
          ) as tf.Tensor[];
          buffer.assign(nb);
          p.assign(np);
        }
      });
      return;
    }
    tf.tidy(() => {
      const lr = tf.scalar(this.lr);
      const wd = tf.scalar(this.weightDecay);
      const mom = tf.scalar(this.momentum);
      for (const [name, p] of this.#params) {
        const g = grads[p.name];
        const buf = this.#buffers.get(name)!;
        const d = tf.add(g, tf.mul(wd, p));
        buf.assign(tf.add(tf.mul(mom, buf), d));
        p.assign(tf.sub(p, tf.mul(lr, buf)));
      }
    });
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
  }
}

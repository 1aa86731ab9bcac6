/**
 * ResNet20 for CIFAR-10 as in He et al. 2016, section 4.2 (n = 3, option-A
 * shortcuts: stride-2 subsampling and zero-padded channels), built from
 * tfjs-core ops so every number matches PyTorch's `pytorch_resnet20.py`:
 * 269,722 trainable parameters, explicit padding 1 on every 3x3 conv (tfjs's
 * "same" pads stride-2 convs bottom/right only, PyTorch pads both sides), and
 * batch norm with PyTorch's conventions (eps 1e-5; running averages updated
 * as `running = 0.9 * running + 0.1 * batch`, the variance unbiased).
 *
 * Activations are NHWC `[N, 32, 32, 3]`. Parameters are held in tfjs layouts
 * (conv HWIO, linear `[in, out]`) under PyTorch `state_dict` names; see
 * {@linkcode ResNet20.stateDict} for the conversion to PyTorch layouts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { NUM_CLASSES } from "../data/cifar.ts";
import { addRelu, batchNormRunningUpdateAll, batchNormTrain, globalAvgPool, shortcutA } from "../ops/mod.ts";
import { Rng } from "../data/rng.ts";
import { defaultBound, uniformInit } from "./init.ts";
import { checkStateDict, type StateDict, type TensorSpec } from "../formats/state_dict.ts";

/** Batch-norm epsilon (PyTorch default). */
export const BN_EPS = 1e-5;
/** Weight of the new batch in the running averages (PyTorch's `momentum`). */
export const BN_MOMENTUM = 0.1;

/** A parameter or buffer's role, which fixes its PyTorch layout. */
export type ParamKind = "conv" | "linear.weight" | "vector";

/** One named entry of the model's state, in tfjs layout. */
export interface ModelTensor {
  /** PyTorch `state_dict` name, e.g. `layer2.0.conv1.weight`. */
  name: string;
  kind: ParamKind;
  variable: tf.Variable;
  /** Trained by the optimizer (false for BN running statistics). */
  trainable: boolean;
}

interface BatchNorm {
  gamma: tf.Variable;
  beta: tf.Variable;
  runningMean: tf.Variable;
  runningVar: tf.Variable;
  /** `num_batches_tracked`, kept on the host: it is an int64 in PyTorch. */
  tracked: { value: number };
}

/** A batch norm's statistics over one training batch (`count` values a channel). */
interface BatchStats {
  bn: BatchNorm;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  count: number;
}

interface Block {
  prefix: string;
  conv1: tf.Variable;
  bn1: BatchNorm;
  conv2: tf.Variable;
  bn2: BatchNorm;
  stride: number;
  /** Channels added by the option-A shortcut (0: identity). */
  pad: number;
}

/**
 * Training-mode batch norm over `[N, H, W]` per channel. Returns the
 * normalised output (clamped at zero when `relu` is set) with the batch
 * mean and biased variance.
 */
export type BatchNormTrainFn = (
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  relu?: boolean,
) => { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D };

/**
 * Plain tfjs ops; tfjs differentiates through them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { batchNormTrainOps } from "./resnet20.ts";
 * await tf.setBackend("cpu");
 * const x = tf.tensor4d([1, 2, 3, 4], [4, 1, 1, 1]); // one channel, mean 2.5, variance 1.25
 * const { y, mean, variance } = batchNormTrainOps(x, tf.ones([1]), tf.zeros([1]), 1e-5);
 * assert.deepEqual(await mean.data(), Float32Array.of(2.5));
 * assert.deepEqual(await variance.data(), Float32Array.of(1.25));
 * assert.ok(Math.abs((await y.data())[3] - 1.5 / Math.sqrt(1.25)) < 1e-4);
 * tf.dispose([x, y, mean, variance]);
 * ```
 */
export const batchNormTrainOps: BatchNormTrainFn = (x, gamma, beta, eps, relu = false) => {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const y = tf.batchNorm4d(x, mean as tf.Tensor1D, variance as tf.Tensor1D, beta, gamma, eps);
  return { y: relu ? tf.relu(y) : y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
};

/** Options for {@linkcode ResNet20}. */
export interface ResNet20Options {
  /** Seed for PyTorch-style default initialisation. @default {0} */
  seed?: number;
  /**
   * Training-mode batch norm. The default is one op with a closed-form
   * gradient (`batchNormTrain` of `lib/ops/`): fused kernels on backends that
   * register them, plain tfjs ops elsewhere.
   * @default {batchNormTrain}
   */
  batchNormTrain?: BatchNormTrainFn;
}

let instances = 0;

/**
 * ResNet20 with PyTorch's default initialisation (uniform in
 * ±1/sqrt(fan_in) for conv and linear weights and the linear bias; BN weight
 * 1, bias 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { ResNet20 } from "./resnet20.ts";
 * await tf.setBackend("cpu");
 * const model = new ResNet20({ seed: 0 });
 * assert.equal(model.parameterCount(), 269_722);
 * const logits = tf.tidy(() => model.forward(tf.zeros([1, 32, 32, 3]), false)); // eval mode
 * assert.deepEqual(logits.shape, [1, 10]);
 * const state = await model.stateDict();
 * assert.deepEqual(state.get("conv1.weight")!.shape, [16, 3, 3, 3]); // PyTorch OIHW
 * logits.dispose();
 * model.dispose();
 * ```
 */
export class ResNet20 {
  /** Every parameter and buffer in PyTorch `state_dict` order. */
  readonly tensors: ModelTensor[] = [];
  /** `num_batches_tracked` of every BN layer, by PyTorch name. */
  readonly tracked = new Map<string, { value: number }>();
  readonly #conv1: tf.Variable;
  readonly #bn1: BatchNorm;
  readonly #blocks: Block[] = [];
  readonly #linearW: tf.Variable;
  readonly #linearB: tf.Variable;
  readonly #bnTrain: BatchNormTrainFn;
  readonly #id = ++instances;

  /** Builds the model; variables live until {@linkcode ResNet20.dispose}. */
  constructor(options: ResNet20Options = {}) {
    const rng = new Rng(options.seed ?? 0);
    this.#bnTrain = options.batchNormTrain ?? batchNormTrain;
    this.#conv1 = this.#conv("conv1.weight", rng, 3, 16);
    this.#bn1 = this.#bn("bn1", 16);
    let cin = 16;
    for (const [i, cout, stride] of [[1, 16, 1], [2, 32, 2], [3, 64, 2]]) {
      for (let k = 0; k < 3; k++) {
        const prefix = `layer${i}.${k}`;
        const s = k === 0 ? stride : 1;
        const inC = k === 0 ? cin : cout;
        const conv1 = this.#conv(`${prefix}.conv1.weight`, rng, inC, cout);
        const bn1 = this.#bn(`${prefix}.bn1`, cout);
        const conv2 = this.#conv(`${prefix}.conv2.weight`, rng, cout, cout);
        const bn2 = this.#bn(`${prefix}.bn2`, cout);
        const pad = s !== 1 || inC !== cout ? cout - inC : 0;
        this.#blocks.push({ prefix, conv1, bn1, conv2, bn2, stride: s, pad });
      }
      cin = cout;
    }
    const bound = defaultBound(64);
    this.#linearW = this.#add(
      "linear.weight",
      "linear.weight",
      uniformInit(rng, [64, NUM_CLASSES], bound),
      true,
    );
    this.#linearB = this.#add("linear.bias", "vector", uniformInit(rng, [NUM_CLASSES], bound), true);
  }

  /** Trainable variables by PyTorch name. */
  trainable(): Map<string, tf.Variable> {
    return new Map(this.tensors.filter((t) => t.trainable).map((t) => [t.name, t.variable]));
  }

  /** Number of trainable scalars (269,722 for ResNet20). */
  parameterCount(): number {
    return this.tensors.filter((t) => t.trainable).reduce((n, t) => n + t.variable.size, 0);
  }

  /**
   * Logits `[N, 10]` for NHWC images `[N, 32, 32, 3]`. In training mode,
   * batch norm uses batch statistics and updates the running averages (call
   * it once per optimisation step); in eval mode it uses the running ones.
   */
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    // Training: the batch statistics of every batch norm, for their running averages.
    const stats: BatchStats[] | null = training ? [] : null;
    let h = this.#bnApply(this.#conv2d(x, this.#conv1, 1), this.#bn1, stats, true);
    for (const b of this.#blocks) {
      const y = this.#bnApply(this.#conv2d(h, b.conv1, b.stride), b.bn1, stats, true);
      const z = this.#bnApply(this.#conv2d(y, b.conv2, 1), b.bn2, stats, false);
      h = addRelu(z, b.pad ? shortcutA(h, z.shape[3]) : h);
    }
    if (stats) this.#updateRunning(stats);
    const pooled = globalAvgPool(h);
    return tf.add(tf.matMul(pooled, this.#linearW), this.#linearB);
  }

  /**
   * The expected PyTorch `state_dict`: names, dtypes and PyTorch shapes
   * (conv OIHW, linear `[out, in]`, `num_batches_tracked` an I64 scalar),
   * and what the values may be: a `running_var` is a variance, never
   * negative (PyTorch's and tfjs's `cpu` batch norm would give NaN, a
   * fused kernel finite nonsense), and `num_batches_tracked` a count in
   * 0..2^53-1 (it is kept as a JS number).
   */
  spec(): Map<string, TensorSpec> {
    const spec = new Map<string, TensorSpec>();
    for (const t of this.tensors) {
      const shape = toTorchShape(t.kind, t.variable.shape);
      const bn = t.name.match(/^(.*)\.running_var$/);
      spec.set(t.name, bn ? { dtype: "F32", shape, min: 0 } : { dtype: "F32", shape });
      if (bn) {
        spec.set(`${bn[1]}.num_batches_tracked`, {
          dtype: "I64",
          shape: [],
          min: 0,
          max: Number.MAX_SAFE_INTEGER,
        });
      }
    }
    return spec;
  }

  /** The weights as PyTorch's `state_dict`, in its order and layouts. */
  async stateDict(): Promise<StateDict> {
    const state: StateDict = new Map();
    for (const t of this.tensors) {
      // A copy: on CPU backends the values may share the variable's buffer.
      const torch = tf.tidy(() => toTorchLayout(t.kind, t.variable));
      const data = Float32Array.from(await torch.data());
      torch.dispose();
      state.set(t.name, { dtype: "F32", shape: toTorchShape(t.kind, t.variable.shape), data });
      const bn = t.name.match(/^(.*)\.running_var$/);
      if (bn) {
        const tracked = this.tracked.get(`${bn[1]}.num_batches_tracked`)!;
        state.set(`${bn[1]}.num_batches_tracked`, {
          dtype: "I64",
          shape: [],
          data: new BigInt64Array([BigInt(tracked.value)]),
        });
      }
    }
    return state;
  }

  /**
   * Replaces every parameter and buffer with `state` (PyTorch names and
   * layouts), after checking names, dtypes, shapes, finiteness and what the
   * values mean ({@linkcode ResNet20.spec}): a mismatch throws and leaves
   * the model unchanged.
   */
  loadStateDict(state: StateDict, source = "state dict"): void {
    checkStateDict(state, this.spec(), { source });
    tf.tidy(() => {
      for (const t of this.tensors) {
        const h = state.get(t.name)!;
        t.variable.assign(fromTorchLayout(t.kind, tf.tensor(h.data as Float32Array, h.shape)));
      }
    });
    for (const [name, tracked] of this.tracked) {
      tracked.value = Number((state.get(name)!.data as BigInt64Array)[0]);
    }
  }

  /** Frees every variable. */
  dispose(): void {
    for (const t of this.tensors) t.variable.dispose();
  }

  #conv2d(x: tf.Tensor4D, w: tf.Variable, stride: number): tf.Tensor4D {
    // Explicit symmetric padding, as PyTorch's padding=1.
    return tf.conv2d(x, w as tf.Tensor4D, stride, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  }

  /**
   * Batch norm, then ReLU when `relu` is set: on the running averages, or
   * (training) on the batch's statistics, which go into `stats`.
   */
  #bnApply(x: tf.Tensor4D, bn: BatchNorm, stats: BatchStats[] | null, relu: boolean): tf.Tensor4D {
    if (!stats) {
      const y = tf.batchNorm4d(
        x,
        bn.runningMean as tf.Tensor1D,
        bn.runningVar as tf.Tensor1D,
        bn.beta as tf.Tensor1D,
        bn.gamma as tf.Tensor1D,
        BN_EPS,
      );
      return relu ? tf.relu(y) : y;
    }
    const { y, mean, variance } = this.#bnTrain(
      x,
      bn.gamma as tf.Tensor1D,
      bn.beta as tf.Tensor1D,
      BN_EPS,
      relu,
    );
    stats.push({ bn, mean, variance, count: x.size / x.shape[3] });
    return y;
  }

  /** Every batch norm's running averages from its batch statistics, in one op. */
  #updateRunning(stats: readonly BatchStats[]): void {
    tf.tidy(() => {
      const next = batchNormRunningUpdateAll(
        stats.map(({ bn, mean, variance, count }) => ({
          runningMean: bn.runningMean as tf.Tensor1D,
          runningVar: bn.runningVar as tf.Tensor1D,
          mean,
          variance,
          count,
        })),
        BN_MOMENTUM,
      );
      stats.forEach(({ bn }, i) => {
        bn.runningMean.assign(next[i][0]);
        bn.runningVar.assign(next[i][1]);
        bn.tracked.value += 1;
      });
    });
  }

  #conv(name: string, rng: Rng, cin: number, cout: number): tf.Variable {
    return this.#add(name, "conv", uniformInit(rng, [3, 3, cin, cout], defaultBound(cin * 9)), true);
  }

  #bn(prefix: string, c: number): BatchNorm {
    const tracked = { value: 0 };
    this.tracked.set(`${prefix}.num_batches_tracked`, tracked);
    return {
      gamma: this.#add(`${prefix}.weight`, "vector", tf.ones([c]), true),
      beta: this.#add(`${prefix}.bias`, "vector", tf.zeros([c]), true),
      runningMean: this.#add(`${prefix}.running_mean`, "vector", tf.zeros([c]), false),
      runningVar: this.#add(`${prefix}.running_var`, "vector", tf.ones([c]), false),
      tracked,
    };
  }

  #add(name: string, kind: ParamKind, init: tf.Tensor, trainable: boolean): tf.Variable {
    const variable = tf.variable(init, trainable, `resnet20#${this.#id}/${name}`);
    init.dispose();
    this.tensors.push({ name, kind, variable, trainable });
    return variable;
  }
}

/**
 * Option A: identity, or stride-2 subsampling (`x[:, ::2, ::2, :]`) plus zero
 * channels split evenly. The subsampling is a reshape and slice because tfjs
 * has no gradient for `stridedSlice`; H and W are even in ResNet20.
 *
 * Everything stays rank 4: `[N, H, W, C]` is viewed as
 * `[N * H/2, 2, W/2, 2 * C]` (row pairs; column pairs side by side in the
 * last axis) and the first row and first C channels kept. The slice's
 * gradient is a pad of the same rank, and tfjs-backend-webgpu 4.22's PadV2
 * shader only handles ranks 1-4: a rank-5/6 pad fails to compile and
 * silently zeroes its output and the rest of that GPU submission, which
 * wrecked training on WebGPU (see `tests/webgpu_test.ts`).
 */
function toTorchShape(kind: ParamKind, shape: number[]): number[] {
  if (kind === "conv") return [shape[3], shape[2], shape[0], shape[1]];
  if (kind === "linear.weight") return [shape[1], shape[0]];
  return [...shape];
}

/** HWIO -> OIHW; `[in, out]` -> `[out, in]`. */
function toTorchLayout(kind: ParamKind, t: tf.Tensor): tf.Tensor {
  if (kind === "conv") return tf.transpose(t, [3, 2, 0, 1]);
  if (kind === "linear.weight") return tf.transpose(t);
  return t.clone();
}

/** OIHW -> HWIO; `[out, in]` -> `[in, out]`. */
function fromTorchLayout(kind: ParamKind, t: tf.Tensor): tf.Tensor {
  if (kind === "conv") return tf.transpose(t, [2, 3, 1, 0]);
  if (kind === "linear.weight") return tf.transpose(t);
  return t;
}

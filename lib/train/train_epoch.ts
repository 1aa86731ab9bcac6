/**
 * Lab 2's training and evaluation passes over CIFAR-10 for {@linkcode ResNet20}:
 * one epoch of shuffled, augmented mini-batches with SGD, and a no-grad
 * evaluation in eval mode. Loss is cross-entropy averaged over the batch (per
 * example), accuracy the fraction of correct top-1 predictions; sums stay on
 * the device and are read once per epoch (or per progress update).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "../ops/gradients.ts";
import { drawAugmentParams, labelsOf, makeBatch, normalise, planBatch } from "../data/batches.ts";
import { type CifarSplit, IMAGE_BYTES, NUM_CLASSES } from "../data/cifar.ts";
import type { ResNet20 } from "../models/resnet20.ts";
import type { Rng } from "../data/rng.ts";
import type { Sgd } from "./sgd.ts";
import { LAB2_DEFAULTS } from "./defaults.ts";
import { EagerStepRunner, type StepRunner } from "./train_step.ts";
import { DeviceImages, fitsOnDevice } from "./device_batches.ts";
import { type CompiledStep, softmaxCrossEntropy, type StepCompiler, stepCompiler } from "../ops/mod.ts";

export {
  CompiledStepRunner,
  createStepRunner,
  type DeviceStep,
  EagerStepRunner,
  type StepRunner,
  trainStep,
  trainStepOn,
} from "./train_step.ts";

/** Loss and accuracy over a pass. */
export interface PassResult {
  /** Mean cross-entropy per example. */
  loss: number;
  /** Top-1 accuracy in [0, 1]. */
  acc: number;
  /** Examples seen. */
  count: number;
  /** Wall time of the pass. */
  seconds: number;
}

/**
 * Where an epoch's wall time went, in milliseconds (added to, so one object
 * can sum several epochs): assembling batches (permutation, augmentation,
 * normalisation, labels), running steps, and reading the sums back (which
 * waits for queued device work).
 */
export interface EpochTimings {
  batchMs: number;
  stepMs: number;
  readMs: number;
}

/** Options for {@linkcode trainEpoch}. */
export interface TrainEpochOptions {
  /** @default {LAB2_DEFAULTS.batchSize} (128) */
  batchSize?: number;
  /**
   * Called every `progressEvery` steps (and after the last) with the images
   * done and the running mean loss and accuracy over them; reading them
   * syncs with the device, so keep it sparse.
   */
  onProgress?: (done: number, runningLoss: number, runningAcc: number) => void;
  /** @default {20} */
  progressEvery?: number;
  /**
   * What runs the steps; its sums are reset at the start of the epoch.
   * @default {an EagerStepRunner of model and sgd, disposed after the epoch}
   */
  runner?: StepRunner;
  /** Adds the epoch's time per phase here (`bench/profile.ts`). */
  timings?: EpochTimings;
}

/**
 * One epoch: a permutation of `train` from `rng`, each batch augmented
 * (random crop + flip, drawn from `rng` after the permutation) and used for
 * one SGD step at `sgd.lr`. The last batch may be smaller.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { Rng } from "../data/rng.ts";
 * import { ResNet20 } from "../models/resnet20.ts";
 * import { registerNativeBackend } from "../native/mod.ts";
 * import { Sgd } from "./sgd.ts";
 * import { trainEpoch } from "./train_epoch.ts";
 * // The `native` backend (oneDNN/BLAS through FFI): on `cpu`, one ResNet20 step takes ~20 s.
 * await registerNativeBackend();
 * await tf.setBackend("native");
 * const model = new ResNet20({ seed: 0 });
 * const sgd = new Sgd(model.trainable(), { lr: 0.1 });
 * // Two black images; a lab passes loadCifar10()'s train split and batches of 128.
 * const train = { images: new Uint8Array(2 * 3072), labels: Uint8Array.of(3, 5), count: 2 };
 * const r = await trainEpoch(model, sgd, train, new Rng(0), { batchSize: 2 });
 * assert.equal(r.count, 2);
 * assert.ok(r.loss > 0 && r.acc >= 0 && r.acc <= 1);
 * sgd.dispose();
 * model.dispose();
 * ```
 */
export async function trainEpoch(
  model: ResNet20,
  sgd: Sgd,
  train: CifarSplit,
  rng: Rng,
  options: TrainEpochOptions = {},
): Promise<PassResult> {
  const batchSize = options.batchSize ?? LAB2_DEFAULTS.batchSize;
  const every = options.progressEvery ?? 20;
  const start = performance.now();
  const t = options.timings ?? { batchMs: 0, stepMs: 0, readMs: 0 };
  let t0 = start;
  const lap = (phase: keyof EpochTimings) => {
    const now = performance.now();
    t[phase] += now - t0;
    t0 = now;
  };
  const order = rng.permutation(train.count);
  const runner: StepRunner = options.runner ?? new EagerStepRunner(model, sgd);
  runner.reset();
  let step = 0;
  // Batches built on the device where the runner can (the same batches).
  const deviceStep = runner.deviceStep?.(train) ?? null;
  // Else one input buffer for the epoch: each step is done with it before
  // the next batch overwrites it.
  const batch = deviceStep ? null : new Float32Array(batchSize * IMAGE_BYTES);
  try {
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.subarray(s, Math.min(s + batchSize, order.length));
      const labels = labelsOf(train, idx);
      if (deviceStep) {
        // The draws makeBatch would make, in the same order.
        const params = drawAugmentParams(idx.length, rng);
        lap("batchMs");
        deviceStep(idx, params, labels);
      } else {
        const x = makeBatch(train, idx, { augment: true, rng, out: batch! });
        lap("batchMs");
        runner.step(x.subarray(0, idx.length * IMAGE_BYTES), labels);
      }
      lap("stepMs");
      step++;
      const done = s + idx.length;
      if (options.onProgress && (step % every === 0 || done >= order.length)) {
        const { loss, correct } = await runner.totals();
        lap("readMs");
        options.onProgress(done, loss / done, correct / done);
        t0 = performance.now();
      }
    }
    const { loss, correct } = await runner.totals();
    lap("readMs");
    return {
      loss: loss / train.count,
      acc: correct / train.count,
      count: train.count,
      seconds: (performance.now() - start) / 1000,
    };
  } finally {
    if (!options.runner) runner.dispose();
  }
}

/** Options for {@linkcode evaluate}. */
export interface EvaluateOptions {
  /**
   * Images per forward pass. Every activation of a pass stays alive until the
   * pass ends, so this bounds peak memory (~4 MB per image for ResNet20).
   * @default {LAB2_DEFAULTS.evalBatchSize} (128)
   */
  batchSize?: number;
  /** Also return the logits `[count, 10]`, row-major. @default {false} */
  logits?: boolean;
  /**
   * Compile the forward pass where the backend can (WebGPU): recorded once,
   * replayed per batch, the results read back once at the end.
   * @default {true}
   */
  compiled?: boolean;
}

/** {@linkcode PassResult} plus predictions, and logits when asked for. */
export interface EvalResult extends PassResult {
  /** Top-1 class of each example. */
  predictions: Int32Array;
  logits?: Float32Array;
}

/**
 * Eval-mode pass over `split` (running BN statistics, no augmentation, no
 * gradients).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { ResNet20 } from "../models/resnet20.ts";
 * import { evaluate } from "./train_epoch.ts";
 * await tf.setBackend("cpu");
 * const model = new ResNet20({ seed: 0 });
 * // Two black images; a lab passes loadCifar10()'s test split.
 * const test = { images: new Uint8Array(2 * 3072), labels: Uint8Array.of(3, 5), count: 2 };
 * const r = await evaluate(model, test, { logits: true });
 * assert.equal(r.count, 2);
 * assert.equal(r.predictions.length, 2);
 * assert.equal(r.logits!.length, 2 * 10);
 * assert.ok(r.acc >= 0 && r.acc <= 1);
 * model.dispose();
 * ```
 */
export async function evaluate(
  model: ResNet20,
  split: CifarSplit,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const evaluator = new Evaluator(model, { compiled: options.compiled });
  try {
    return await evaluator.evaluate(split, options);
  } finally {
    evaluator.dispose();
  }
}

/**
 * Evaluation passes of one model, for a run that evaluates after every
 * epoch: where the backend compiles steps, the forward pass is recorded once
 * (per batch size) and replayed in every later pass.
 *
 * @example
 * ```ts ignore
 * const evaluator = new Evaluator(model);
 * for (let epoch = 1; epoch <= 10; epoch++) console.log((await evaluator.evaluate(test)).acc);
 * evaluator.dispose();
 * ```
 */
export class Evaluator {
  readonly #model: ResNet20;
  readonly #compiler: StepCompiler | undefined;
  readonly #deviceBatches: boolean;
  /**
   * The compiled pass, whether it outputs the logits too, and the split
   * whose images it holds on the device (null: batches come from the host).
   */
  #compiled: { step: CompiledStep; withLogits: boolean; images: DeviceImages | null } | null = null;

  /**
   * An evaluator of `model`; `compiled: false` runs every pass op by op;
   * `deviceBatches: false` has a compiled pass upload every batch instead of
   * holding the split's images on the device (the same numbers either way).
   */
  constructor(model: ResNet20, options: { compiled?: boolean; deviceBatches?: boolean } = {}) {
    this.#model = model;
    this.#compiler = options.compiled === false ? undefined : stepCompiler();
    this.#deviceBatches = options.deviceBatches ?? true;
  }

  /** One eval-mode pass over `split`. */
  async evaluate(split: CifarSplit, options: Omit<EvaluateOptions, "compiled"> = {}): Promise<EvalResult> {
    const batchSize = options.batchSize ?? LAB2_DEFAULTS.evalBatchSize;
    const start = performance.now();
    const result = this.#compiler
      ? await this.#compiledPass(split, batchSize, options.logits ?? false)
      : await this.#eagerPass(split, batchSize, options.logits ?? false);
    let correct = 0;
    for (let i = 0; i < split.count; i++) if (result.predictions[i] === split.labels[i]) correct++;
    return {
      loss: result.lossSum / split.count,
      acc: correct / split.count,
      count: split.count,
      seconds: (performance.now() - start) / 1000,
      predictions: result.predictions,
      logits: result.logits,
    };
  }

  /** Frees the compiled pass, if any, and the images it holds. */
  dispose(): void {
    this.#compiled?.step.dispose();
    this.#compiled?.images?.dispose();
    this.#compiled = null;
  }

  async #eagerPass(split: CifarSplit, batchSize: number, withLogits: boolean) {
    const predictions = new Int32Array(split.count);
    const logits = withLogits ? new Float32Array(split.count * NUM_CLASSES) : undefined;
    let lossSum = 0;
    const batch = new Float32Array(batchSize * IMAGE_BYTES);
    for (let s = 0; s < split.count; s += batchSize) {
      const n = Math.min(batchSize, split.count - s);
      const idx = Int32Array.from({ length: n }, (_, i) => s + i);
      const labels = labelsOf(split, idx);
      const [loss, pred, out] = tf.tidy(() => {
        const images = normalise(split, idx, { out: batch }).subarray(0, n * IMAGE_BYTES);
        return forwardEval(this.#model, tf.tensor4d(images, [n, 32, 32, 3]), tf.tensor1d(labels, "int32"));
      });
      lossSum += (await loss.data())[0];
      predictions.set(await pred.data() as Int32Array, s);
      if (logits) logits.set(await out.data() as Float32Array, s * NUM_CLASSES);
      tf.dispose([loss, pred, out]);
    }
    return { lossSum, predictions, logits };
  }

  /**
   * The compiled forward pass for `split`: recorded again when the logits
   * are wanted or not, or for another split held on the device.
   */
  #compiledFor(split: CifarSplit, withLogits: boolean): { step: CompiledStep; images: DeviceImages | null } {
    const onDevice = this.#deviceBatches && fitsOnDevice(split.count);
    const c = this.#compiled;
    if (c && c.withLogits === withLogits && (onDevice ? c.images?.split === split : c.images === null)) {
      return c;
    }
    this.dispose();
    const model = this.#model;
    const images = onDevice ? new DeviceImages(split) : null;
    const step = this.#compiler!({
      inputs: [
        images ? { shape: [1, 4], dtype: "int32" } : { shape: [1, 32, 32, 3], dtype: "float32" },
        { shape: [1], dtype: "int32" },
      ],
      state: model.tensors.map((t) => t.variable),
      constants: images?.tensors ?? [],
      run: ([input, y]) => {
        const x = images ? images.batch(input as tf.Tensor2D) : input as tf.Tensor4D;
        const [loss, pred, logits] = forwardEval(model, x, y as tf.Tensor1D);
        return withLogits ? [pred, loss, logits] : [pred, loss];
      },
    });
    this.#compiled = { step, withLogits, images };
    return this.#compiled;
  }

  async #compiledPass(split: CifarSplit, batchSize: number, withLogits: boolean) {
    const { step: compiled, images } = this.#compiledFor(split, withLogits);
    const batches = Math.ceil(split.count / batchSize);
    const preds = compiled.collector(4 * split.count);
    const losses = compiled.collector(4 * batches);
    const outs = withLogits ? compiled.collector(4 * NUM_CLASSES * split.count) : null;
    try {
      // A plan per batch where the images are on the device, else the batch itself.
      const batch = images ? new Int32Array(4 * batchSize) : new Float32Array(batchSize * IMAGE_BYTES);
      for (let b = 0, s = 0; s < split.count; b++, s += batchSize) {
        const n = Math.min(batchSize, split.count - s);
        const idx = Int32Array.from({ length: n }, (_, i) => s + i);
        const input = batch instanceof Int32Array
          ? planBatch(split, idx, { out: batch }).subarray(0, 4 * n)
          : normalise(split, idx, { out: batch }).subarray(0, n * IMAGE_BYTES);
        compiled.run([input, labelsOf(split, idx)], [
          { into: preds, byteOffset: 4 * s },
          { into: losses, byteOffset: 4 * b },
          outs && { into: outs, byteOffset: 4 * NUM_CLASSES * s },
        ]);
      }
      const [p, l, o] = await Promise.all([preds.read(), losses.read(), outs?.read()]);
      // Summed in batch order, as the op-by-op pass adds them.
      let lossSum = 0;
      for (const v of new Float32Array(l)) lossSum += v;
      return { lossSum, predictions: new Int32Array(p), logits: o ? new Float32Array(o) : undefined };
    } finally {
      preds.dispose();
      losses.dispose();
      outs?.dispose();
    }
  }
}

/** Eval-mode forward of a batch: `[summed cross-entropy, top-1 class (int32), logits]`. */
function forwardEval(model: ResNet20, x: tf.Tensor4D, y: tf.Tensor1D): [tf.Scalar, tf.Tensor1D, tf.Tensor2D] {
  const z = model.forward(x, false);
  return [softmaxCrossEntropy(z, y, { sum: true }), tf.argMax(z, 1) as tf.Tensor1D, z];
}

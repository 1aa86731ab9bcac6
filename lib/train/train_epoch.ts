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
import { labelsOf, makeBatch, normalise } from "../data/batches.ts";
import { type CifarSplit, IMAGE_BYTES, NUM_CLASSES } from "../data/cifar.ts";
import type { ResNet20 } from "../models/resnet20.ts";
import type { Rng } from "../data/rng.ts";
import type { Sgd } from "./sgd.ts";
import { LAB2_DEFAULTS } from "./defaults.ts";
import { EagerStepRunner, type StepRunner } from "./train_step.ts";

export {
  CompiledStepRunner,
  createStepRunner,
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
  const order = rng.permutation(train.count);
  const runner = options.runner ?? new EagerStepRunner(model, sgd);
  runner.reset();
  let step = 0;
  // One input buffer for the epoch: each step is done with it before the
  // next batch overwrites it.
  const batch = new Float32Array(batchSize * IMAGE_BYTES);
  try {
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.subarray(s, Math.min(s + batchSize, order.length));
      const x = makeBatch(train, idx, { augment: true, rng, out: batch }).subarray(
        0,
        idx.length * IMAGE_BYTES,
      );
      runner.step(x, labelsOf(train, idx));
      step++;
      const done = s + idx.length;
      if (options.onProgress && (step % every === 0 || done >= order.length)) {
        const { loss, correct } = await runner.totals();
        options.onProgress(done, loss / done, correct / done);
      }
    }
    const { loss, correct } = await runner.totals();
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
  const batchSize = options.batchSize ?? LAB2_DEFAULTS.evalBatchSize;
  const start = performance.now();
  const predictions = new Int32Array(split.count);
  const logits = options.logits ? new Float32Array(split.count * NUM_CLASSES) : undefined;
  let lossSum = 0;
  let correct = 0;
  const batch = new Float32Array(batchSize * IMAGE_BYTES);
  for (let s = 0; s < split.count; s += batchSize) {
    const n = Math.min(batchSize, split.count - s);
    const idx = Int32Array.from({ length: n }, (_, i) => s + i);
    const labels = labelsOf(split, idx);
    const [loss, pred, out] = tf.tidy(() => {
      const x = tf.tensor4d(normalise(split, idx, { out: batch }).subarray(0, n * IMAGE_BYTES), [
        n,
        32,
        32,
        3,
      ]);
      const y = tf.tensor1d(labels, "int32");
      const z = model.forward(x, false);
      const loss = tf.losses.softmaxCrossEntropy(
        tf.oneHot(y, NUM_CLASSES),
        z,
        undefined,
        undefined,
        tf.Reduction.SUM,
      );
      return [loss, tf.argMax(z, 1), z];
    });
    lossSum += (await loss.data())[0];
    const p = await pred.data() as Int32Array;
    predictions.set(p, s);
    for (let i = 0; i < n; i++) if (p[i] === labels[i]) correct++;
    if (logits) logits.set(await out.data() as Float32Array, s * NUM_CLASSES);
    tf.dispose([loss, pred, out]);
  }
  return {
    loss: lossSum / split.count,
    acc: correct / split.count,
    count: split.count,
    seconds: (performance.now() - start) / 1000,
    predictions,
    logits,
  };
}

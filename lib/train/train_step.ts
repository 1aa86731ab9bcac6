/**
 * One training step of ResNet20 (forward in training mode, mean
 * cross-entropy, gradients, SGD) and what runs steps for an epoch: op by op
 * through tfjs's engine ({@linkcode EagerStepRunner}), or recorded once and
 * replayed where the backend compiles steps ({@linkcode CompiledStepRunner},
 * WebGPU). Both keep the summed loss and correct count on the device.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "../ops/gradients.ts";
import { type AugmentParams, planBatch } from "../data/batches.ts";
import type { CifarSplit } from "../data/cifar.ts";
import type { ResNet20 } from "../models/resnet20.ts";
import {
  type CompiledStep,
  type KernelTime,
  softmaxCrossEntropy,
  type StepCompiler,
  stepCompiler,
  type StepInput,
} from "../ops/mod.ts";
import type { Sgd } from "./sgd.ts";
import { DeviceImages, fitsOnDevice } from "./device_batches.ts";

/**
 * One optimisation step on a batch: forward in training mode, mean
 * cross-entropy, gradients of every trainable variable, SGD update. Returns
 * the batch's summed loss and number of correct predictions (the caller
 * disposes them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import { ResNet20 } from "../models/resnet20.ts";
 * import { registerNativeBackend } from "../native/mod.ts";
 * import { Sgd } from "./sgd.ts";
 * import { trainStep } from "./train_step.ts";
 * // The `native` backend (oneDNN/BLAS through FFI): on `cpu`, one ResNet20 step takes ~20 s.
 * await registerNativeBackend();
 * await tf.setBackend("native");
 * const model = new ResNet20({ seed: 0 });
 * const sgd = new Sgd(model.trainable(), { lr: 0.1 });
 * const images = new Float32Array(2 * 32 * 32 * 3); // NHWC [2, 32, 32, 3], as makeBatch() returns
 * const [lossSum, correct] = trainStep(model, sgd, images, Int32Array.of(3, 5));
 * assert.ok((await lossSum.data())[0] > 0);
 * assert.ok([0, 1, 2].includes((await correct.data())[0]));
 * assert.equal(model.tracked.get("bn1.num_batches_tracked")!.value, 1); // training-mode BN
 * tf.dispose([lossSum, correct]);
 * sgd.dispose();
 * model.dispose();
 * ```
 */
export function trainStep(
  model: ResNet20,
  sgd: Sgd,
  images: Float32Array,
  labels: Int32Array,
  vars: tf.Variable[] = [...model.trainable().values()],
): [tf.Scalar, tf.Scalar] {
  const n = labels.length;
  return tf.tidy(() =>
    trainStepOn(model, sgd, tf.tensor4d(images, [n, 32, 32, 3]), tf.tensor1d(labels, "int32"), vars)
  );
}

/**
 * {@linkcode trainStep} on device tensors: NHWC images `[n, 32, 32, 3]` and
 * int32 labels `[n]`, at learning rate `lr` when given (else `sgd.lr`).
 * Returns the batch's summed loss and correct count; call inside `tf.tidy`.
 */
export function trainStepOn(
  model: ResNet20,
  sgd: Sgd,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  vars: tf.Variable[] = [...model.trainable().values()],
  lr?: tf.Scalar,
): [tf.Scalar, tf.Scalar] {
  let correct: tf.Scalar | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.forward(x, true);
    correct = tf.keep(countCorrect(logits, y));
    return softmaxCrossEntropy(logits, y);
  }, vars);
  sgd.step(grads, lr);
  const kept = correct!;
  // Re-own the kept count in the caller's tidy so it is returned, not leaked.
  const out: [tf.Scalar, tf.Scalar] = [tf.mul(value, x.shape[0]), tf.clone(kept)];
  kept.dispose();
  return out;
}

/**
 * One optimisation step on the examples of a split at `indices`, augmented
 * by `params`, the batch built on the device; `labels` are theirs.
 */
export type DeviceStep = (indices: Int32Array, params: readonly AugmentParams[], labels: Int32Array) => void;

/** Runs training steps and keeps their summed loss and correct count on the device. */
export interface StepRunner {
  /** One optimisation step on a batch: NHWC images and labels, at `sgd.lr`. */
  step(images: Float32Array, labels: Int32Array): void;
  /**
   * Where the runner builds batches on the device: steps on batches of
   * `split` (its images uploaded at the first call with it; the last split
   * asked for stays there), or null where it cannot hold `split`. The
   * batches equal `makeBatch`'s, so either way gives the same numbers.
   */
  deviceStep?(split: CifarSplit): DeviceStep | null;
  /** The sums since the last reset (one read-back from the device). */
  totals(): Promise<{ loss: number; correct: number }>;
  /** Sets the sums to zero. */
  reset(): void;
  /** Frees what the runner holds (not the model or the optimizer). */
  dispose(): void;
}

/**
 * Steps run op by op through tfjs's engine ({@linkcode trainStep}), sums
 * added up on the device.
 *
 * @example
 * ```ts ignore
 * const runner = new EagerStepRunner(model, sgd);
 * runner.step(images, labels);
 * console.log((await runner.totals()).loss);
 * runner.dispose();
 * ```
 */
export class EagerStepRunner implements StepRunner {
  readonly #model: ResNet20;
  readonly #sgd: Sgd;
  readonly #vars: tf.Variable[];
  #loss: tf.Scalar = tf.scalar(0);
  #correct: tf.Scalar = tf.scalar(0);

  /** A runner for `model` trained by `sgd`. */
  constructor(model: ResNet20, sgd: Sgd) {
    this.#model = model;
    this.#sgd = sgd;
    this.#vars = [...model.trainable().values()];
  }

  step(images: Float32Array, labels: Int32Array): void {
    const [loss, correct] = trainStep(this.#model, this.#sgd, images, labels, this.#vars);
    const [l, c] = [tf.add(this.#loss, loss), tf.add(this.#correct, correct)] as tf.Scalar[];
    tf.dispose([this.#loss, this.#correct, loss, correct]);
    [this.#loss, this.#correct] = [l, c];
  }

  async totals(): Promise<{ loss: number; correct: number }> {
    // Async reads: WebGPU in Deno has no synchronous download.
    const [loss, correct] = await Promise.all([this.#loss.data(), this.#correct.data()]);
    return { loss: loss[0], correct: correct[0] };
  }

  reset(): void {
    tf.dispose([this.#loss, this.#correct]);
    this.#loss = tf.scalar(0);
    this.#correct = tf.scalar(0);
  }

  dispose(): void {
    tf.dispose([this.#loss, this.#correct]);
  }
}

function countCorrect(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "float32"));
}

/**
 * Steps recorded once per batch shape and replayed for every batch, on a
 * backend with a step compiler (`lib/ops/compiled_step.ts`; the WebGPU
 * plugin): the same ops as {@linkcode EagerStepRunner}, hence the same
 * numbers, with almost no host work per step. The learning rate is an input
 * of the step, so a new stage needs no new recording; the sums are state
 * variables of the step, zeroed in place. With {@linkcode deviceStep} the
 * batch too is built on the device, from the split's images held there.
 *
 * @example
 * ```ts ignore
 * // Needs a backend with a step compiler (WebGPU).
 * const runner = new CompiledStepRunner(model, sgd, stepCompiler()!);
 * runner.step(images, labels); // records
 * runner.step(images, labels); // replays
 * const step = runner.deviceStep(train)!; // uploads train's images once
 * step(Int32Array.of(7, 3), drawAugmentParams(2, rng), labelsOf(train, Int32Array.of(7, 3)));
 * console.log((await runner.totals()).loss, runner.recordings);
 * ```
 */
export class CompiledStepRunner implements StepRunner {
  readonly #model: ResNet20;
  readonly #sgd: Sgd;
  readonly #compiler: StepCompiler;
  readonly #loss: tf.Variable;
  readonly #correct: tf.Variable;
  readonly #lr = new Float32Array(1);
  readonly #compiled: CompiledStep;
  readonly #deviceBatches: boolean;
  /** The split held on the device and the step that builds its batches there. */
  #device: { images: DeviceImages; compiled: CompiledStep; step: DeviceStep } | null = null;

  /**
   * A runner for `model` trained by `sgd`, compiled by `compiler`;
   * `deviceBatches: false` leaves out {@linkcode deviceStep} (every batch
   * is built on the host and uploaded).
   */
  constructor(model: ResNet20, sgd: Sgd, compiler: StepCompiler, options: { deviceBatches?: boolean } = {}) {
    this.#model = model;
    this.#sgd = sgd;
    this.#compiler = compiler;
    this.#deviceBatches = options.deviceBatches ?? true;
    const zero = tf.scalar(0);
    this.#loss = tf.variable(zero, false);
    this.#correct = tf.variable(zero, false);
    zero.dispose();
    this.#compiled = this.#compile({ shape: [1, 32, 32, 3], dtype: "float32" }, (x) => x as tf.Tensor4D);
  }

  /**
   * The training step whose inputs are `input` (the batch's images, or what
   * `batch` makes them from, reading `constants`), the labels and the
   * learning rate.
   */
  #compile(
    input: StepInput,
    batch: (input: tf.Tensor) => tf.Tensor4D,
    constants: tf.Tensor[] = [],
  ): CompiledStep {
    const model = this.#model, sgd = this.#sgd;
    const vars = [...model.trainable().values()];
    return this.#compiler({
      inputs: [input, { shape: [1], dtype: "int32" }, { shape: [1], dtype: "float32" }],
      state: [...model.tensors.map((t) => t.variable), ...sgd.buffers().values(), this.#loss, this.#correct],
      constants,
      run: ([x, y, lr]) => {
        const [loss, correct] = trainStepOn(
          model,
          sgd,
          batch(x),
          y as tf.Tensor1D,
          vars,
          tf.reshape(lr, []) as tf.Scalar,
        );
        this.#loss.assign(tf.add(this.#loss, loss));
        this.#correct.assign(tf.add(this.#correct, correct));
      },
      // The batch-norm counters the forward pass increments on the host.
      hostEffects: () => {
        for (const t of model.tracked.values()) t.value += 1;
      },
    });
  }

  /** Recordings made so far (one per batch size, again after state changed outside). */
  get recordings(): number {
    return this.#compiled.recordings + (this.#device?.compiled.recordings ?? 0);
  }

  step(images: Float32Array, labels: Int32Array): void {
    this.#lr[0] = this.#sgd.lr;
    this.#compiled.run([images, labels, this.#lr]);
  }

  /**
   * Steps on batches of `split` built on the device: its images uploaded
   * once (the split held before is freed), then each step writes a plan of
   * four integers an example, the labels and the learning rate. Null where
   * device batches are off or `split` does not fit (`fitsOnDevice`).
   */
  deviceStep(split: CifarSplit): DeviceStep | null {
    if (!this.#deviceBatches || !fitsOnDevice(split.count)) return null;
    if (this.#device?.images.split === split) return this.#device.step;
    this.#disposeDevice();
    const images = new DeviceImages(split);
    const compiled = this.#compile(
      { shape: [1, 4], dtype: "int32" },
      (plan) => images.batch(plan as tf.Tensor2D),
      images.tensors,
    );
    let plan = new Int32Array(0);
    const step: DeviceStep = (indices, params, labels) => {
      if (plan.length < 4 * indices.length) plan = new Int32Array(4 * indices.length);
      planBatch(split, indices, { params, out: plan });
      this.#lr[0] = this.#sgd.lr;
      compiled.run([plan.subarray(0, 4 * indices.length), labels, this.#lr]);
    };
    this.#device = { images, compiled, step };
    return step;
  }

  async totals(): Promise<{ loss: number; correct: number }> {
    const [loss, correct] = await Promise.all([this.#loss.data(), this.#correct.data()]);
    return { loss: loss[0], correct: correct[0] };
  }

  /**
   * One step of `batch` examples as this runner runs them (from the split
   * held on the device, its first examples uncropped; else a batch of
   * zeros uploaded), with the GPU time of each kernel, most first, where
   * the backend times kernels; undefined elsewhere. A real step (two where
   * this batch size was never run, the recording being one): the weights
   * change.
   */
  profile(batch: number): Promise<KernelTime[]> | undefined {
    this.#lr[0] = this.#sgd.lr;
    const labels = new Int32Array(batch);
    if (!this.#device) return this.#compiled.profile?.([new Float32Array(batch * 3072), labels, this.#lr]);
    const { images, compiled } = this.#device;
    const plan = planBatch(
      images.split,
      Int32Array.from({ length: batch }, (_, i) => i % images.split.count),
    );
    return compiled.profile?.([plan, labels, this.#lr]);
  }

  reset(): void {
    this.#compiled.write(this.#loss, new Float32Array(1));
    this.#compiled.write(this.#correct, new Float32Array(1));
  }

  dispose(): void {
    this.#disposeDevice();
    this.#compiled.dispose();
    this.#loss.dispose();
    this.#correct.dispose();
  }

  #disposeDevice(): void {
    this.#device?.compiled.dispose();
    this.#device?.images.dispose();
    this.#device = null;
  }
}

/** Options for {@linkcode createStepRunner}. */
export interface StepRunnerOptions {
  /** Compile the step where the backend can. @default {true} */
  compiled?: boolean;
  /** Build a compiled step's batches on the device ({@linkcode CompiledStepRunner.deviceStep}). @default {true} */
  deviceBatches?: boolean;
}

/**
 * A {@linkcode CompiledStepRunner} where the active backend compiles steps
 * and `compiled` is not false, else an {@linkcode EagerStepRunner}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { ResNet20 } from "../models/resnet20.ts";
 * import { Sgd } from "./sgd.ts";
 * import { createStepRunner, EagerStepRunner } from "./train_step.ts";
 * await tf.setBackend("cpu");
 * const model = new ResNet20();
 * const sgd = new Sgd(model.trainable(), { lr: 0.1 });
 * const runner = createStepRunner(model, sgd);
 * assert.ok(runner instanceof EagerStepRunner); // the cpu backend compiles nothing
 * runner.dispose();
 * sgd.dispose();
 * model.dispose();
 * ```
 */
export function createStepRunner(model: ResNet20, sgd: Sgd, options: StepRunnerOptions = {}): StepRunner {
  const compiler = options.compiled === false ? undefined : stepCompiler();
  return compiler
    ? new CompiledStepRunner(model, sgd, compiler, { deviceBatches: options.deviceBatches })
    : new EagerStepRunner(model, sgd);
}

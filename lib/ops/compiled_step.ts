/**
 * Compiled steps: a step of tfjs work (a training step) recorded once and
 * replayed for every batch, where the backend can do that (the WebGPU
 * plugin: CUDA Graphs' idea for WebGPU). Backend-neutral like the kernel
 * names of this folder: a backend registers a {@linkcode StepCompiler};
 * trainers ask {@linkcode stepCompiler} for the active backend's and fall
 * back to running the step op by op when there is none.
 *
 * The contract a step must keep to be compiled: it reads only its
 * `inputs` (written by the host before each run), its `state` variables,
 * its `constants` and constants it makes; it changes the world only by assigning new values to `state`
 * variables; it reads nothing back to the host; its shapes depend only on
 * the inputs' shapes. Host-side effects (counters) go in `hostEffects`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The shape and dtype of one host input of a step. */
export interface StepInput {
  shape: number[];
  dtype: "float32" | "int32";
}

/** What to compile. */
export interface StepSpec {
  /** Host inputs, written before every run (a batch's images and labels, the learning rate). */
  inputs: StepInput[];
  /** Variables the step reads and reassigns: parameters, optimizer and batch-norm state, accumulators. */
  state: tf.Variable[];
  /**
   * Tensors made outside the step that it reads and never changes (a
   * dataset kept on the device). The caller owns them and keeps them alive
   * as long as the compiled step: a run after one was disposed is an error.
   */
  constants?: tf.Tensor[];
  /**
   * One step in tfjs ops on device tensors of `inputs` (called inside
   * `tf.tidy`); may return output tensors, which a run can collect.
   */
  run: (inputs: tf.Tensor[]) => tf.Tensor[] | void;
  /** What the step does on the host besides its tensors (e.g. batch-norm counters), after every run. */
  hostEffects?: () => void;
}

/**
 * Device memory a compiled step's runs copy outputs into, read back once
 * (say, every batch's predictions of an evaluation pass).
 */
export interface Collector {
  /** Its size in bytes. */
  readonly bytes: number;
  /** Its bytes, once the runs so far are done. */
  read(): Promise<ArrayBuffer>;
  dispose(): void;
}

/** Where one output of a run goes: a collector and a byte offset in it. */
export interface Collect {
  into: Collector;
  byteOffset: number;
}

/** A step recorded for one set of input shapes. */
export interface CompiledStep {
  /**
   * One step on `inputs` (host arrays, in the order and sizes of the spec's
   * inputs); `collect[i]`, when given, receives output `i`.
   */
  run(inputs: readonly (Float32Array | Int32Array)[], collect?: readonly (Collect | null)[]): void;
  /** A collector for outputs of this step's runs. */
  collector(bytes: number): Collector;
  /**
   * Overwrites a state variable's value in place, without the reassignment
   * that would make the recording stale (e.g. zeroing an accumulator).
   */
  write(variable: tf.Variable, values: Float32Array | Int32Array): void;
  /**
   * Where the backend can time kernels on the GPU: one step (a real one;
   * two where these shapes were never run, the recording being one) with the
   * GPU time of each kernel, most first.
   */
  profile?(inputs: readonly (Float32Array | Int32Array)[]): Promise<KernelTime[]>;
  /** How many times the step was recorded (again when state was reassigned outside it). */
  readonly recordings: number;
  /** Frees what the compiled step holds; the state variables stay valid. */
  dispose(): void;
}

/** GPU time of one kernel over a step: its name, milliseconds summed, dispatches. */
export interface KernelTime {
  kernel: string;
  ms: number;
  count: number;
}

/** Compiles a step for the backend that registered it. */
export type StepCompiler = (spec: StepSpec) => CompiledStep;

const compilers = new Map<string, StepCompiler>();

/**
 * Registers `compiler` for backend `backendName` (the last one wins).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerStepCompiler, stepCompiler } from "./compiled_step.ts";
 * registerStepCompiler("example-backend", () => {
 *   throw new Error("not in this example");
 * });
 * assert.equal(typeof stepCompiler("example-backend"), "function");
 * assert.equal(stepCompiler("cpu"), undefined);
 * ```
 */
export function registerStepCompiler(backendName: string, compiler: StepCompiler): void {
  compilers.set(backendName, compiler);
}

/** The compiler of `backendName` (default: the active backend), if it has one. */
export function stepCompiler(backendName: string = tf.getBackend()): StepCompiler | undefined {
  return compilers.get(backendName);
}

/**
 * A deep-learning lab toolkit on TensorFlow.js for Deno: the two exercises of
 * a university PyTorch lab, function fitting (Lab 1) and CIFAR-10
 * classification with ResNet20 (Lab 2), with PyTorch's numerics, its weight
 * files, resumable checkpoints, CSV metrics, SVG charts and a Markdown
 * report.
 *
 * This module is the public API, in the order the data flows: bytes on disk
 * ({@linkcode parseCifarBatch}, {@linkcode loadCifar10},
 * {@linkcode decodeSafetensors}, {@linkcode decodePth}) -> batches
 * ({@linkcode makeBatch}) -> backend-neutral ops ({@linkcode batchNormTrain})
 * -> models ({@linkcode Mlp}, {@linkcode ResNet20}) -> training
 * ({@linkcode fitFunction}, {@linkcode trainEpoch}, {@linkcode Sgd},
 * {@linkcode parseSchedule}) -> metrics and report ({@linkcode toCsv},
 * {@linkcode lineChart}, {@linkcode renderReport}) -> the live dashboard
 * ({@linkcode StepLog}, {@linkcode startWatch}); {@linkcode selectBackend}
 * starts TensorFlow.js on WebGPU, the `native` CPU backend or a fallback.
 * Subpaths give single formats without TensorFlow.js: `./safetensors`,
 * `./pth`, `./cifar`; `./resnet20` the model; `./flags` the flag tables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIT_DEFAULTS, fitFunction, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const { model, result } = await fitFunction((x) => 2 * x, { ...FIT_DEFAULTS, epochs: 30, hidden: [8] });
 * assert.ok(result.testMse < 1);
 * model.dispose();
 * ```
 *
 * @module
 */
export { type CifarSplit, CLASS_NAMES, NUM_CLASSES, parseCifarBatch } from "./lib/data/cifar.ts";
export { loadCifar10, type LoadCifarOptions, resolveCifarDir } from "./lib/data/cifar_files.ts";
export { labelsOf, makeBatch, normalise } from "./lib/data/batches.ts";
export { compileExpr, DEFAULT_FN } from "./lib/data/expr.ts";
export { decodePng, toCifarPlanar } from "./lib/data/image.ts";
export { Rng } from "./lib/data/rng.ts";

export type { HostTensor, StateDict } from "./lib/formats/state_dict.ts";
export { decodeSafetensors, encodeSafetensors } from "./lib/formats/safetensors.ts";
export { decodePth, encodePth } from "./lib/formats/pth.ts";
export { decodeWeights, type WeightsFile } from "./lib/formats/weights.ts";
export { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "./lib/formats/checkpoint.ts";

export { addRelu, batchNormTrain, sgdMomentumStep, shortcutA } from "./lib/ops/mod.ts";

export { Mlp } from "./lib/models/mlp.ts";
export { ResNet20 } from "./lib/models/resnet20.ts";

export { FIT_DEFAULTS, type FitConfig, LAB2_DEFAULTS } from "./lib/train/defaults.ts";
export { fitFunction, type FitResult, gridPoints, predict } from "./lib/train/fit_function.ts";
export { studyRuns } from "./lib/train/study.ts";
export { lrAt, parseSchedule, type Stage, totalEpochs } from "./lib/train/schedule.ts";
export { Sgd } from "./lib/train/sgd.ts";
export {
  type EvalResult,
  evaluate,
  type PassResult,
  trainEpoch,
  trainStep,
} from "./lib/train/train_epoch.ts";

export { METRICS_COLUMNS, SUMMARY_COLUMNS } from "./lib/report/columns.ts";
export { parseCsv, toCsv } from "./lib/report/csv.ts";
export { lineChart } from "./lib/report/line_chart.ts";
export { barChart } from "./lib/report/bar_chart.ts";
export { accuracyChart } from "./lib/report/accuracy_chart.ts";
export { confusionMatrix } from "./lib/report/confusion.ts";
export { readRunFolder, type RunFolder } from "./lib/report/run_folder.ts";
export { renderReport } from "./lib/report/render_report.ts";
export { StepLog } from "./lib/report/step_log.ts";
export { startWatch } from "./lib/report/watch_server.ts";
export { startWatchInWorker } from "./lib/report/watch_worker.ts";

export { type BackendChoice, type BackendInfo, selectBackend } from "./lib/runtime/backend.ts";
export { TOOLKIT_VERSION } from "./lib/runtime/run_info.ts";

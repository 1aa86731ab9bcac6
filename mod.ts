/**
 * A deep-learning lab toolkit on TensorFlow.js for Deno: the two exercises of
 * a university PyTorch lab, function fitting (Lab 1) and CIFAR-10
 * classification with ResNet20 (Lab 2), with PyTorch's numerics, its weight
 * files, resumable checkpoints, CSV metrics, SVG charts and a Markdown
 * report.
 *
 * The modules follow the data: bytes on disk ({@linkcode parseCifarBatch},
 * {@linkcode decodeSafetensors}, {@linkcode decodePth}) -> batches
 * ({@linkcode makeBatch}) -> models ({@linkcode Mlp}, {@linkcode ResNet20})
 * -> training ({@linkcode fitFunction}, {@linkcode trainEpoch},
 * {@linkcode Sgd}, {@linkcode parseSchedule}, {@linkcode encodeCheckpoint})
 * -> metrics ({@linkcode toCsv}, {@linkcode lineChart}).
 *
 * @example
 * ```ts ignore
 * import { FIT_DEFAULTS, fitFunction, selectBackend } from "./mod.ts";
 * await selectBackend("auto", { preferCpu: true });
 * const { model, result } = fitFunction((x) => Math.sin(x), { ...FIT_DEFAULTS, epochs: 100 });
 * console.log(result.testMse);
 * model.dispose();
 * ```
 *
 * @module
 */
export * from "./lib/backend.ts";
export * from "./lib/rng.ts";
export * from "./lib/init.ts";
export * from "./lib/expr.ts";
export * from "./lib/mlp.ts";
export * from "./lib/fit.ts";
export * from "./lib/study.ts";
export * from "./lib/cifar.ts";
export * from "./lib/cifar_files.ts";
export * from "./lib/augment.ts";
export * from "./lib/image.ts";
export * from "./lib/resnet.ts";
export * from "./lib/sgd.ts";
export * from "./lib/schedule.ts";
export * from "./lib/trainer.ts";
export * from "./lib/checkpoint.ts";
export * from "./lib/state_dict.ts";
export * from "./lib/safetensors.ts";
export * from "./lib/pickle.ts";
export * from "./lib/pth.ts";
export * from "./lib/weights.ts";
export * from "./lib/confusion.ts";
export * from "./lib/metrics.ts";
export * from "./lib/csv.ts";
export * from "./lib/svg.ts";
export * from "./lib/chart.ts";
export * from "./lib/bar_chart.ts";
export * from "./lib/run_folder.ts";
export * from "./lib/report.ts";
export * from "./lib/progress.ts";
export * from "./lib/files.ts";
export * from "./lib/run_info.ts";
export * from "./lib/cli.ts";

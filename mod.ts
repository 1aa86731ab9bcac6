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
 * -> metrics ({@linkcode toCsv}, {@linkcode lineChart}, {@linkcode StepLog})
 * -> the live dashboard ({@linkcode startWatch}, {@linkcode startWatchInWorker}).
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
export * from "./lib/runtime/backend.ts";
export * from "./lib/data/rng.ts";
export * from "./lib/models/init.ts";
export * from "./lib/data/expr.ts";
export * from "./lib/models/mlp.ts";
export * from "./lib/train/fit_function.ts";
export * from "./lib/train/study.ts";
export * from "./lib/data/cifar.ts";
export * from "./lib/data/cifar_files.ts";
export * from "./lib/data/batches.ts";
export * from "./lib/data/image.ts";
export * from "./lib/models/resnet20.ts";
export * from "./lib/train/sgd.ts";
export * from "./lib/train/schedule.ts";
export * from "./lib/train/train_epoch.ts";
export * from "./lib/formats/checkpoint.ts";
export * from "./lib/formats/state_dict.ts";
export * from "./lib/formats/safetensors.ts";
export * from "./lib/formats/pickle.ts";
export * from "./lib/formats/pth.ts";
export * from "./lib/formats/weights.ts";
export * from "./lib/report/confusion.ts";
export * from "./lib/report/columns.ts";
export * from "./lib/report/csv.ts";
export * from "./lib/report/svg.ts";
export * from "./lib/report/line_chart.ts";
export * from "./lib/report/bar_chart.ts";
export * from "./lib/report/run_folder.ts";
export * from "./lib/report/render_report.ts";
export * from "./lib/report/step_log.ts";
export * from "./lib/report/run_state.ts";
export * from "./lib/report/watch_view.ts";
export * from "./lib/report/run_files.ts";
export * from "./lib/report/watch_server.ts";
export * from "./lib/report/watch_worker.ts";
export * from "./lib/runtime/progress.ts";
export * from "./lib/runtime/files.ts";
export * from "./lib/runtime/run_info.ts";
export * from "./lib/runtime/flags.ts";

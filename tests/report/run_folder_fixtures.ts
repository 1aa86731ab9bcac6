// Touches the disk: writes tiny exp1 and exp2 run folders for the report tests.
/**
 * Tiny run folders in the formats `labs/exp1.ts` and `labs/exp2.ts` write,
 * for `tests/run_folder_test.ts` and `tests/report_lab_test.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { CLASS_NAMES } from "../../lib/data/cifar.ts";
import type { Exp1Run } from "../../lib/report/run_folder.ts";

/** Files of a run folder: name to text; `null` leaves the file out. */
export type FolderFiles = Record<string, string | null>;

const VERSIONS = { toolkit: "0.1.0", deno: "2.9.6", tfjs: "4.22.0", os: "linux-x86_64" };

/** An exp1 learning-rate study of 3 runs (2 epochs each), `lr-1` diverged at epoch 2. */
export function exp1Files(): FolderFiles {
  return {
    "run.json": JSON.stringify({
      lab: "exp1",
      started: "2025-01-02T03:04:05.000Z",
      command: "deno task exp1 --study lr",
      config: {
        fit: {
          epochs: 2,
          lr: 0.01,
          samples: 4,
          batchSize: 2,
          hidden: [3],
          optimizer: "adam",
          xMin: -1,
          xMax: 1,
          seed: 0,
        },
        fn: "x^2",
        study: "lr",
        backend: "auto",
        out: "runs/lr",
      },
      backend: "cpu",
      device: "cpu: test",
      backendReason: "auto: small model",
      versions: VERSIONS,
    }),
    "summary.csv": "run,epochs,lr,optimizer,train_mse,test_mse,seconds,status\n" +
      "lr-1,2,1,adam,NaN,NaN,0.5,diverged at epoch 2\n" +
      "lr-0.1,2,0.1,adam,0.02,0.03,1.25,ok\n" +
      "lr-0.01,2,0.01,adam,0.2,0.25,1.5,ok\n",
    "lr-1.csv": "epoch,train_loss\n1,50\n",
    "lr-0.1.csv": "epoch,train_loss\n1,0.5\n2,0.02\n",
    "lr-0.01.csv": "epoch,train_loss\n1,0.9\n2,0.2\n",
    "fit.csv": "x,true f(x),lr-1,lr-0.1,lr-0.01\n-1,1,,0.9,0.5\n0,0,,0.1,0.3\n1,1,,1.1,0.6\n",
  };
}

/**
 * Run `lr-0.1` of {@linkcode exp1Files} as `readRunFolder()` gives it,
 * named `name` and with `over` applied (a run for the report tests).
 */
export function exp1Run(name = "lr-0.1", over: Partial<Exp1Run> = {}): Exp1Run {
  return {
    name,
    epochs: 2,
    lr: 0.1,
    optimizer: "adam",
    trainMse: 0.02,
    testMse: 0.03,
    seconds: 1.25,
    divergedEpoch: null,
    loss: [0.5, 0.02],
    fit: [0.9, 0.1, 1.1],
    ...over,
  };
}

/** Lab 2's per-class CSV and confusion matrix for 20 test images, 2 per class. */
export function confusionFiles(): FolderFiles {
  // Every class right once; the other image of class k is taken for class (k + 1) % 10.
  const m = CLASS_NAMES.map((_, i) => CLASS_NAMES.map((_, j) => (j === i || j === (i + 1) % 10 ? 1 : 0)));
  return {
    "per_class.csv": "class,name,correct,total,accuracy\n" +
      CLASS_NAMES.map((n, i) => `${i},${n},1,2,0.5`).join("\n") + "\n",
    "confusion.csv": `label,${CLASS_NAMES.join(",")}\n` +
      m.map((row, i) => `${CLASS_NAMES[i]},${row.join(",")}`).join("\n") + "\n",
  };
}

/** An exp2 run of schedule 0.1:2,0.01:1 (3 epochs), with per-class and confusion CSVs. */
export function exp2Files(): FolderFiles {
  return {
    "run.json": JSON.stringify({
      lab: "exp2",
      started: "2025-01-02T03:04:05.000Z",
      command: "deno task exp2 --schedule 0.1:2,0.01:1",
      config: { schedule: "0.1:2,0.01:1", batchSize: 128, seed: 0, momentum: 0.9, weightDecay: 0.0001 },
      backend: "native",
      device: "cpu: test",
      backendReason: "requested",
      versions: VERSIONS,
      parameters: 269722,
      trainImages: 100,
      testImages: 20,
      startEpoch: 1,
    }),
    "metrics.csv": "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second\n" +
      "1,0.1,2.1,0.3,1.9,0.35,10,10\n" +
      "2,0.1,1.5,0.45,1.6,0.4,10.5,9.5\n" +
      "3,0.01,1.2,0.55,1.5,0.5,9.5,10.5\n",
    ...confusionFiles(),
  };
}

/** Writes `files` into a new folder `name` under `parent` and returns its path. */
export async function writeFolder(parent: string, name: string, files: FolderFiles): Promise<string> {
  const dir = join(parent, name);
  await Deno.mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    if (text !== null) await Deno.writeTextFile(join(dir, file), text);
  }
  return dir;
}

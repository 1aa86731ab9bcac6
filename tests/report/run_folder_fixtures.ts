// Touches the disk: writes tiny exp1 and exp2 run folders for the report and watch tests.
/**
 * Tiny run folders in the formats `labs/exp1.ts` and `labs/exp2.ts` write,
 * for the report tests (finished runs) and the watch tests (runs caught
 * mid-training, with `steps.csv`).
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

/** `steps.csv`'s header line. */
export const STEPS_HEADER = "step,epoch,lr,loss,acc,images_per_second";

/**
 * An exp2 run caught mid-training: schedule 0.1:2,0.01:2 (4 epochs) over 640
 * training images in batches of 64 (10 steps an epoch), `done` epochs in
 * metrics.csv and a `steps.csv` row every 2 steps up to `step`. No final
 * model, per-class or confusion files.
 */
export function liveExp2Files(options: { done: number; step: number; started?: string }): FolderFiles {
  const lrAt = (epoch: number) => (epoch <= 2 ? 0.1 : 0.01);
  const metrics = Array.from({ length: options.done }, (_, k) => {
    const e = k + 1;
    return `${e},${lrAt(e)},${2 - 0.3 * e},${0.2 + 0.1 * e},${2.1 - 0.3 * e},${0.15 + 0.1 * e},6.4,100`;
  });
  const steps: string[] = [];
  for (let s = 2; s <= options.step; s += 2) {
    const epoch = Math.ceil(s / 10);
    steps.push(`${s},${epoch},${lrAt(epoch)},${(2.2 - s / 25).toFixed(3)},${(0.1 + s / 60).toFixed(4)},100`);
  }
  return {
    "run.json": JSON.stringify({
      lab: "exp2",
      started: options.started ?? "2025-01-02T03:04:05.000Z",
      command: "deno task exp2 --schedule 0.1:2,0.01:2 --limit-train 640 --limit-test 100 --batch-size 64",
      config: { schedule: "0.1:2,0.01:2", batchSize: 64, seed: 0, momentum: 0.9, weightDecay: 0.0001 },
      backend: "cpu",
      device: "cpu: test",
      backendReason: "requested",
      versions: VERSIONS,
      parameters: 269722,
      trainImages: 640,
      testImages: 100,
      startEpoch: 1,
    }),
    "metrics.csv": "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second\n" +
      metrics.map((l) => `${l}\n`).join(""),
    "steps.csv": `${STEPS_HEADER}\n` + steps.map((l) => `${l}\n`).join(""),
  };
}

/**
 * The lab's full recipe caught 60% into epoch 7 of 10, for the README's
 * screenshot: the first six epochs of `results/lab2-resnet20-native/`, and
 * a row of `steps.csv` every 5 steps (391 an epoch) along a smooth, slightly
 * noisy curve through them. Started `now` minus 25 minutes.
 */
export function midRunExp2Files(now: number): FolderFiles {
  const real = [
    "1,0.1,1.6696,0.3752,1.443,0.4937,220.5,226.7",
    "2,0.1,1.1656,0.5772,1.1493,0.5985,201.7,247.9",
    "3,0.1,0.9272,0.6698,0.926,0.6804,194.2,257.5",
    "4,0.1,0.7763,0.7295,0.8359,0.7124,197.6,253",
    "5,0.1,0.6881,0.76,0.7711,0.7401,190.2,262.9",
    "6,0.01,0.5347,0.8146,0.5409,0.8144,202.2,247.3",
  ];
  // Epoch means (epoch 7's from the finished run), placed at the middle of each epoch.
  const loss = [1.6696, 1.1656, 0.9272, 0.7763, 0.6881, 0.5347, 0.4964];
  const acc = [0.3752, 0.5772, 0.6698, 0.7295, 0.76, 0.8146, 0.8281];
  const at = (ys: number[], t: number) => {
    const i = Math.min(ys.length - 2, Math.max(0, Math.floor(t - 0.5)));
    const f = t - 0.5 - i;
    return t < 0.5 ? ys[0] + (ys[0] - ys[1]) * (0.5 - t) * 0.8 : ys[i] + (ys[i + 1] - ys[i]) * f;
  };
  let seed = 7;
  const noise = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
  const perEpoch = 391;
  const last = 6 * perEpoch + Math.round(0.6 * perEpoch);
  const steps: string[] = [];
  for (let s = 5; s <= last; s += 5) {
    const epoch = Math.ceil(s / perEpoch);
    const t = s / perEpoch;
    const l = at(loss, t) * (1 + 0.12 * noise());
    const a = Math.min(0.99, at(acc, t) * (1 + 0.05 * noise()));
    steps.push(
      `${s},${epoch},${epoch <= 5 ? 0.1 : 0.01},${l.toFixed(4)},${a.toFixed(4)},${
        (250 + 20 * noise()).toFixed(1)
      }`,
    );
  }
  return {
    "run.json": JSON.stringify({
      lab: "exp2",
      started: new Date(now - 25 * 60_000).toISOString(),
      command: "deno task exp2 --out runs/lab2 --watch",
      config: {
        schedule: "0.1:5,0.01:5",
        batchSize: 128,
        seed: 0,
        dataDir: "../shared/data/cifar-10-batches-bin",
        limitTrain: null,
        limitTest: null,
        momentum: 0.9,
        weightDecay: 0.0001,
        backend: "auto",
        out: "runs/lab2",
        resume: null,
        init: null,
      },
      backend: "native",
      device: "cpu: AMD EPYC (2 threads), oneDNN 2.6.3 (libdnnl.so.2) + BLAS libopenblas.so.0",
      backendReason: "auto: native CPU kernels",
      versions: VERSIONS,
      parameters: 269722,
      trainImages: 50000,
      testImages: 10000,
      startEpoch: 1,
    }),
    "metrics.csv": "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second\n" +
      real.map((l) => `${l}\n`).join(""),
    "steps.csv": `${STEPS_HEADER}\n` + steps.map((l) => `${l}\n`).join(""),
  };
}

/**
 * Lab 1's learning-rate study caught in its third run (lr-0.01 at epoch
 * 600 of 1000), for the browser test and the README's screenshot: the first
 * two runs' files of `results/lab1-lr-study/` (summary rows, loss CSVs, fit
 * columns), and `steps.csv` rows every 5 epochs (10 steps an epoch) from the
 * runs' real losses. Started `now` minus 50 seconds.
 */
export function midStudyExp1Files(now: number): FolderFiles {
  const dir = new URL("../../results/lab1-lr-study/", import.meta.url);
  const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
  const info = JSON.parse(read("run.json"));
  info.started = new Date(now - 50_000).toISOString();
  info.command = "deno task exp1 --study lr --out runs/lab1-lr --watch";
  const summary = read("summary.csv").trim().split("\n");
  const losses = ["lr-1", "lr-0.1", "lr-0.01"].map((name) =>
    read(`${name}.csv`).trim().split("\n").slice(1).map((l) => Number(l.split(",")[1]))
  );
  const steps: string[] = [];
  losses.forEach((loss, k) => {
    const last = k < 2 ? 1000 : 600;
    for (let epoch = 5; epoch <= last; epoch += 5) {
      const lr = [1, 0.1, 0.01][k];
      steps.push(`${k * 10000 + epoch * 10},${epoch},${lr},${loss[epoch - 1]},,48000`);
    }
  });
  const fit = read("fit.csv").trim().split("\n").map((l) => l.split(",").slice(0, 4).join(","));
  return {
    "run.json": JSON.stringify(info),
    "summary.csv": summary.slice(0, 3).join("\n") + "\n",
    "lr-1.csv": read("lr-1.csv"),
    "lr-0.1.csv": read("lr-0.1.csv"),
    "fit.csv": fit.join("\n") + "\n",
    "steps.csv": `${STEPS_HEADER}\n` + steps.map((l) => `${l}\n`).join(""),
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

/**
 * The labs as a user runs them, beside PyTorch's reference scripts run
 * back to back on the same machine, alternating, and the ratio:
 *
 *   deno task bench-run --lab exp2     # one real epoch: deno task exp2 --schedule 0.1:1
 *                                      #   vs pytorch_resnet20.py train --schedule 0.1:1
 *   deno task bench-run --lab exp1     # whole process: deno task exp1 --epochs 2000
 *                                      #   vs pytorch_fit.py --epochs 2000
 *
 * What is compared:
 * - exp2: training images per second of the epoch as each program reports
 *   it (`images_per_second` of our `metrics.csv` and of PyTorch's CSV: the
 *   whole training pass, augmentation and batch assembly included,
 *   evaluation excluded), on all 50,000 CIFAR-10 training images
 *   (`CIFAR10_DIR` or `--data-dir`). PyTorch runs under the same
 *   `GLIBC_TUNABLES` as `deno task exp2` (it speeds up both).
 * - exp1: steps per second of the whole process (start to exit: runtime
 *   start-up, training, evaluation, outputs), 10 steps an epoch at the lab's
 *   defaults; also each program's own training-loop figure.
 *
 * `--runs N` alternates the pair N times (ours first, then PyTorch) and
 * reports the median ratio. Prints CSV on stdout, ratios on stderr.
 *
 * @module
 */
import { join } from "node:path";
import { resolveCifarDir } from "../lib/data/cifar_files.ts";
import { parseCsv } from "../lib/report/csv.ts";
import { defineFlags, flag, type FlagValues } from "../lib/runtime/flags.ts";
import { runMain } from "../lib/runtime/main.ts";
import { median } from "./stats.ts";

const cli = defineFlags("deno task bench-run [flags]", {
  lab: flag.choice("which lab", ["exp1", "exp2"] as const, { default: "exp2" }),
  runs: flag.int("alternating pairs", { default: 1, min: 1, max: 20 }),
  schedule: flag.string("exp2: the schedule both run", { default: "0.1:1", placeholder: "LR:EPOCHS" }),
  epochs: flag.int("exp1: epochs both run", { default: 2000, min: 1, max: 1e6 }),
  "data-dir": flag.string("CIFAR-10 binary folder", { placeholder: "DIR", defaultText: "CIFAR10_DIR" }),
  reference: flag.string("folder of pytorch_fit.py and pytorch_resnet20.py", {
    default: "../shared/reference",
    placeholder: "DIR",
  }),
  python: flag.string("Python with PyTorch", { default: "/usr/bin/python3", placeholder: "PATH" }),
}, {
  description: "A real epoch of Lab 2, or a whole Lab 1 run, beside PyTorch's, back to back.",
  examples: ["deno task bench-run --lab exp2 --runs 3", "deno task bench-run --lab exp1"],
});

type Options = FlagValues<typeof cli.table>;

/** Same as the exp2 task's: glibc keeps freed tensor buffers. */
const GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296";
const REPO = join(new URL(".", import.meta.url).pathname, "..");

/** Runs a command to completion; returns its stdout and wall seconds, or throws with its stderr's tail. */
async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const t = performance.now();
  const out = await new Deno.Command(cmd, { args, cwd: REPO, env, stdout: "piped", stderr: "piped" })
    .output();
  const seconds = (performance.now() - t) / 1000;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${text(out.stderr).trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  return { stdout: text(out.stdout), seconds };
}

/**
 * The values of `column` in a program's CSV output, from the header line that
 * names it on (anything printed before the header is skipped).
 */
function columnValues(output: string, column: string): number[] {
  const lines = output.split("\n");
  const header = lines.findIndex((l) => l.split(",").includes(column));
  if (header < 0) throw new Error(`no column "${column}" in:\n${output}`);
  const csv = lines.slice(header).join("\n");
  return parseCsv(csv, { source: "the output", numeric: [column] }).map((r) => Number(r[column]));
}

/** The named column of the last data row of a CSV text. */
function lastValue(csv: string, column: string): number {
  return columnValues(csv, column).at(-1)!;
}

async function exp2(o: Options): Promise<void> {
  const dataDir = resolveCifarDir(o.dataDir);
  const epochs = o.schedule.split(",").reduce((n, s) => n + Number(s.split(":")[1]), 0);
  console.log("run,who,images_per_second,wall_seconds");
  const ratios: number[] = [];
  for (let r = 1; r <= o.runs; r++) {
    const out = await Deno.makeTempDir({ prefix: "bench-run-exp2-" });
    try {
      const ours = await run(Deno.execPath(), [
        "task",
        "-q",
        "exp2",
        "--schedule",
        o.schedule,
        "--data-dir",
        dataDir,
        "--out",
        join(out, "run"),
      ]);
      const metrics = await Deno.readTextFile(join(out, "run", "metrics.csv"));
      const oursRate = mean(metrics, "images_per_second", epochs);
      const torch = await run(o.python, [
        join(o.reference, "pytorch_resnet20.py"),
        "train",
        "--schedule",
        o.schedule,
        "--data-dir",
        dataDir,
      ], { GLIBC_TUNABLES });
      const torchRate = mean(torch.stdout, "images_per_second", epochs);
      console.log(`${r},ours,${oursRate.toFixed(1)},${ours.seconds.toFixed(1)}`);
      console.log(`${r},pytorch,${torchRate.toFixed(1)},${torch.seconds.toFixed(1)}`);
      ratios.push(oursRate / torchRate);
      console.error(
        `bench-run exp2 (${r}/${o.runs}): ours ${oursRate.toFixed(1)} img/s, PyTorch ${
          torchRate.toFixed(1)
        } img/s: ` +
          `${(oursRate / torchRate).toFixed(2)}x`,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }
  console.error(`bench-run exp2: median ${median(ratios).toFixed(2)}x PyTorch over ${o.runs} run(s)`);
}

/** The mean of `column` over the last `rows` data rows of a CSV text. */
function mean(csv: string, column: string, rows: number): number {
  const values = columnValues(csv, column).slice(-rows);
  return values.reduce((a, b) => a + b, 0) / values.length;
}

async function exp1(o: Options): Promise<void> {
  const steps = o.epochs * 10; // the lab's 1000 samples in batches of 100
  console.log("run,who,whole_process_steps_per_second,loop_steps_per_second,wall_seconds");
  const ratios: number[] = [];
  for (let r = 1; r <= o.runs; r++) {
    const out = await Deno.makeTempDir({ prefix: "bench-run-exp1-" });
    try {
      const ours = await run(Deno.execPath(), [
        "task",
        "-q",
        "exp1",
        "--epochs",
        String(o.epochs),
        "--out",
        join(out, "run"),
      ]);
      // exp1 prints its summary CSV: `seconds` is the training loop's.
      const oursLoop = steps / lastValue(ours.stdout, "seconds");
      const torch = await run(o.python, [join(o.reference, "pytorch_fit.py"), "--epochs", String(o.epochs)]);
      const torchLoop = lastValue(torch.stdout, "steps_per_second");
      const [a, b] = [steps / ours.seconds, steps / torch.seconds];
      console.log(`${r},ours,${a.toFixed(1)},${oursLoop.toFixed(1)},${ours.seconds.toFixed(2)}`);
      console.log(`${r},pytorch,${b.toFixed(1)},${torchLoop.toFixed(1)},${torch.seconds.toFixed(2)}`);
      ratios.push(a / b);
      console.error(
        `bench-run exp1 (${r}/${o.runs}): whole process ours ${a.toFixed(0)} steps/s, PyTorch ${
          b.toFixed(0)
        }: ${(a / b).toFixed(2)}x` +
          `; training loops ${oursLoop.toFixed(0)} vs ${torchLoop.toFixed(0)}: ${
            (oursLoop / torchLoop).toFixed(2)
          }x`,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }
  console.error(
    `bench-run exp1: median ${median(ratios).toFixed(2)}x PyTorch (whole process) over ${o.runs} run(s)`,
  );
}

async function main(): Promise<void> {
  const { values: o } = cli.parse(Deno.args);
  if (o.help) return console.log(cli.help());
  if (o.lab === "exp1") await exp1(o);
  else await exp2(o);
}

export { cli };

if (import.meta.main) await runMain(main);

/**
 * Integration tests of `labs/exp2.ts` as a subprocess on tiny subsets of the
 * real CIFAR-10 files (`../shared/data/cifar-10-batches-bin`) and on small
 * synthetic batches. The training runs (native backend) are shared between
 * tests: phase 1 runs A (`0.1:1`) and B (`0.1:1,0.01:1`), phase 2 resumes A
 * to two epochs and starts C from B's final weights.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeCheckpoint, encodeCheckpoint } from "../../lib/formats/checkpoint.ts";
import { CLASS_NAMES, RECORD_BYTES } from "../../lib/data/cifar.ts";
import { parseCsv } from "../../lib/report/csv.ts";
import { exists } from "../../lib/runtime/files.ts";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { encodeSafetensors } from "../../lib/formats/safetensors.ts";
import type { StateDict } from "../../lib/formats/state_dict.ts";
import { decodeWeights } from "../../lib/formats/weights.ts";
import { assertOk, CIFAR_DIR, haveCifar, type LabResult as Result, runLab } from "../helpers.ts";

/** Runs `labs/exp2.ts` with `args` and the task's permissions. */
function exp2(args: string[]): Promise<Result> {
  return runLab("exp2", args);
}

const native = nativeAvailable();
const ignore = !native.ok || !haveCifar;

const HEADER = "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second";
/** Small and quick: two steps of 32 per epoch, 32 test images. */
const SMALL = ["--limit-train", "64", "--limit-test", "32", "--batch-size", "32", "--backend", "native"];

/** Every file under `dir` with its bytes, by relative path. */
async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  async function walk(sub: string) {
    for await (const e of Deno.readDir(join(dir, sub))) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) await walk(rel);
      else files.set(rel, await Deno.readFile(join(dir, rel)));
    }
  }
  await walk("");
  return files;
}

async function writeTree(to: string, files: Map<string, Uint8Array>) {
  for (const [rel, bytes] of files) {
    await Deno.mkdir(join(to, rel, ".."), { recursive: true });
    await Deno.writeFile(join(to, rel), bytes);
  }
}

/** `n` synthetic CIFAR records: label i % 10, pixels from i. */
function records(n: number): Uint8Array {
  const bytes = new Uint8Array(n * RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    bytes[i * RECORD_BYTES] = i % 10;
    bytes.fill((37 * i) % 256, i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES);
  }
  return bytes;
}

/** metrics.csv rows without the timing columns. */
function rowsWithoutTiming(csv: string): Record<string, string>[] {
  return parseCsv(csv).map(({ epoch_seconds: _s, images_per_second: _i, ...rest }) => rest);
}

/** `state` with tensor `name`'s data and shape replaced. */
function withTensor(state: StateDict, name: string, shape: number[], data: Float32Array): StateDict {
  return new Map([...state].map(([n, t]) => [n, n === name ? { dtype: "F32" as const, shape, data } : t]));
}

interface Runs {
  tmp: string;
  a: string;
  b: string;
  c: string;
  results: Record<"a1" | "a2" | "b" | "c", Result>;
  /** Snapshot of A after its first epoch, before the resume. */
  a1Files: Map<string, Uint8Array>;
}

let shared: Promise<Runs> | undefined;
let tmpDir: string | undefined;
globalThis.addEventListener("unload", () => {
  if (tmpDir) Deno.removeSync(tmpDir, { recursive: true });
});

/** Runs the four training runs once for all tests of this file. */
function runs(): Promise<Runs> {
  shared ??= (async () => {
    const tmp = tmpDir = await Deno.makeTempDir({ prefix: "exp2_test_" });
    const [a, b, c] = ["a", "b", "c"].map((n) => join(tmp, n));
    // Two chains side by side: A then its resume, B then C from B's weights.
    let a1Files = new Map<string, Uint8Array>();
    const chainA = (async () => {
      const a1 = await exp2([...SMALL, "--schedule", "0.1:1", "--out", a]);
      assertOk(a1, "run A (0.1:1)");
      a1Files = await snapshot(a);
      const a2 = await exp2([...SMALL, "--schedule", "0.1:1,0.01:1", "--resume", "auto", "--out", a]);
      return [a1, a2];
    })();
    const chainB = (async () => {
      const rb = await exp2([...SMALL, "--schedule", "0.1:1,0.01:1", "--out", b]);
      assertOk(rb, "run B (0.1:1,0.01:1)");
      const rc = await exp2([
        ...SMALL,
        "--init",
        join(b, "final.safetensors"),
        "--schedule",
        "0.01:1",
        "--out",
        c,
      ]);
      return [rb, rc];
    })();
    const [[a1, a2], [rb, rc]] = await Promise.all([chainA, chainB]);
    return { tmp, a, b, c, a1Files, results: { a1, a2, b: rb, c: rc } };
  })();
  return shared;
}

Deno.test({
  name: "exp2 writes metrics.csv, checkpoints, final weights, chart, per-class and confusion CSVs, run.json",
  ignore,
  async fn() {
    const { b, results } = await runs();
    const metricsText = await Deno.readTextFile(join(b, "metrics.csv"));
    assert.equal(metricsText.split("\n")[0], HEADER);
    const metrics = parseCsv(metricsText);
    assert.deepEqual(metrics.map((r) => [r.epoch, r.lr]), [["1", "0.1"], ["2", "0.01"]]);
    for (const r of metrics) {
      for (const k of ["train_acc", "test_acc"]) {
        assert.ok(Number(r[k]) >= 0 && Number(r[k]) <= 1, `${k} ${r[k]}`);
      }
      assert.ok(Number(r.train_loss) > 0 && Number(r.test_loss) > 0);
    }
    // The CSV rows also go to stdout, one per epoch.
    assert.deepEqual(
      results.b.stdout.trim().split("\n").map((l) => l.split(",").slice(0, 6).join(",")),
      metricsText.trim().split("\n").slice(1).map((l) => l.split(",").slice(0, 6).join(",")),
    );

    assert.deepEqual(
      [...Deno.readDirSync(join(b, "checkpoints"))].map((e) => e.name).sort(),
      ["epoch-001.safetensors", "epoch-002.safetensors"],
    );
    const ckpt = decodeCheckpoint(await Deno.readFile(join(b, "checkpoints/epoch-002.safetensors")));
    assert.equal(ckpt.epoch, 2);
    assert.equal(ckpt.model.size, 116);
    assert.equal(ckpt.optimizer.size, 59);
    assert.equal(ckpt.metrics.length, 2);
    assert.equal(ckpt.config.schedule, "0.1:1,0.01:1");
    assert.equal(ckpt.config.batchSize, 32);
    assert.equal(ckpt.model.get("bn1.num_batches_tracked")!.data[0], 4n);

    const final = decodeWeights(await Deno.readFile(join(b, "final.safetensors")));
    assert.equal(final.state.size, 116);
    assert.deepEqual(final.state, ckpt.model);
    assert.equal(final.metadata.epochs, "2");
    assert.equal(final.metadata.schedule, "0.1:1,0.01:1");
    assert.equal(final.metadata.test_acc, metrics[1].test_acc);

    const svg = await Deno.readTextFile(join(b, "accuracy.svg"));
    assert.match(svg, /^<svg /);
    assert.match(svg, /LR 0\.01/);

    const perClassText = await Deno.readTextFile(join(b, "per_class.csv"));
    assert.equal(perClassText.split("\n")[0], "class,name,correct,total,accuracy");
    const perClass = parseCsv(perClassText);
    assert.deepEqual(perClass.map((r) => r.name), CLASS_NAMES);
    assert.equal(perClass.reduce((n, r) => n + Number(r.total), 0), 32);
    const correct = perClass.reduce((n, r) => n + Number(r.correct), 0);
    // The final evaluation is of the same weights as the last epoch's (metrics.csv rounds to 4 decimals).
    assert.equal(Number((correct / 32).toFixed(4)), Number(metrics[1].test_acc));

    const confusionText = await Deno.readTextFile(join(b, "confusion.csv"));
    assert.equal(confusionText.split("\n")[0], `label,${CLASS_NAMES.join(",")}`);
    const confusion = parseCsv(confusionText);
    assert.equal(confusion.length, 10);
    confusion.forEach((row, i) => {
      assert.equal(row.label, CLASS_NAMES[i]);
      assert.equal(row[CLASS_NAMES[i]], perClass[i].correct);
      assert.equal(CLASS_NAMES.reduce((n, c) => n + Number(row[c]), 0), Number(perClass[i].total));
    });

    const info = JSON.parse(await Deno.readTextFile(join(b, "run.json")));
    assert.equal(info.config.schedule, "0.1:1,0.01:1");
    assert.equal(info.config.batchSize, 32);
    assert.equal(info.config.limitTrain, 64);
    assert.equal(info.config.dataDir, CIFAR_DIR);
    assert.equal(info.backend, "native");
    assert.equal(info.parameters, 269722);
    assert.equal(info.trainImages, 64);
    assert.equal(info.testImages, 32);
    assert.equal(info.startEpoch, 1);
  },
});

Deno.test({
  name: "exp2 --resume auto continues a one-epoch run to the same epoch 2 as an uninterrupted run",
  ignore,
  async fn() {
    const { a, b, results, a1Files } = await runs();
    assertOk(results.a2, "resumed run A");
    assert.match(results.a2.stderr, /resumed from .*epoch-001\.safetensors after epoch 1/);
    assert.deepEqual(rowsWithoutTiming(new TextDecoder().decode(a1Files.get("metrics.csv")!)).length, 1);
    const resumed = rowsWithoutTiming(await Deno.readTextFile(join(a, "metrics.csv")));
    const straight = rowsWithoutTiming(await Deno.readTextFile(join(b, "metrics.csv")));
    assert.equal(resumed.length, 2);
    assert.deepEqual(resumed[1], straight[1]);
    assert.deepEqual(resumed[0], straight[0]);
    // The first epoch's checkpoint is left as it was; the second is added.
    assert.deepEqual(
      await Deno.readFile(join(a, "checkpoints/epoch-001.safetensors")),
      a1Files.get("checkpoints/epoch-001.safetensors"),
    );
    assert.ok(await exists(join(a, "checkpoints/epoch-002.safetensors")));
    const info = JSON.parse(await Deno.readTextFile(join(a, "run.json")));
    assert.equal(info.startEpoch, 2);
    // Bit for bit the same weights as the uninterrupted run: weights, momentum, BN statistics
    // and the RNG all come back from the checkpoint.
    const wa = decodeWeights(await Deno.readFile(join(a, "final.safetensors"))).state;
    const wb = decodeWeights(await Deno.readFile(join(b, "final.safetensors"))).state;
    assert.deepEqual(wa, wb);
  },
});

Deno.test({
  name: "exp2 --init starts from a weights file",
  ignore,
  async fn() {
    const { b, c, results } = await runs();
    assertOk(results.c, "run C (--init)");
    assert.match(
      results.c.stderr,
      new RegExp(`initial weights from ${join(b, "final.safetensors")} \\(safetensors\\)`),
    );
    const metrics = parseCsv(await Deno.readTextFile(join(c, "metrics.csv")));
    assert.deepEqual(metrics.map((r) => [r.epoch, r.lr]), [["1", "0.01"]]);
    const info = JSON.parse(await Deno.readTextFile(join(c, "run.json")));
    assert.equal(info.config.init, join(b, "final.safetensors"));
    // Starting from B's trained weights, the running BN counters carry on from B's 4 steps.
    const final = decodeWeights(await Deno.readFile(join(c, "final.safetensors"))).state;
    assert.equal(final.get("bn1.num_batches_tracked")!.data[0], 6n);
  },
});

Deno.test({
  name: "exp2 refuses to overwrite a run folder without --resume and leaves it byte-identical",
  ignore,
  async fn() {
    const { b } = await runs();
    const before = await snapshot(b);
    const r = await exp2([...SMALL, "--schedule", "0.1:1", "--out", b]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(`--out ${b} already holds a run \\(metrics\\.csv\\): continue it with --resume auto`),
    );
    assert.deepEqual(await snapshot(b), before);
  },
});

Deno.test({
  name: "exp2 rejects bad flags, data and checkpoints with a clear message and no damaged output",
  ignore,
  async fn() {
    const { tmp, b, a1Files } = await runs();
    const bad = join(tmp, "bad");
    await Deno.mkdir(bad);
    // Synthetic data folders: a truncated training file, and a label byte of 10.
    const truncated = join(bad, "truncated");
    await Deno.mkdir(truncated);
    await Deno.writeFile(join(truncated, "data_batch_1.bin"), records(10).subarray(0, 10 * RECORD_BYTES - 5));
    await Deno.writeFile(join(truncated, "test_batch.bin"), records(10));
    const label10 = join(bad, "label10");
    await Deno.mkdir(label10);
    const withBadLabel = records(10);
    withBadLabel[3 * RECORD_BYTES] = 10;
    await Deno.writeFile(join(label10, "data_batch_1.bin"), withBadLabel);
    await Deno.writeFile(join(label10, "test_batch.bin"), records(10));

    // Damaged weight files, made from A's first checkpoint (same config, so --resume gets to the tensors).
    const ckptBytes = a1Files.get("checkpoints/epoch-001.safetensors")!;
    const ckpt = decodeCheckpoint(ckptBytes);
    const meta = { epoch: ckpt.epoch, rng: ckpt.rng, config: ckpt.config, metrics: ckpt.metrics };
    const conv1 = ckpt.model.get("conv1.weight")!;
    const nanData = Float32Array.from(conv1.data as Float32Array);
    nanData[7] = NaN;
    const files: Record<string, Uint8Array> = {
      "huge.safetensors": (() => {
        const h = new Uint8Array(64);
        new DataView(h.buffer).setBigUint64(0, 2n ** 60n, true);
        return h;
      })(),
      "overlap.safetensors": (() => {
        const json = new TextEncoder().encode(JSON.stringify({
          a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
          b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
        }));
        const out = new Uint8Array(8 + json.length + 12);
        new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
        out.set(json, 8);
        return out;
      })(),
      "shape-ckpt.safetensors": encodeCheckpoint(
        withTensor(ckpt.model, "conv1.weight", [16, 3, 3, 1], new Float32Array(144)),
        ckpt.optimizer,
        meta,
      ),
      "nan-ckpt.safetensors": encodeCheckpoint(
        withTensor(ckpt.model, "conv1.weight", conv1.shape, nanData),
        ckpt.optimizer,
        meta,
      ),
      "shape.safetensors": encodeSafetensors(
        withTensor(ckpt.model, "conv1.weight", [16, 3, 3, 1], new Float32Array(144)),
      ),
      "nan.safetensors": encodeSafetensors(withTensor(ckpt.model, "conv1.weight", conv1.shape, nanData)),
    };
    for (const [name, bytes] of Object.entries(files)) await Deno.writeFile(join(bad, name), bytes);
    const f = (name: string) => join(bad, name);

    // A folder with a finished first epoch, for --resume cases: it must come out byte-identical.
    const z = join(tmp, "z");
    await writeTree(z, a1Files);
    const zBefore = await snapshot(z);
    // A copy whose latest checkpoint is cut short, for --resume auto.
    const cut = join(tmp, "cut");
    await writeTree(cut, a1Files);
    const cutCkpt = join(cut, "checkpoints/epoch-002.safetensors");
    await Deno.writeFile(cutCkpt, ckptBytes.subarray(0, 1000));
    const cutBefore = await snapshot(cut);

    const fresh = (name: string) => join(tmp, "never", name);
    const huge = String(2n ** 60n);
    const cases: { args: string[]; code: number; message: RegExp | string; out?: string; net?: boolean }[] = [
      {
        args: [...SMALL, "--data-dir", truncated, "--out", fresh("truncated")],
        code: 1,
        message: `File "${truncated}/data_batch_1.bin" has ${
          10 * RECORD_BYTES - 5
        } bytes, expected a multiple of 3073`,
      },
      {
        args: [...SMALL, "--data-dir", label10, "--limit-train", "8", "--out", fresh("label10")],
        code: 1,
        message:
          `File "${label10}/data_batch_1.bin" record 3 (byte offset ${3 * RECORD_BYTES}) has label 10, ` +
          `expected 0..9`,
      },
      {
        args: [...SMALL, "--data-dir", join(bad, "nowhere"), "--out", fresh("nodata")],
        code: 1,
        message: new RegExp(
          `Could not download CIFAR-10 .*Put the CIFAR-10 binary files \\(data_batch_1\\.bin.*\\) in ` +
            `"${join(bad, "nowhere")}", or point the lab at a folder holding them with --data-dir or the ` +
            `CIFAR10_DIR environment variable`,
        ),
      },
      {
        args: [...SMALL, "--resume", f("huge.safetensors"), "--out", z],
        code: 1,
        message:
          `Header length '${huge}' exceeds the 56 bytes after the length field (or the 16777216-byte ` +
          `limit) in '${f("huge.safetensors")}'`,
      },
      {
        args: [...SMALL, "--init", f("huge.safetensors"), "--out", fresh("huge")],
        code: 1,
        message: `Header length '${huge}' exceeds the 56 bytes after the length field`,
      },
      {
        args: [...SMALL, "--resume", f("overlap.safetensors"), "--out", z],
        code: 1,
        message: `Data of tensor 'b' [4, 12] overlaps tensor 'a' [0, 8] in '${f("overlap.safetensors")}'`,
      },
      {
        args: [...SMALL, "--init", f("overlap.safetensors"), "--out", fresh("overlap")],
        code: 1,
        message: `Data of tensor 'b' [4, 12] overlaps tensor 'a' [0, 8] in '${f("overlap.safetensors")}'`,
      },
      {
        args: [...SMALL, "--resume", f("shape-ckpt.safetensors"), "--out", z],
        code: 1,
        message: `Tensor 'conv1.weight' in '${f("shape-ckpt.safetensors")}' is F32 [16, 3, 3, 1], ` +
          `expected F32 [16, 3, 3, 3]`,
      },
      {
        args: [...SMALL, "--init", f("shape.safetensors"), "--out", fresh("shape")],
        code: 1,
        message: `Tensor 'conv1.weight' in '${
          f("shape.safetensors")
        }' is F32 [16, 3, 3, 1], expected F32 [16, 3, 3, 3]`,
      },
      {
        args: [...SMALL, "--resume", f("nan-ckpt.safetensors"), "--out", z],
        code: 1,
        message: `Tensor 'conv1.weight' in '${
          f("nan-ckpt.safetensors")
        }' holds a non-finite value 'NaN' at flat index 7`,
      },
      {
        args: [...SMALL, "--init", f("nan.safetensors"), "--out", fresh("nan")],
        code: 1,
        message: `Tensor 'conv1.weight' in '${
          f("nan.safetensors")
        }' holds a non-finite value 'NaN' at flat index 7`,
      },
      {
        args: [...SMALL, "--resume", "auto", "--out", cut],
        code: 1,
        message: `in '${cutCkpt}'`,
        out: cut,
      },
      {
        args: [...SMALL, "--resume", join(b, "final.safetensors"), "--out", z],
        code: 1,
        message: `${join(b, "final.safetensors")} is not a training checkpoint`,
      },
      {
        args: [...SMALL, "--schedule", "0.1:0", "--out", fresh("schedule")],
        code: 2,
        message:
          `--schedule: Schedule stage 1 is "0.1:0": expected LR:EPOCHS stages such as "0.1:5,0.01:5", ` +
          `with LR > 0 and a whole number of epochs >= 1`,
      },
      {
        args: [...SMALL, "--batch-size", "0", "--out", fresh("bs0")],
        code: 2,
        message: `--batch-size must be an integer at least 1 and at most 4096, got "0"`,
      },
      {
        // Given on the bad-label data so that a silently accepted value fails fast, with exit code 1.
        args: [...SMALL, "--data-dir", label10, "--batch-size", "", "--out", fresh("bs-empty")],
        code: 2,
        message: `--batch-size must be an integer, got ""`,
      },
      {
        args: [...SMALL.slice(0, 4), "--batch-size", "16", "--resume", "auto", "--out", z],
        code: 2,
        message: `was trained with batchSize 32, this run asks for 16: an exact resume needs the same value`,
      },
      {
        args: [...SMALL, "--resume", "auto", "--init", join(b, "final.safetensors"), "--out", z],
        code: 2,
        message: `--resume and --init exclude each other`,
      },
      {
        args: [...SMALL, "--init", join(bad, "missing.safetensors"), "--out", fresh("missing")],
        code: 1,
        message: `Cannot read weights "${join(bad, "missing.safetensors")}": no such file`,
      },
    ];
    // A few at a time: each is a short-lived process.
    const results: Result[] = [];
    for (let i = 0; i < cases.length; i += 4) {
      results.push(...await Promise.all(cases.slice(i, i + 4).map((c) => exp2(c.args))));
    }
    const failures: string[] = [];
    cases.forEach((c, i) => {
      const r = results[i];
      const text = r.stderr;
      const matched = typeof c.message === "string" ? text.includes(c.message) : c.message.test(text);
      if (r.code !== c.code || !matched || !/^error: /m.test(text)) {
        failures.push(
          `exp2 ${c.args.slice(SMALL.length).join(" ")}\n  exit ${r.code} (want ${c.code})\n  ` +
            `stderr: ${text.trim().split("\n").slice(-2).join(" | ")}\n  want: ${c.message}`,
        );
      }
    });
    assert.deepEqual(failures, []);
    // No output anywhere it should not be.
    assert.equal(await exists(join(tmp, "never")), false, "a failed run created its --out folder");
    assert.equal(await exists(join(bad, "nowhere")), false, "a failed download created the data folder");
    assert.deepEqual(await snapshot(z), zBefore);
    assert.deepEqual(await snapshot(cut), cutBefore);
  },
});

Deno.test({
  name: "exp2 --help prints the usage",
  async fn() {
    const r = await exp2(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: deno task exp2 \[flags\]/);
    assert.match(r.stdout, /--resume auto\|FILE/);
  },
});

Deno.test({
  name: "exp2 names an unknown flag",
  async fn() {
    const r = await exp2(["--epochs", "3"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: Unknown flag --epochs: see --help$/m);
  },
});

/**
 * Integration tests of `labs/exp2.ts` as a subprocess on tiny subsets of the
 * real CIFAR-10 files (`../shared/data/cifar-10-batches-bin`) and on small
 * synthetic batches. The training runs (native backend) are shared between
 * tests: phase 1 runs A (`0.1:1`) and B (`0.1:1,0.01:1`), phase 2 resumes A
 * to two epochs (repeating only --schedule) and starts C from B's final
 * weights (which record B's two epochs: C trains epoch 3).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeCheckpoint, encodeCheckpoint } from "../../lib/formats/checkpoint.ts";
import { decodePth } from "../../lib/formats/pth.ts";
import { CLASS_NAMES, RECORD_BYTES } from "../../lib/data/cifar.ts";
import { parseCsv } from "../../lib/report/csv.ts";
import { exists } from "../../lib/runtime/files.ts";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { encodeSafetensors } from "../../lib/formats/safetensors.ts";
import type { StateDict } from "../../lib/formats/state_dict.ts";
import { decodeWeights } from "../../lib/formats/weights.ts";
import {
  argv,
  assertOk,
  CIFAR_DIR,
  haveCifar,
  labCommand,
  type LabResult as Result,
  REPO,
  rowsWithoutTiming,
  runLab,
  type RunLabOptions,
  snapshot,
} from "../helpers.ts";

/** Runs `labs/exp2.ts` with `args` and the task's permissions. */
function exp2(args: string[], options: RunLabOptions = {}): Promise<Result> {
  return runLab("exp2", args, options);
}

const native = nativeAvailable();
const ignore = !native.ok || !haveCifar;

const HEADER = "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second";
/** Small and quick: two steps of 32 per epoch, 32 test images. */
const SMALL = ["--limit-train", "64", "--limit-test", "32", "--batch-size", "32", "--backend", "native"];
/** Epochs of a few seconds (32 steps), for tests that act during one. */
const LONGER = ["--limit-train", "1024", "--limit-test", "32", "--batch-size", "32", "--backend", "native"];

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
      // Only what changes is given again: the subset, batch size and seed come from the checkpoint.
      const a2 = await exp2([
        ...argv("--schedule 0.1:1,0.01:1 --resume auto --out"),
        a,
        "--backend",
        "native",
      ]);
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
    // The CSV goes to stdout, header and one row per epoch, the same stream.
    assert.deepEqual(
      results.b.stdout.trim().split("\n").map((l) => l.split(",").slice(0, 6).join(",")),
      metricsText.trim().split("\n").map((l) => l.split(",").slice(0, 6).join(",")),
    );
    // How to continue is said at the start; no driver noise.
    assert.match(
      results.b.stderr,
      new RegExp(`to continue it after a stop: deno task exp2 --resume auto --out ${b}`),
    );
    assert.doesNotMatch(results.b.stderr, /XDG_RUNTIME_DIR/);

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
    // final.pth, the hand-in: the same weights under "net", with acc (percent) and epoch.
    const pth = decodePth(await Deno.readFile(join(b, "final.pth")), { source: "final.pth" });
    assert.equal(pth.key, "net");
    assert.deepEqual(pth.state, ckpt.model);
    assert.equal(pth.extra.epoch, 2);
    assert.ok(
      Math.abs((pth.extra.acc as number) - 100 * Number(metrics[1].test_acc)) < 1e-3,
      `${pth.extra.acc}`,
    );

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
    assert.equal(info.config.limitTrain, 64, "the subset comes from the checkpoint");
    // The command that started the run is kept; every session is listed.
    assert.match(info.command, /--schedule 0\.1:1 --out/);
    assert.deepEqual(info.sessions.map((x: { startEpoch: number }) => x.startEpoch), [1, 2]);
    // Bit for bit the same weights as the uninterrupted run: weights, momentum, BN statistics
    // and the RNG all come back from the checkpoint.
    const wa = decodeWeights(await Deno.readFile(join(a, "final.safetensors"))).state;
    const wb = decodeWeights(await Deno.readFile(join(b, "final.safetensors"))).state;
    assert.deepEqual(wa, wb);
  },
});

Deno.test({
  name: "exp2 --init from weights that record their epochs continues the numbering and carries them",
  ignore,
  async fn() {
    const { b, c, results } = await runs();
    assertOk(results.c, "run C (--init)");
    assert.match(
      results.c.stderr,
      new RegExp(`initial weights from ${join(b, "final.safetensors")} \\(safetensors\\)`),
    );
    assert.match(results.c.stderr, /records 2 epochs \(0\.1:1,0\.01:1\): this run continues with epoch 3/);
    const metrics = parseCsv(await Deno.readTextFile(join(c, "metrics.csv")));
    assert.deepEqual(metrics.map((r) => [r.epoch, r.lr, r.inherited_from]), [
      ["1", "0.1", "final.safetensors"],
      ["2", "0.01", "final.safetensors"],
      ["3", "0.01", ""],
    ]);
    // B's rows, as B wrote them.
    const bRows = parseCsv(await Deno.readTextFile(join(b, "metrics.csv")));
    assert.deepEqual(metrics.slice(0, 2).map((r) => r.test_acc), bRows.map((r) => r.test_acc));
    const info = JSON.parse(await Deno.readTextFile(join(c, "run.json")));
    assert.equal(info.config.init, join(b, "final.safetensors"));
    assert.equal(info.config.schedule, "0.1:1,0.01:2");
    assert.equal(info.startEpoch, 3);
    // The chart spans the inherited epochs too.
    assert.match(await Deno.readTextFile(join(c, "accuracy.svg")), /LR 0\.01/);
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
      new RegExp(`--out "${b}" already holds a run \\(metrics\\.csv\\): continue it with --resume auto`),
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
    // Empty data files: the test file, and every training file.
    const empty = join(bad, "empty");
    await Deno.mkdir(empty);
    await Deno.writeFile(join(empty, "data_batch_1.bin"), records(10));
    await Deno.writeFile(join(empty, "test_batch.bin"), new Uint8Array(0));
    const emptyTrain = join(bad, "empty-train");
    await Deno.mkdir(emptyTrain);
    for (const f of ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin"]) {
      await Deno.writeFile(join(emptyTrain, f), new Uint8Array(0));
    }
    await Deno.writeFile(join(emptyTrain, "data_batch_5.bin"), new Uint8Array(0));
    await Deno.writeFile(join(emptyTrain, "test_batch.bin"), records(10));
    // A course-style .pth, and a finished Lab 1 folder.
    const pth = join(bad, "pretrain_model.pth");
    await Deno.writeFile(pth, await Deno.readFile(join(REPO, "tests/fixtures/weights/resnet20_net.pth")));
    const lab1 = join(tmp, "lab1");
    await Deno.mkdir(lab1);
    await Deno.writeTextFile(join(lab1, "run.json"), JSON.stringify({ lab: "exp1", config: {} }));
    await Deno.writeTextFile(join(lab1, "summary.csv"), "run,epochs\n");
    const lab1Before = await snapshot(lab1);
    const bBefore = await snapshot(b);

    const fresh = (name: string) => join(tmp, "never", name);
    const huge = String(2n ** 60n);
    const cases: { args: string[]; code: number; message: RegExp | string }[] = [
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
        // A misspelled folder: no download into it, one line saying what to do.
        args: [...SMALL, "--data-dir", join(bad, "nowhere"), "--out", fresh("nodata")],
        code: 1,
        message:
          `CIFAR-10 folder "${join(bad, "nowhere")}" does not exist (looked for data_batch_1.bin ... ` +
          `test_batch.bin in it and in its cifar-10-batches-bin/ and cifar-10-batches-py/): point --data-dir or ` +
          `CIFAR10_DIR at the folder holding them, or add --download to fetch the official archive (170 MB) into it`,
      },
      {
        args: [...SMALL, "--data-dir", join(truncated, "test_batch.bin"), "--out", fresh("datafile")],
        code: 1,
        message: `CIFAR-10 folder "${join(truncated, "test_batch.bin")}" is a file, not a folder`,
      },
      {
        args: [...SMALL, "--data-dir", empty, "--limit-train", "8", "--out", fresh("empty")],
        code: 1,
        message: `CIFAR-10 file "${empty}/test_batch.bin" is empty (0 bytes)`,
      },
      {
        args: [...SMALL, "--data-dir", emptyTrain, "--limit-train", "50000", "--out", fresh("emptytrain")],
        code: 1,
        message: `CIFAR-10 file "${emptyTrain}/data_batch_1.bin" is empty (0 bytes)`,
      },
      {
        // Refused before anything is loaded: the data folder does not even exist.
        args: [
          ...SMALL.slice(0, -2),
          "--backend",
          "wasm",
          "--data-dir",
          join(bad, "nowhere"),
          "--out",
          fresh("w"),
        ],
        code: 2,
        message:
          `--backend "wasm" cannot train ResNet20: tfjs's wasm backend has no Conv2DBackpropFilter kernel`,
      },
      {
        args: [...SMALL, "--resume", z, "--out", fresh("folder")],
        code: 2,
        message: `--resume "${z}" is a folder: to continue the run in it, use --resume auto --out ${z}`,
      },
      {
        args: [...SMALL, "--resume", pth, "--out", fresh("pth")],
        code: 2,
        message:
          `--resume "${pth}" is a PyTorch .pth (weights only: no momentum buffers, data order or epoch ` +
          `to continue): start a run from its weights with --init ${pth}`,
      },
      {
        args: ["--schedule", "0.05:2", "--resume", "auto", "--out", z],
        code: 2,
        message:
          `--schedule "0.05:2" does not extend the schedule "0.1:1" of ${z}/checkpoints/epoch-001.safetensors`,
      },
      {
        // A checkpoint of another run into a finished run's folder: nothing of b may change.
        args: ["--resume", join(z, "checkpoints/epoch-001.safetensors"), "--out", b],
        code: 2,
        message: `--out "${b}" already holds another run (metrics.csv) than --resume`,
      },
      {
        args: [...SMALL, "--out", lab1],
        code: 2,
        message: `--out "${lab1}" already holds an exp1 run (summary.csv): choose another --out`,
      },
      {
        args: [...SMALL, "--resume", "auto", "--out", lab1],
        code: 2,
        message: `--out "${lab1}" already holds an exp1 run (summary.csv): choose another --out`,
      },
      {
        args: [...SMALL, "--resume", "auto", "--out", fresh("typo")],
        code: 2,
        message: `--out "${fresh("typo")}" does not exist: there is no run to continue with --resume auto`,
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
        args: [...SMALL, "--resume", f("shape-ckpt.safetensors"), "--out", fresh("shape-ckpt")],
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
        args: [...SMALL, "--resume", f("nan-ckpt.safetensors"), "--out", fresh("nan-ckpt")],
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
        message:
          `was trained with --batch-size 32, this run asks for 16: an exact resume needs the same value`,
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
    assert.deepEqual(await snapshot(lab1), lab1Before);
    assert.deepEqual(await snapshot(b), bBefore);
  },
});

Deno.test({
  name: "exp2 stops a diverging run: marked in metrics.csv and run.json, no weights written, exit 1",
  ignore,
  async fn() {
    const { tmp } = await runs();
    const out = join(tmp, "diverged");
    const r = await exp2([...SMALL, "--schedule", "1e30:1", "--out", out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^error: Training diverged in epoch 1: .* at LR 1e\+30: the run stopped, marked diverged/m,
    );
    assert.equal(r.stderr.trim().split("\n").filter((l) => l.startsWith("error:")).length, 1);
    const rows = parseCsv(await Deno.readTextFile(join(out, "metrics.csv")));
    assert.equal(rows.length, 1);
    assert.match(rows[0].train_loss + rows[0].test_loss, /NaN|Infinity/);
    const info = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
    assert.deepEqual([info.status, info.divergedEpoch], ["diverged", 1]);
    for (const f of ["final.safetensors", "final.pth", "checkpoints/epoch-001.safetensors"]) {
      assert.equal(await exists(join(out, f)), false, `${f} written`);
    }
    // The report reads it and says so.
    const report = join(tmp, "diverged-report.md");
    const rep = await runLab("report", [out, "--out", report]);
    assertOk(rep, "report of a diverged run");
    assert.match(await Deno.readTextFile(report), /\*\*The run diverged in epoch 1\*\*/);
  },
});

Deno.test({
  name:
    "exp2 --resume auto skips a damaged latest checkpoint, removes temporary files of kills, and a no-op resume writes nothing",
  ignore,
  async fn() {
    const { tmp, b } = await runs();
    const cut = join(tmp, "cut");
    const files = await snapshot(b);
    for (const f of ["final.safetensors", "final.pth", "per_class.csv", "confusion.csv"]) files.delete(f);
    const ckpt2 = files.get("checkpoints/epoch-002.safetensors")!;
    files.set("checkpoints/epoch-002.safetensors", ckpt2.subarray(0, 1000));
    files.set("metrics.csv.tmp-999999999-0a1b2c3d", new Uint8Array(2_000));
    files.set("checkpoints/epoch-002.safetensors.tmp-999999998-0a1b2c3d", new Uint8Array(2_000));
    await writeTree(cut, files);
    // Left by kills long ago.
    for (
      const f of [
        "metrics.csv.tmp-999999999-0a1b2c3d",
        "checkpoints/epoch-002.safetensors.tmp-999999998-0a1b2c3d",
      ]
    ) {
      await Deno.utime(join(cut, f), 0, 0);
    }
    const r = await exp2(["--resume", "auto", "--out", cut, "--backend", "native"]);
    assertOk(r, "resume past a damaged checkpoint");
    assert.match(r.stderr, new RegExp(`skipped the damaged ${cut}/checkpoints/epoch-002\\.safetensors \\(`));
    assert.match(r.stderr, /resumed from .*epoch-001\.safetensors after epoch 1/);
    assert.equal(await exists(join(cut, "metrics.csv.tmp-999999999-0a1b2c3d")), false);
    assert.equal(await exists(join(cut, "checkpoints/epoch-002.safetensors.tmp-999999998-0a1b2c3d")), false);
    // Epoch 2 again from epoch 1's checkpoint: the same weights as B's.
    assert.deepEqual(
      decodeWeights(await Deno.readFile(join(cut, "final.safetensors"))).state,
      decodeWeights(await Deno.readFile(join(b, "final.safetensors"))).state,
    );
    // Nothing left to do: nothing is rewritten, run.json included.
    const before = await snapshot(cut);
    const again = await exp2(["--resume", "auto", "--out", cut]);
    assertOk(again, "no-op resume");
    assert.match(
      again.stderr,
      /has already trained the 2 epochs of its schedule "0\.1:1,0\.01:1": nothing to do/,
    );
    assert.deepEqual(await snapshot(cut), before);
  },
});

Deno.test({
  name: "exp2 --resume auto without --out continues the one unfinished run under runs/, or lists them",
  ignore,
  async fn() {
    const { tmp, b, a1Files } = await runs();
    const root = join(tmp, "project");
    await Deno.mkdir(join(root, "runs"), { recursive: true });
    const none = await exp2(["--resume", "auto"], { cwd: root });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /^error: --resume auto found no exp2 run with a checkpoint under runs\/: /m);
    assert.deepEqual([...Deno.readDirSync(join(root, "runs"))], [], "started a fresh run");

    // An unfinished run (epoch 1 of 2), another one, and a finished one.
    const unfinished = await snapshot(b);
    for (const f of ["final.safetensors", "final.pth", "per_class.csv", "confusion.csv"]) {
      unfinished.delete(f);
    }
    unfinished.delete("checkpoints/epoch-002.safetensors");
    await writeTree(join(root, "runs/u1"), unfinished);
    await writeTree(join(root, "runs/u2"), unfinished);
    await writeTree(join(root, "runs/done"), a1Files);
    const before = await snapshot(join(root, "runs"));
    const two = await exp2(["--resume", "auto"], { cwd: root });
    assert.equal(two.code, 2, two.stderr);
    assert.match(
      two.stderr,
      /^error: --resume auto without --out is ambiguous: 2 unfinished exp2 runs under runs\/, newest first: runs\/u[12] \(epoch 1 of 2\), runs\/u[12] \(epoch 1 of 2\): say which with --out DIR$/m,
    );
    assert.deepEqual(await snapshot(join(root, "runs")), before);

    await Deno.remove(join(root, "runs/u2"), { recursive: true });
    const one = await exp2(["--resume", "auto", "--backend", "native"], { cwd: root });
    assertOk(one, "--resume auto of the one unfinished run");
    assert.match(
      one.stderr,
      /exp2: --resume auto continues runs\/u1 \(the one unfinished exp2 run under runs\/ with a checkpoint, at epoch 1\)/,
    );
    assert.ok(await exists(join(root, "runs/u1/checkpoints/epoch-002.safetensors")));
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(join(root, "runs")))).map((e) => e.name).sort(),
      ["done", "u1"],
    );
  },
});

Deno.test({
  name: "exp2 stops cleanly on Ctrl-C: the last checkpoint intact, how to continue printed, exit 130",
  ignore,
  async fn() {
    const { tmp } = await runs();
    const out = join(tmp, "interrupted");
    const child = labCommand("exp2", [
      ...LONGER,
      "--schedule",
      "0.1:4",
      "--out",
      out,
    ]).spawn();
    const stderr = new Response(child.stderr).text();
    const stdout = new Response(child.stdout).text();
    const first = join(out, "checkpoints/epoch-001.safetensors");
    const deadline = Date.now() + 120_000;
    while (!(await exists(first)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    child.kill("SIGINT");
    const status = await child.status;
    const err = await stderr;
    await stdout;
    assert.equal(status.code, 130, err);
    assert.match(err, /exp2: stopping after the current step \(Ctrl-C again stops at once\)/);
    assert.match(err, /exp2: stopped (during|after) epoch \d/);
    assert.match(err, new RegExp(`exp2: continue with: deno task exp2 --resume auto --out ${out}$`, "m"));
    assert.doesNotMatch(err, /^error:/m);
    const latest = [...Deno.readDirSync(join(out, "checkpoints"))].map((e) => e.name).sort().at(-1)!;
    assert.equal(
      decodeCheckpoint(await Deno.readFile(join(out, "checkpoints", latest))).config.limitTrain,
      1024,
    );
  },
});

Deno.test({
  name: "exp2 --watch serves the live page, which shows progress within the epoch, and stops with the run",
  ignore,
  async fn() {
    const { tmp } = await runs();
    const out = join(tmp, "watched");
    const child = labCommand("exp2", [
      ...LONGER,
      ...argv("--schedule 0.1:1 --watch --out"),
      out,
    ]).spawn();
    const stdout = new Response(child.stdout).text();
    let err = "";
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const reading = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) err += r.value;
    })();
    const deadline = Date.now() + 120_000;
    let url = "";
    while (!url && Date.now() < deadline) {
      url = err.match(/exp2: watch the run at (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1] ?? "";
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(url, `no URL printed: ${err}`);
    // During the epoch (before metrics.csv), the page's API shows a fraction of it done.
    const seen: number[] = [];
    while (!(await exists(join(out, "metrics.csv"))) && Date.now() < deadline) {
      try {
        const views = await (await fetch(`${url}api/runs`)).json();
        const fraction = views[0]?.bars?.[0]?.fraction;
        if (views[0]?.status === "running" && typeof fraction === "number") seen.push(fraction);
      } catch {
        // The run ended between two polls.
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const status = await child.status;
    await reading;
    await stdout;
    assert.equal(status.code, 0, err);
    assert.ok(seen.some((f) => f > 0 && f < 1), `fractions seen during the epoch: ${seen.join(", ")}`);
    // Not served after the run (no --stay).
    await assert.rejects(fetch(`${url}api/runs`));
    const steps = parseCsv(await Deno.readTextFile(join(out, "steps.csv")));
    assert.ok(steps.length >= 2, `${steps.length} rows`);
    assert.deepEqual(Object.keys(steps[0]), ["step", "epoch", "lr", "loss", "acc", "images_per_second"]);
  },
});

Deno.test({
  name: "exp2 finds the data under a parent folder, with no XDG_RUNTIME_DIR noise when the variable is unset",
  ignore,
  async fn() {
    const { tmp } = await runs();
    const parent = join(tmp, "data-parent");
    await Deno.mkdir(join(parent, "cifar-10-batches-bin"), { recursive: true });
    await Deno.writeFile(join(parent, "cifar-10-batches-bin/data_batch_1.bin"), records(10));
    await Deno.writeFile(join(parent, "cifar-10-batches-bin/test_batch.bin"), records(10));
    const out = join(tmp, "from-parent");
    const r = await exp2(
      [
        ...SMALL,
        ...argv("--limit-train 8 --limit-test 8 --data-dir"),
        parent,
        "--schedule",
        "0.1:1",
        "--out",
        out,
      ],
      { unsetEnv: ["XDG_RUNTIME_DIR"] },
    );
    assertOk(r, "exp2 --data-dir PARENT");
    assert.match(r.stderr, new RegExp(`8 training and 8 test images from ${parent}/cifar-10-batches-bin`));
    assert.doesNotMatch(r.stderr, /XDG_RUNTIME_DIR/);
  },
});

Deno.test({
  name:
    "exp2 without native libraries says how slow the cpu backend is and what to install, before loading data",
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "exp2_test_" });
    try {
      // Data that fails to load: the run ends right after the notice.
      const data = join(tmp, "data");
      await Deno.mkdir(data);
      const out = join(tmp, "run");
      const r = await exp2(
        ["--data-dir", data, "--backend", "auto", "--schedule", "0.1:5,0.01:5", "--out", out],
        { env: { TFJS_LAB_DNNL: "none", TFJS_LAB_BLAS: "none" }, unsetEnv: ["XDG_RUNTIME_DIR"] },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /^exp2: backend cpu on .* native unavailable \(No oneDNN or CBLAS library found/m,
      );
      assert.match(
        r.stderr,
        /^exp2: SLOW: no oneDNN or OpenBLAS library was found, so this runs on the plain cpu backend: about 21:4\d:\d\d for this run \(native: about 22:3\d\)\.$/m,
      );
      assert.match(r.stderr, /^exp2: install them: sudo apt-get install -y libdnnl2 libopenblas0-pthread/m);
      assert.ok(r.stderr.split("\n").every((l) => l.length < 400), "no 1,000-character lines");
      assert.doesNotMatch(r.stderr, /XDG_RUNTIME_DIR/);
      assert.equal(await exists(out), false);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
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

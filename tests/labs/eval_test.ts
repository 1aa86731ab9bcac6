/**
 * Integration tests of `labs/eval.ts`, `labs/predict.ts` and
 * `labs/export.ts` as subprocesses, on the fixture weights and the first test
 * images of the real CIFAR-10 files. The expected logits
 * (`fixtures/eval/logits16_test_images.csv`) come from PyTorch:
 *
 *   /usr/bin/python3 ../shared/reference/pytorch_resnet20.py logits \
 *     --weights tests/fixtures/weights/resnet20.safetensors --limit-test 16
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encode } from "fast-png";
import jpeg from "jpeg-js";
import { encodeCheckpoint } from "../../lib/formats/checkpoint.ts";
import { CLASS_NAMES, RECORD_BYTES } from "../../lib/data/cifar.ts";
import { parseCsv } from "../../lib/report/csv.ts";
import { exists } from "../../lib/runtime/files.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/formats/safetensors.ts";
import type { StateDict } from "../../lib/formats/state_dict.ts";
import { decodeWeights } from "../../lib/formats/weights.ts";
import { assertOk, CIFAR_DIR, haveCifar, REPO, runLab as lab } from "../helpers.ts";

const TEST_BATCH = join(CIFAR_DIR, "test_batch.bin");
const WEIGHTS = join(REPO, "tests/fixtures/weights/resnet20.safetensors");
const WEIGHTS_PTH = join(REPO, "tests/fixtures/weights/resnet20_net.pth");
const haveData = haveCifar;

/** The first `n` records of the real test batch. */
async function firstTestRecords(n: number): Promise<Uint8Array> {
  using file = await Deno.open(TEST_BATCH);
  const bytes = new Uint8Array(n * RECORD_BYTES);
  let at = 0;
  while (at < bytes.length) at += (await file.read(bytes.subarray(at)))!;
  return bytes;
}

/** PyTorch's logits of the first 16 test images: rows of [image, label, logit0..9]. */
function torchRows(): Record<string, string>[] {
  return parseCsv(
    Deno.readTextFileSync(new URL("../fixtures/eval/logits16_test_images.csv", import.meta.url)),
  );
}

const LOGIT_COLUMNS = Array.from({ length: 10 }, (_, k) => `logit${k}`);

function reference(): StateDict {
  return decodeSafetensors(Deno.readFileSync(WEIGHTS)).state;
}

Deno.test({
  name: "eval prints accuracy and a confusion CSV, and writes PyTorch's logits with --logits-csv",
  ignore: !haveData,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "eval_test_" });
    try {
      const logitsCsv = join(tmp, "logits.csv");
      const out = join(tmp, "out");
      const r = await lab("eval", [
        "--weights",
        WEIGHTS,
        "--limit-test",
        "16",
        "--logits-csv",
        logitsCsv,
        "--out",
        out,
        "--backend",
        "cpu",
      ]);
      assertOk(r, "eval");
      const want = torchRows();
      const correct = want.filter((row) => {
        const logits = LOGIT_COLUMNS.map((c) => Number(row[c]));
        return logits.indexOf(Math.max(...logits)) === Number(row.label);
      }).length;
      assert.match(
        r.stderr,
        new RegExp(`eval: test accuracy ${(100 * correct / 16).toFixed(2)}% \\(${correct}/16\\)`),
      );
      assert.match(r.stderr, /resnet20\.safetensors \(safetensors\)/);
      // The confusion matrix on stdout, the same text as confusion.csv.
      const confusion = await Deno.readTextFile(join(out, "confusion.csv"));
      assert.equal(r.stdout.trimEnd(), confusion.trimEnd());
      assert.equal(confusion.split("\n")[0], `label,${CLASS_NAMES.join(",")}`);
      const perClass = parseCsv(await Deno.readTextFile(join(out, "per_class.csv")));
      assert.equal(perClass.reduce((n, row) => n + Number(row.total), 0), 16);
      assert.equal(perClass.reduce((n, row) => n + Number(row.correct), 0), correct);

      const text = await Deno.readTextFile(logitsCsv);
      assert.equal(text.split("\n")[0], `image,label,${LOGIT_COLUMNS.join(",")}`);
      const got = parseCsv(text);
      assert.equal(got.length, 16);
      let worst = 0;
      got.forEach((row, i) => {
        assert.equal(row.image, String(i));
        assert.equal(row.label, want[i].label, `label of image ${i}`);
        for (const c of LOGIT_COLUMNS) worst = Math.max(worst, Math.abs(Number(row[c]) - Number(want[i][c])));
      });
      assert.ok(worst < 1e-4, `largest logit difference from PyTorch ${worst}`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "eval reads .pth weights and needs only test_batch.bin",
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "eval_test_" });
    try {
      // A data folder with 20 synthetic test records and no training files.
      const data = join(tmp, "data");
      await Deno.mkdir(data);
      const bytes = new Uint8Array(20 * RECORD_BYTES);
      for (let i = 0; i < 20; i++) {
        bytes[i * RECORD_BYTES] = i % 10;
        bytes.fill((29 * i) % 256, i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES);
      }
      await Deno.writeFile(join(data, "test_batch.bin"), bytes);
      const r = await lab("eval", ["--weights", WEIGHTS_PTH, "--data-dir", data, "--backend", "cpu"]);
      assertOk(r, "eval on a folder with test_batch.bin only");
      assert.match(r.stderr, /state dict under key "net" \(acc=0\.5, epoch=5\)/);
      assert.match(r.stderr, /eval: test accuracy \d+\.\d\d% \(\d+\/20\)/);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("eval rejects missing weights, bad weights and bad flags", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "eval_test_" });
  try {
    const state = reference();
    const nan = Float32Array.from(state.get("linear.bias")!.data as Float32Array);
    nan[3] = NaN;
    state.set("linear.bias", { dtype: "F32", shape: [10], data: nan });
    const nanFile = join(tmp, "nan.safetensors");
    await Deno.writeFile(nanFile, encodeSafetensors(state));
    const cases: [string[], number, string][] = [
      [[], 2, "--weights FILE is required"],
      [
        ["--weights", join(tmp, "none.pth")],
        1,
        `Cannot read weights "${join(tmp, "none.pth")}": no such file`,
      ],
      [
        ["--weights", nanFile],
        1,
        `Tensor 'linear.bias' in '${nanFile}' holds a non-finite value 'NaN' at flat index 3`,
      ],
      [["--weights", WEIGHTS, "--limit-test", "0"], 2, `--limit-test must be an integer at least 1`],
      [["--weights", WEIGHTS, "--backend", "tpu"], 2, `--backend must be one of`],
    ];
    const results = await Promise.all(cases.map(([args]) => lab("eval", args)));
    cases.forEach(([args, code, message], i) => {
      assert.equal(results[i].code, code, `eval ${args.join(" ")}: ${results[i].stderr}`);
      assert.ok(results[i].stderr.includes(message), `eval ${args.join(" ")}: ${results[i].stderr}`);
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "predict classifies PNGs of test images as eval does, with softmax percentages",
  ignore: !haveData,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "predict_test_" });
    try {
      const records = await firstTestRecords(3);
      const paths: string[] = [];
      for (let i = 0; i < 3; i++) {
        const planar = records.subarray(i * RECORD_BYTES + 1, (i + 1) * RECORD_BYTES);
        const rgb = new Uint8Array(32 * 32 * 3);
        for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) rgb[3 * p + c] = planar[c * 1024 + p];
        paths.push(join(tmp, `test${i}.png`));
        await Deno.writeFile(paths[i], encode({ width: 32, height: 32, data: rgb, channels: 3 }));
      }
      // Image 2 also as a 64x64 nearest-neighbour upscale, which area averaging undoes exactly.
      const big = new Uint8Array(64 * 64 * 3);
      const planar2 = records.subarray(2 * RECORD_BYTES + 1, 3 * RECORD_BYTES);
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          const p = (y >> 1) * 32 + (x >> 1);
          for (let c = 0; c < 3; c++) big[3 * (y * 64 + x) + c] = planar2[c * 1024 + p];
        }
      }
      paths.push(join(tmp, "test2_64.png"));
      await Deno.writeFile(paths[3], encode({ width: 64, height: 64, data: big, channels: 3 }));

      const r = await lab("predict", ["--weights", WEIGHTS, "--top", "3", "--backend", "cpu", ...paths]);
      assertOk(r, "predict");
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 4);
      const want = torchRows();
      [0, 1, 2, 2].forEach((img, i) => {
        const logits = LOGIT_COLUMNS.map((c) => Number(want[img][c]));
        const max = Math.max(...logits);
        const exp = logits.map((v) => Math.exp(v - max));
        const sum = exp.reduce((a, b) => a + b, 0);
        const ranked = exp.map((e, c) => [100 * e / sum, c]).sort((a, b) => b[0] - a[0]).slice(0, 3);
        const m = lines[i].match(/^(.*): (\S+) ([\d.]+)%, (\S+) ([\d.]+)%, (\S+) ([\d.]+)%$/);
        assert.ok(m, `line ${lines[i]}`);
        assert.equal(m[1], paths[i]);
        ranked.forEach(([p, c], k) => {
          assert.equal(m[2 + 2 * k], CLASS_NAMES[c], `${paths[i]} rank ${k}`);
          assert.ok(
            Math.abs(Number(m[3 + 2 * k]) - p) <= 0.051,
            `${paths[i]} rank ${k}: ${m[3 + 2 * k]} vs ${p}`,
          );
        });
      });
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("predict names an unreadable image and refuses a missing argument", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "predict_test_" });
  try {
    const notPng = join(tmp, "notes.png");
    await Deno.writeTextFile(notPng, "not an image");
    const [bad, missing, none, noWeights] = await Promise.all([
      lab("predict", ["--weights", WEIGHTS, "--backend", "cpu", notPng]),
      lab("predict", ["--weights", WEIGHTS, "--backend", "cpu", join(tmp, "gone.png")]),
      lab("predict", ["--weights", WEIGHTS]),
      lab("predict", [notPng]),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`^error: ${notPng}: not a PNG or JPEG image`, "m"));
    assert.equal(missing.code, 1);
    assert.ok(
      missing.stderr.includes(`Cannot read image "${join(tmp, "gone.png")}": no such file`),
      missing.stderr,
    );
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Give at least one PNG or JPEG image to classify/);
    assert.equal(noWeights.code, 2);
    assert.match(noWeights.stderr, /--weights FILE is required/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("export writes .pth and safetensors that decode to the same tensors, from weights or a checkpoint", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "export_test_" });
  try {
    const ref = reference();
    const ckpt = join(tmp, "epoch-003.safetensors");
    const momentum: StateDict = new Map([
      ["optimizer.momentum.linear.bias", { dtype: "F32", shape: [10], data: new Float32Array(10).fill(0.5) }],
    ]);
    await Deno.writeFile(
      ckpt,
      encodeCheckpoint(ref, momentum, { epoch: 0, rng: [1, 2, 3, 4], config: {}, metrics: [] }),
    );
    const [pth, st, fromPth, fromCkpt] = ["w.pth", "w.safetensors", "back.safetensors", "ckpt.pth"].map((n) =>
      join(tmp, n)
    );
    const results = await Promise.all([
      lab("export", ["--weights", WEIGHTS, "--format", "pth", "--out", pth]),
      lab("export", ["--weights", WEIGHTS, "--out", st]),
      lab("export", ["--weights", WEIGHTS_PTH, "--format", "safetensors", "--out", fromPth]),
      lab("export", ["--weights", ckpt, "--out", fromCkpt]),
    ]);
    results.forEach((r, i) => assertOk(r, `export ${i}`));
    assert.match(
      results[0].stderr,
      new RegExp(`export: wrote ${pth} \\(pth, ResNet20, 116 tensors from safetensors\\)`),
    );

    const pthBack = decodeWeights(await Deno.readFile(pth));
    assert.equal(pthBack.format, "pth");
    assert.equal(pthBack.note, `PyTorch .pth, state dict under key "net"`);
    assert.deepEqual(pthBack.state, ref);
    assert.deepEqual([...pthBack.state.keys()], [...ref.keys()]);

    const stBack = decodeWeights(await Deno.readFile(st));
    assert.equal(stBack.format, "safetensors");
    assert.deepEqual(stBack.state, ref);
    assert.equal(stBack.metadata.format, "pt");
    assert.equal(stBack.metadata.model, "resnet20");
    assert.equal(stBack.metadata.source, WEIGHTS);

    assert.deepEqual(decodeWeights(await Deno.readFile(fromPth)).state, ref);
    const ckptBack = decodeWeights(await Deno.readFile(fromCkpt));
    assert.equal(ckptBack.format, "pth");
    assert.deepEqual(ckptBack.state, ref);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("export rejects a bad --format and bad weights without writing anything", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "export_test_" });
  try {
    const state = reference();
    state.set("conv1.weight", { dtype: "F32", shape: [16, 3, 9], data: new Float32Array(432) });
    const wrong = join(tmp, "wrong.safetensors");
    await Deno.writeFile(wrong, encodeSafetensors(state));
    const out = (n: string) => join(tmp, "out", n);
    const cases: [string[], number, string][] = [
      [
        ["--weights", WEIGHTS, "--format", "onnx", "--out", out("a.onnx")],
        2,
        `--format must be one of safetensors, pth, got "onnx"`,
      ],
      [
        ["--weights", wrong, "--out", out("b.pth")],
        1,
        `Tensor 'conv1.weight' in '${wrong}' is F32 [16, 3, 9], expected F32 [16, 3, 3, 3]`,
      ],
      [["--weights", WEIGHTS], 2, `--out FILE is required`],
      [["--out", out("c.pth")], 2, `--weights FILE is required`],
    ];
    const results = await Promise.all(cases.map(([args]) => lab("export", args)));
    cases.forEach(([args, code, message], i) => {
      assert.equal(results[i].code, code, `export ${args.join(" ")}: ${results[i].stderr}`);
      assert.ok(results[i].stderr.includes(message), `export ${args.join(" ")}: ${results[i].stderr}`);
    });
    assert.equal(await exists(join(tmp, "out")), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "predict reads JPEG, reports a bad file and goes on, and resolves paths against INIT_CWD",
  ignore: !haveData,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "predict_test_" });
    try {
      const records = await firstTestRecords(1);
      const rgba = new Uint8Array(32 * 32 * 4).fill(255);
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) rgba[4 * p + c] = records[1 + c * 1024 + p];
      await Deno.writeFile(join(tmp, "cat.jpg"), jpeg.encode({ width: 32, height: 32, data: rgba }, 95).data);
      await Deno.writeFile(join(tmp, "same.png"), encode({ width: 32, height: 32, data: rgba, channels: 4 }));
      await Deno.writeTextFile(join(tmp, "notes.jpg"), "not an image");
      // As `cd TMP && deno task predict --weights W cat.jpg notes.jpg same.png`.
      const r = await lab(
        "predict",
        ["--weights", WEIGHTS, "--backend", "cpu", "--top", "1", "cat.jpg", "notes.jpg", "same.png"],
        { env: { INIT_CWD: tmp } },
      );
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 2, r.stdout);
      assert.match(lines[0], /^cat\.jpg: \w+ [\d.]+%$/);
      assert.match(lines[1], /^same\.png: \w+ [\d.]+%$/);
      // A good JPEG classifies as its lossless PNG does.
      assert.equal(lines[0].split(" ")[1], lines[1].split(" ")[1]);
      assert.match(r.stderr, /^error: notes\.jpg: not a PNG or JPEG image/m);
      assert.match(r.stderr, /^predict: 1 of 3 images could not be read: notes\.jpg$/m);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test("export converts Lab 1's MLP both ways and refuses a mismatched name or its own input", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "export_test_" });
  try {
    const run = join(tmp, "lab1");
    assertOk(
      await lab("exp1", ["--epochs", "2", "--samples", "20", "--hidden", "8,4", "--out", run]),
      "exp1",
    );
    const model = join(run, "e2-lr0.01.safetensors");
    const [pth, back] = [join(tmp, "model.pth"), join(tmp, "back.safetensors")];
    const r1 = await lab("export", ["--weights", model, "--out", pth]);
    assertOk(r1, "export MLP to .pth");
    assert.match(r1.stderr, /\(pth, Lab 1 MLP, hidden 8,4, 6 tensors from safetensors\)/);
    const decoded = decodeWeights(await Deno.readFile(pth));
    assert.equal(decoded.note, "PyTorch .pth, state dict at the top level");
    assert.deepEqual(decoded.state, decodeSafetensors(await Deno.readFile(model)).state);
    assert.deepEqual(await Deno.readFile(pth), await Deno.readFile(join(run, "model.pth")));
    assertOk(await lab("export", ["--weights", pth, "--out", back]), "export MLP .pth to safetensors");
    assert.deepEqual(decodeSafetensors(await Deno.readFile(back)).state, decoded.state);

    const before = await Deno.readFile(model);
    const cases: [string[], string][] = [
      [
        ["--weights", model, "--format", "pth", "--out", join(tmp, "x.safetensors")],
        `--format pth does not match --out "${join(tmp, "x.safetensors")}", a .safetensors name`,
      ],
      [
        ["--weights", model, "--format", "safetensors", "--out", join(tmp, "x.pth")],
        `--format safetensors does not match --out "${join(tmp, "x.pth")}", a .pth name`,
      ],
      [["--weights", model, "--out", model], `--out "${model}" is the --weights file: give another name`],
      [
        ["--weights", model, "--out", join(run, "summary.csv")],
        `--out "${join(run, "summary.csv")}" must end in .pth, .pt or .safetensors`,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await lab("export", args);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.startsWith(`error: ${message}`), r.stderr);
    }
    assert.deepEqual(await Deno.readFile(model), before);
    assert.match(await Deno.readTextFile(join(run, "summary.csv")), /^run,epochs,lr,optimizer/);
    assert.equal(await exists(join(tmp, "x.safetensors")) || await exists(join(tmp, "x.pth")), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("eval never overwrites its inputs or a run, and never asks to download", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "eval_test_" });
  try {
    const weights = join(tmp, "w.safetensors");
    await Deno.copyFile(WEIGHTS, weights);
    const before = await Deno.readFile(weights);
    const run = join(tmp, "run");
    await Deno.mkdir(run);
    await Deno.writeTextFile(join(run, "run.json"), JSON.stringify({ lab: "exp2", config: {} }));
    await Deno.writeTextFile(join(run, "per_class.csv"), "class\n");
    const runBefore = await Deno.readTextFile(join(run, "per_class.csv"));
    const nodata = join(tmp, "no-data");
    const cases: [string[], number, string][] = [
      [["--weights", weights, "--logits-csv", weights], 2, `--logits-csv "${weights}" is the --weights file`],
      [
        ["--weights", weights, "--out", run],
        2,
        `--out "${run}" already holds an exp2 run (per_class.csv): choose another --out`,
      ],
      [
        ["--weights", weights, "--logits-csv", join(run, "per_class.csv")],
        2,
        `--logits-csv "${join(run, "per_class.csv")}" is a file of a run folder: give a new file`,
      ],
      [
        ["--weights", weights, "--data-dir", nodata],
        1,
        `CIFAR-10 folder "${nodata}" does not exist (looked for data_batch_1.bin ... test_batch.bin in it and in ` +
        `its cifar-10-batches-bin/ and cifar-10-batches-py/): point --data-dir or CIFAR10_DIR at the folder ` +
        `holding them, or fetch them with deno task exp2 --download (eval never downloads: its task has no ` +
        `network permission)`,
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = await lab("eval", [...args, "--backend", "cpu"]);
      assert.equal(r.code, code, r.stderr);
      assert.ok(r.stderr.includes(`error: ${message}`), r.stderr);
      assert.doesNotMatch(r.stderr, /--allow-net|Requires net access/);
    }
    assert.deepEqual(await Deno.readFile(weights), before);
    assert.equal(await Deno.readTextFile(join(run, "per_class.csv")), runBefore);
    assert.equal(await exists(nodata), false);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

// Integration: runs labs/exp1.ts as a subprocess (touches the disk: temp folders only).
import assert from "node:assert/strict";
import { join } from "node:path";
import { XMLValidator } from "fast-xml-parser";
import { parseCsv } from "../../lib/report/csv.ts";
import { decodePth } from "../../lib/formats/pth.ts";
import { decodeSafetensors } from "../../lib/formats/safetensors.ts";
import { runColor } from "../../lib/report/line_chart.ts";
import { argv, names, REPO, runLab, type RunLabOptions, snapshot, withTempDir } from "../helpers.ts";

/** `deno run ... labs/exp1.ts ...args` from the repository root. */
const exp1 = (...args: string[]) => runLab("exp1", args);
/** The same, with options (environment, folder). */
const exp1With = (options: RunLabOptions, ...args: string[]) => runLab("exp1", args, options);
const SUMMARY_HEADER = "run,epochs,lr,optimizer,train_mse,test_mse,seconds,status";

function assertSvg(text: string, file: string) {
  const valid = XMLValidator.validate(text);
  assert.equal(valid, true, `${file}: ${JSON.stringify(valid)}`);
  assert.ok(text.startsWith("<svg"), file);
}

/** The column `name` of a CSV as strings. */
const column = (csv: string, name: string) => parseCsv(csv, { required: [name] }).map((r) => r[name]);

Deno.test("exp1 trains, writes its run folder, and --load --plot redraws the saved model", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    const out = join(dir, "run");
    const r = await exp1("--epochs", "5", "--samples", "200", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    const run = "e5-lr0.01";
    assert.deepEqual(await names(out), [
      `${run}.csv`,
      `${run}.pth`,
      `${run}.safetensors`,
      "fit.csv",
      "fit.svg",
      "loss.svg",
      "model.pth",
      "run.json",
      "steps.csv",
      "summary.csv",
    ]);
    // The hand-in: nn.Sequential's state_dict at the top level of a torch.save zip.
    const pth = decodePth(await Deno.readFile(join(out, "model.pth")), { source: "model.pth" });
    assert.equal(pth.key, null);
    assert.deepEqual([...pth.state.keys()], [
      "0.weight",
      "0.bias",
      "2.weight",
      "2.bias",
      "4.weight",
      "4.bias",
    ]);
    assert.deepEqual(
      await Deno.readFile(join(out, "model.pth")),
      await Deno.readFile(join(out, `${run}.pth`)),
    );
    // steps.csv: one row per epoch here (each a few steps), steps counted from the run's start.
    const steps = parseCsv(await Deno.readTextFile(join(out, "steps.csv")));
    assert.ok(steps.length >= 1 && steps.length <= 5, `${steps.length} rows`);
    assert.equal(steps.at(-1)!.step, String(5 * 2));
    assert.equal(steps.at(-1)!.epoch, "5");

    // summary.csv: exact header, one ok row; stdout repeats it.
    const summary = await Deno.readTextFile(join(out, "summary.csv"));
    assert.equal(summary.split("\n")[0], SUMMARY_HEADER);
    const rows = parseCsv(summary, {
      required: SUMMARY_HEADER.split(","),
      numeric: ["epochs", "lr", "train_mse", "test_mse", "seconds"],
    });
    assert.equal(rows.length, 1);
    assert.deepEqual(
      {
        run: rows[0].run,
        epochs: rows[0].epochs,
        lr: rows[0].lr,
        optimizer: rows[0].optimizer,
        status: rows[0].status,
      },
      { run, epochs: "5", lr: "0.01", optimizer: "adam", status: "ok" },
    );
    assert.equal(r.stdout, summary);

    // Per-epoch loss.
    const loss = parseCsv(await Deno.readTextFile(join(out, `${run}.csv`)), {
      numeric: ["epoch", "train_loss"],
    });
    assert.deepEqual(loss.map((l) => l.epoch), ["1", "2", "3", "4", "5"]);

    // run.json: config, backend, device, versions.
    const info = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
    assert.equal(info.lab, "exp1");
    assert.equal(info.config.fit.epochs, 5);
    assert.equal(info.config.fit.samples, 200);
    assert.equal(info.config.out, out);
    assert.equal(typeof info.backend, "string");
    assert.ok(info.backend.length > 0);
    assert.match(info.device, /^cpu: /);
    assert.equal(info.versions.tfjs, "4.22.0");
    assert.equal(info.versions.deno, Deno.version.deno);

    // The model: PyTorch names and layout, config in the metadata.
    const { state, metadata } = decodeSafetensors(await Deno.readFile(join(out, `${run}.safetensors`)));
    assert.deepEqual([...state.keys()], ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]);
    assert.deepEqual(state.get("0.weight")!.shape, [64, 1]);
    assert.equal(metadata.model, "mlp");
    assert.equal(JSON.parse(metadata.config).epochs, 5);

    for (const svg of ["fit.svg", "loss.svg"]) assertSvg(await Deno.readTextFile(join(out, svg)), svg);
    const fit = await Deno.readTextFile(join(out, "fit.csv"));
    assert.equal(fit.split("\n")[0], `x,true f(x),${run}`);
    assert.equal(column(fit, "x").length, 1001);

    // Redraw from the saved model: same predictions, no training, no loss chart.
    const plotOut = join(dir, "plot");
    const p = await exp1("--load", join(out, `${run}.safetensors`), "--plot", "--out", plotOut);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(await names(plotOut), ["fit.csv", "fit.svg", "run.json"]);
    assertSvg(await Deno.readTextFile(join(plotOut, "fit.svg")), "plot/fit.svg");
    const redrawn = await Deno.readTextFile(join(plotOut, "fit.csv"));
    assert.deepEqual(column(redrawn, run), column(fit, run));
    assert.deepEqual(column(redrawn, "true f(x)"), column(fit, "true f(x)"));
  });
});

Deno.test("exp1 --load of a damaged model fails naming the file", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    const out = join(dir, "run");
    const r = await exp1("--epochs", "1", "--samples", "20", "--hidden", "4", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    const bytes = await Deno.readFile(join(out, "e1-lr0.01.safetensors"));
    for (const keep of [4, 100, bytes.length - 1]) {
      const bad = join(dir, `cut-${keep}.safetensors`);
      await Deno.writeFile(bad, bytes.subarray(0, keep));
      const p = await exp1("--load", bad, "--plot", "--out", join(dir, "plot"));
      assert.equal(p.code, 1, `truncated to ${keep}: ${p.stderr}`);
      assert.ok(p.stderr.startsWith("error: ") && p.stderr.includes(bad), p.stderr);
      assert.equal(p.stderr.trim().split("\n").length, 1, p.stderr);
    }
    const missing = join(dir, "missing.safetensors");
    const m = await exp1("--load", missing, "--plot");
    assert.notEqual(m.code, 0);
    assert.ok(m.stderr.includes(missing), m.stderr);
    assert.ok(!(await names(dir)).includes("plot"), "wrote a plot of a damaged model");
  });
});

Deno.test("exp1 rejects bad flags with one line naming the flag, before writing anything", async () => {
  const deep = "-".repeat(100_000) + "x"; // 100,000 nested unary minuses
  const parens = "(".repeat(60_000) + "x" + ")".repeat(60_000); // argv strings stop at 128 KiB
  const cases: [string[], string][] = [
    [["--fn", "constructor"], "--fn"],
    [["--fn", "x.constructor"], "--fn"],
    [["--fn", "__proto__"], "--fn"],
    [["--fn", "1/0"], "--fn"],
    [[`--fn=${deep}`], "--fn"],
    [[`--fn=${parens}`], "--fn"],
    [["--epochs", "0"], "--epochs"],
    [["--epochs", "1.5"], "--epochs"],
    [["--lr", "0"], "--lr"],
    [["--hidden", "64,abc"], "--hidden"],
    [["--hidden", "64,0"], "--hidden"],
    [["--optimizer", "rmsprop"], "--optimizer"],
    [["--study", "batch"], "--study"],
    [["--backend", "gpu"], "--backend"],
    [["--x-min", "5", "--x-max", "1"], "--x-min"],
    [["--bogus"], "--bogus"],
    [["--plot"], "--plot"],
    [["--epochs"], "--epochs"], // followed by --out: a missing value
  ];
  // Every case is checked before failing, so that one report lists them all.
  const problems: string[] = [];
  await withTempDir("exp1_test_", async (dir) => {
    const out = join(dir, "out");
    for (const [args, flag] of cases) {
      const r = await exp1(...args, "--out", out);
      const shown = `${args.join(" ").slice(0, 30)}: `;
      const err = r.stderr.slice(0, 200);
      if (r.code === 0) problems.push(`${shown}exit 0`);
      if (!r.stderr.startsWith("error: ")) problems.push(`${shown}no "error: " line: ${err}`);
      if (r.stderr.trimEnd().split("\n").length !== 1) problems.push(`${shown}not one line: ${err}`);
      if (!r.stderr.includes(flag)) problems.push(`${shown}${flag} not named: ${err}`);
      if (/Maximum call stack/.test(r.stderr)) problems.push(`${shown}stack overflow`);
      if ((await names(dir)).length) problems.push(`${shown}wrote ${out}`);
    }
  });
  assert.deepEqual(problems, []);
});

Deno.test("exp1 accepts negative numbers after a flag", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    const out = join(dir, "neg");
    const r = await exp1(
      ...argv("--x-min -2 --x-max 2 --fn -x --epochs 1 --samples 20 --hidden 4 --out"),
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
    assert.equal(info.config.fit.xMin, -2);
    assert.equal(info.config.fn, "-x");
  });
});

Deno.test("exp1 --study lr runs 1, 0.1, 0.01, 0.001 at the lab's fixed 1000 epochs", async () => {
  // 4 x 1000 one-batch epochs of a [4] MLP: a few seconds. --epochs is overridden by the study.
  await withTempDir("exp1_test_", async (dir) => {
    const out = join(dir, "lr");
    const r = await exp1(
      ...argv("--study lr --epochs 3 --samples 50 --batch-size 50 --hidden 4 --out"),
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = parseCsv(await Deno.readTextFile(join(out, "summary.csv")), {
      required: SUMMARY_HEADER.split(","),
    });
    assert.deepEqual(rows.map((x) => x.run), ["lr-1", "lr-0.1", "lr-0.01", "lr-0.001"]);
    assert.deepEqual(rows.map((x) => x.lr), ["1", "0.1", "0.01", "0.001"]);
    assert.deepEqual(rows.map((x) => x.epochs), ["1000", "1000", "1000", "1000"]);
    for (const x of rows) assert.ok(x.status === "ok" || x.status.startsWith("diverged at epoch "), x.status);
    const files = await names(out);
    for (const run of ["lr-1", "lr-0.1", "lr-0.01", "lr-0.001"]) {
      assert.ok(files.includes(`${run}.csv`) && files.includes(`${run}.safetensors`), `${run}: ${files}`);
    }
    const fit = await Deno.readTextFile(join(out, "fit.csv"));
    assert.equal(fit.split("\n")[0], "x,true f(x),lr-1,lr-0.1,lr-0.01,lr-0.001");
    const loss = await Deno.readTextFile(join(out, "loss.svg"));
    assertSvg(loss, "loss.svg");
    for (const run of ["lr-1", "lr-0.1", "lr-0.01", "lr-0.001"]) {
      assert.ok(loss.includes(`>${run}</text>`), run);
    }
  });
});

Deno.test("exp1 refuses a folder holding a run of either lab, or other files, and leaves it byte-identical", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    const lab1 = join(dir, "lab1");
    const r = await exp1("--epochs", "2", "--samples", "20", "--hidden", "4", "--out", lab1);
    assert.equal(r.code, 0, r.stderr);
    const lab2 = join(dir, "lab2");
    await Deno.mkdir(join(lab2, "checkpoints"), { recursive: true });
    await Deno.writeTextFile(
      join(lab2, "run.json"),
      JSON.stringify({ lab: "exp2", config: { schedule: "0.1:1" } }),
    );
    await Deno.writeTextFile(join(lab2, "metrics.csv"), "epoch,lr\n1,0.1\n");
    await Deno.writeFile(join(lab2, "final.safetensors"), new Uint8Array(64));
    const other = join(dir, "notes");
    await Deno.mkdir(other);
    await Deno.writeTextFile(join(other, "todo.txt"), "x");
    const before = await snapshot(dir);
    const cases: [string[], string][] = [
      [
        ["--epochs", "2", "--out", lab1],
        `--out "${lab1}" already holds a run (summary.csv): choose another --out`,
      ],
      [
        ["--epochs", "2", "--out", lab2],
        `--out "${lab2}" already holds an exp2 run (metrics.csv): choose another --out`,
      ],
      [
        ["--epochs", "2", "--out", other],
        `--out "${other}" holds other files ("todo.txt"): give a new or empty folder`,
      ],
      [
        ["--load", join(lab1, "model.pth"), "--plot", "--out", lab1],
        `--out "${lab1}" already holds a run (summary.csv): choose another --out`,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await exp1(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(message), r.stderr);
    }
    assert.deepEqual(await snapshot(dir), before);
  });
});

Deno.test("exp1 charts: one colour per run in fit.svg and loss.svg, diverged runs named as such", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    const out = join(dir, "study");
    // Plain SGD on a 4-unit MLP: LR 1 and 0.1 diverge (epochs 3 and 9), 0.01 and 0.001 do not.
    const r = await exp1(
      ...argv("--study lr --optimizer sgd --samples 50 --batch-size 50 --hidden 4 --out"),
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const summary = parseCsv(await Deno.readTextFile(join(out, "summary.csv")));
    const diverged = summary.filter((x) => x.status !== "ok").map((x) => x.run);
    const ok = summary.filter((x) => x.status === "ok").map((x) => x.run);
    assert.ok(diverged.includes("lr-1") && ok.length > 0, JSON.stringify(summary));
    const fit = await Deno.readTextFile(join(out, "fit.svg"));
    const loss = await Deno.readTextFile(join(out, "loss.svg"));
    for (const [k, x] of summary.entries()) {
      if (x.status === "ok") {
        assert.ok(fit.includes(`>${x.run}</text>`), `${x.run} in the fit legend`);
        assert.ok(fit.includes(`stroke="${runColor(k)}"`) && loss.includes(`stroke="${runColor(k)}"`), x.run);
        assert.ok(await Deno.stat(join(out, `${x.run}.pth`)));
      } else {
        // Never an empty legend entry: a note in the fit chart, "(diverged)" on the loss curve.
        assert.ok(!fit.includes(`>${x.run}</text>`), `${x.run} has an empty fit entry`);
        assert.ok(fit.includes(`>${x.run}: ${x.status}, no fit</text>`), `${x.run} note`);
        assert.ok(!fit.includes(`stroke="${runColor(k)}"`), `${x.run}'s colour in the fit chart`);
        assert.ok(
          loss.includes(`>${x.run} (diverged)</text>`) || loss.includes(`>${x.run}: ${x.status}</text>`),
          x.run,
        );
        await assert.rejects(Deno.stat(join(out, `${x.run}.pth`)), Deno.errors.NotFound);
      }
    }
    // The report over the folder keeps the same colours.
    const report = join(dir, "report.md");
    assert.equal((await runLab("report", [out, "--out", report])).code, 0);
    const reportFit = await Deno.readTextFile(join(dir, "report-files", "study-fit.svg"));
    for (const [k, x] of summary.entries()) {
      if (x.status === "ok") assert.ok(reportFit.includes(`stroke="${runColor(k)}"`), x.run);
    }
  });
});

Deno.test("exp1 --load model.pth --plot redraws a .pth, and relative paths resolve against INIT_CWD", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    // As `cd DIR && deno task exp1 --out mine`: deno task runs in the project root, INIT_CWD is DIR.
    const r = await exp1With(
      { env: { INIT_CWD: dir } },
      ...argv("--epochs 3 --samples 20 --hidden 4 --out mine"),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await names(join(dir, "mine"))).includes("model.pth"));
    await assert.rejects(Deno.stat(join(REPO, "mine")), Deno.errors.NotFound);
    const p = await exp1With(
      { env: { INIT_CWD: dir } },
      ...argv("--load mine/model.pth --plot --out plot"),
    );
    assert.equal(p.code, 0, p.stderr);
    const redrawn = await Deno.readTextFile(join(dir, "plot", "fit.csv"));
    const fit = await Deno.readTextFile(join(dir, "mine", "fit.csv"));
    assert.deepEqual(column(redrawn, "model"), column(fit, "e3-lr0.01"));
  });
});

Deno.test("exp1 --watch prints the live page's address and ends with the run", async () => {
  await withTempDir("exp1_test_", async (dir) => {
    const r = await exp1(
      ...argv("--epochs 3 --samples 20 --hidden 4 --watch --out"),
      join(dir, "w"),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^exp1: watch the run at http:\/\/127\.0\.0\.1:\d+\/$/m);
    const bad = await exp1("--stay", "--out", join(dir, "x"));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --stay needs --watch/);
  });
});

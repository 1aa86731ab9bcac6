// Integration: runs `deno task report`'s command as a subprocess on tiny run folders.
import assert from "node:assert/strict";
import { join } from "node:path";
import { names, runLab, withTempDir } from "../helpers.ts";
import { exp1Files, exp2Files, writeFolder } from "../report/run_folder_fixtures.ts";

/** `deno task report ARGS` in `cwd`, with the task's permissions. */
const report = (cwd: string, args: string[]) => runLab("report", args, { cwd });

function hasRsvg(): boolean {
  try {
    return new Deno.Command("rsvg-convert", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test("deno task report writes report.md and its charts, and every chart renders", async () => {
  await withTempDir("report_lab_test-", async (tmp) => {
    const lr = await writeFolder(tmp, "lr", exp1Files());
    const full = await writeFolder(tmp, "full", exp2Files());
    const out = join(tmp, "out");
    await Deno.mkdir(out);
    const { code, stderr } = await report(out, [lr, full]);
    assert.equal(code, 0, stderr);
    assert.equal(stderr.trim(), "report: wrote report.md and 5 charts in report-files/");
    assert.deepEqual(await names(out), ["report-files", "report.md"]);
    const md = await Deno.readTextFile(join(out, "report.md"));
    assert.ok(md.includes("## Lab 1") && md.includes("## Lab 2"));
    const charts = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    assert.deepEqual(charts, [
      "report-files/lr-fit.svg",
      "report-files/lr-error.svg",
      "report-files/lr-loss.svg",
      "report-files/full-accuracy.svg",
      "report-files/full-per-class.svg",
    ]);
    assert.deepEqual(await names(join(out, "report-files")), charts.map((c) => c.split("/")[1]).sort());

    if (!hasRsvg()) {
      console.log("rsvg-convert not found (Debian package librsvg2-bin): skipping the chart rendering check");
      return;
    }
    for (const chart of charts) {
      const png = join(tmp, "chart.png");
      const r = await new Deno.Command("rsvg-convert", {
        args: ["-o", png, join(out, chart)],
        stderr: "piped",
      })
        .output();
      assert.equal(r.code, 0, `${chart}: ${new TextDecoder().decode(r.stderr)}`);
      const bytes = await Deno.readFile(png);
      assert.ok(bytes.length > 1000, `${chart}: ${bytes.length} bytes of PNG`);
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
    }
  });
});

Deno.test("deno task report --out must be a .md name: a run's CSV is never overwritten", async () => {
  await withTempDir("report_lab_test-", async (tmp) => {
    const full = await writeFolder(tmp, "full", exp2Files());
    const before = await Deno.readTextFile(join(full, "metrics.csv"));
    const { code, stderr } = await report(tmp, [full, "--out", join(full, "metrics.csv")]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error: --out must name a \.md file, got ".*metrics\.csv"$/m);
    assert.equal(await Deno.readTextFile(join(full, "metrics.csv")), before);
  });
});

Deno.test("deno task report --out puts the report and its <name>-files folder where asked", async () => {
  await withTempDir("report_lab_test-", async (tmp) => {
    const full = await writeFolder(tmp, "full", exp2Files());
    const { code, stderr } = await report(tmp, [full, "--out", "results/lab.md"]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(await names(join(tmp, "results")), ["lab-files", "lab.md"]);
    assert.deepEqual(await names(join(tmp, "results/lab-files")), [
      "full-accuracy.svg",
      "full-per-class.svg",
    ]);
    assert.ok(
      (await Deno.readTextFile(join(tmp, "results/lab.md"))).includes("](lab-files/full-accuracy.svg)"),
    );
  });
});

Deno.test("deno task report writes nothing when any folder is bad, naming the file and line", async () => {
  await withTempDir("report_lab_test-", async (tmp) => {
    const good = await writeFolder(tmp, "good", exp2Files());
    const files = exp1Files();
    files["summary.csv"] = files["summary.csv"]!.replace("lr-0.1,2,0.1,", "lr-0.1,2,fast,");
    const bad = await writeFolder(tmp, "bad", files);
    const out = join(tmp, "out");
    await Deno.mkdir(out);
    const { code, stderr } = await report(out, [good, bad]);
    assert.equal(code, 1);
    assert.equal(
      stderr.trim(),
      `error: ${bad}/summary.csv, line 3: column "lr" is "fast", expected a number`,
    );
    assert.deepEqual(await names(out), []);
  });
});

Deno.test("deno task report says what it expected of a folder that is not a run", async () => {
  await withTempDir("report_lab_test-", async (tmp) => {
    const notRun = await writeFolder(tmp, "photos", { "cat.txt": "meow" });
    const { code, stderr } = await report(tmp, [notRun]);
    assert.equal(code, 1);
    assert.equal(
      stderr.trim(),
      `error: "${notRun}" is not a run folder: it has no run.json, ` +
        `expected a run folder written by "deno task exp1" or "deno task exp2"`,
    );
    assert.deepEqual(await names(tmp), ["photos"]);
  });
});

Deno.test("deno task report without folders or with an unknown flag is a usage error", async () => {
  await withTempDir("report_lab_test-", async (tmp) => {
    let r = await report(tmp, []);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.trim(),
      "error: Expected one or more run folders, got none: usage: deno task report RUN_DIR... [--out report.md]",
    );
    r = await report(tmp, ["--bogus", tmp]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: Unknown flag --bogus/);
    assert.deepEqual(await names(tmp), []);
  });
});

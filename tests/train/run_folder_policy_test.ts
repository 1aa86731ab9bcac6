import assert from "node:assert/strict";
import { join } from "node:path";
import { UsageError } from "../../lib/runtime/flags.ts";
import { checkpointName } from "../../lib/train/resume.ts";
import {
  checkFreshOut,
  checkResumeOut,
  inspectOutFolder,
  sameFolder,
} from "../../lib/train/run_folder_policy.ts";
import { withTempDir } from "../helpers.ts";

async function write(path: string, text = "x"): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, text);
}

Deno.test("inspectOutFolder() tells missing, empty, run, other-files and file apart", async () => {
  await withTempDir("run_folder_policy_test_", async (dir) => {
    assert.equal((await inspectOutFolder(join(dir, "new"))).kind, "missing");
    await Deno.mkdir(join(dir, "empty"));
    // Temporary files of an interrupted write are not content.
    await write(join(dir, "empty", "metrics.csv.tmp-12-0a1b2c3d"));
    assert.equal((await inspectOutFolder(join(dir, "empty"))).kind, "empty");
    await write(join(dir, "lab2", "run.json"), JSON.stringify({ lab: "exp2" }));
    await write(join(dir, "lab2", "checkpoints", checkpointName(1)));
    assert.deepEqual(await inspectOutFolder(join(dir, "lab2")), {
      path: join(dir, "lab2"),
      kind: "run",
      lab: "exp2",
      runFile: "checkpoints",
      other: null,
    });
    await write(join(dir, "notes", "b.txt"));
    await write(join(dir, "notes", "a.txt"));
    assert.deepEqual(
      [(await inspectOutFolder(join(dir, "notes"))).kind, (await inspectOutFolder(join(dir, "notes"))).other],
      ["other", "a.txt"],
    );
    assert.equal((await inspectOutFolder(join(dir, "notes", "a.txt"))).kind, "file");
    // A damaged run.json still makes a run folder, of no known lab.
    await write(join(dir, "broken", "run.json"), "{");
    assert.deepEqual([(await inspectOutFolder(join(dir, "broken"))).lab], [null]);
  });
});

Deno.test("checkFreshOut() allows only new or empty folders, with the same message for both labs", () => {
  const base = { path: "runs/a", lab: null, runFile: null, other: null };
  checkFreshOut({ ...base, kind: "missing" }, "exp1");
  checkFreshOut({ ...base, kind: "empty" }, "exp2");
  const cases: [Parameters<typeof checkFreshOut>[0], string, string][] = [
    [
      { ...base, kind: "run", lab: "exp2", runFile: "metrics.csv" },
      "exp2",
      `--out "runs/a" already holds a run (metrics.csv): continue it with --resume auto, or choose another --out`,
    ],
    [
      { ...base, kind: "run", lab: "exp1", runFile: "summary.csv" },
      "exp1",
      `--out "runs/a" already holds a run (summary.csv): choose another --out`,
    ],
    [
      { ...base, kind: "run", lab: "exp1", runFile: "summary.csv" },
      "exp2",
      `--out "runs/a" already holds an exp1 run (summary.csv): choose another --out`,
    ],
    [
      { ...base, kind: "run", lab: "exp2", runFile: "run.json" },
      "exp1",
      `--out "runs/a" already holds an exp2 run (run.json): choose another --out`,
    ],
    [{ ...base, kind: "file" }, "exp1", `--out "runs/a" is a file: give a new or empty folder for the run`],
    [
      { ...base, kind: "other", other: "notes.txt" },
      "exp2",
      `--out "runs/a" holds other files ("notes.txt"): give a new or empty folder for the run`,
    ],
  ];
  for (const [folder, lab, message] of cases) {
    assert.throws(
      () => checkFreshOut(folder, lab),
      (e: unknown) => e instanceof UsageError && e.message === message,
    );
  }
});

Deno.test("checkResumeOut() allows a new folder or the checkpoint's own run from its latest checkpoint", async () => {
  await withTempDir("run_folder_policy_test_", async (dir) => {
    const a = join(dir, "a");
    await write(join(a, "run.json"), JSON.stringify({ lab: "exp2" }));
    await write(join(a, "metrics.csv"));
    for (const e of [1, 2]) await write(join(a, "checkpoints", checkpointName(e)));
    const b = join(dir, "b");
    await write(join(b, "run.json"), JSON.stringify({ lab: "exp2" }));
    await write(join(b, "metrics.csv"));
    const latest = join(a, "checkpoints", checkpointName(2));
    const older = join(a, "checkpoints", checkpointName(1));
    await checkResumeOut(await inspectOutFolder(a), latest, "exp2");
    await checkResumeOut(await inspectOutFolder(join(dir, "branch")), older, "exp2");
    await assert.rejects(checkResumeOut(await inspectOutFolder(a), older, "exp2"), {
      name: "UsageError",
      message: `--resume "${older}" is not the latest checkpoint of ${a} (epoch-002.safetensors is): ` +
        `continuing from it would replace the epochs after it; give a new --out to branch from it`,
    });
    await assert.rejects(checkResumeOut(await inspectOutFolder(b), latest, "exp2"), {
      name: "UsageError",
      message: new RegExp(
        `^--out "${b}" already holds another run \\(metrics\\.csv\\) than --resume "${latest}"'s`,
      ),
    });
    assert.equal(await sameFolder(join(a, "checkpoints", ".."), a), true);
  });
});

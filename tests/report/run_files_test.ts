import assert from "node:assert/strict";
import { join } from "node:path";
import {
  fileInside,
  listFolder,
  newestRun,
  readSnapshot,
  realFolder,
  RunFilesError,
} from "../../lib/report/run_files.ts";
import { withTempDir } from "../helpers.ts";
import { liveExp2Files, writeFolder } from "./run_folder_fixtures.ts";

Deno.test("realFolder() resolves links and rejects what is not a folder", async () => {
  await withTempDir("run_files_test-", async (tmp) => {
    const run = await writeFolder(tmp, "run", { "run.json": "{}" });
    await Deno.symlink(run, join(tmp, "latest"));
    assert.equal(await realFolder(join(tmp, "latest")), await Deno.realPath(run));
    await assert.rejects(
      realFolder(join(tmp, "nope")),
      new RunFilesError(
        `Run folder "${
          join(tmp, "nope")
        }" does not exist: expected a folder written by deno task exp1 or exp2`,
      ),
    );
    await assert.rejects(
      realFolder(join(run, "run.json")),
      new RunFilesError(
        `"${join(run, "run.json")}" is not a folder: expected a run folder written by deno task exp1 or exp2`,
      ),
    );
  });
});

Deno.test("fileInside() finds files of the folder and nothing outside it", async () => {
  await withTempDir("run_files_test-", async (tmp) => {
    await Deno.writeTextFile(join(tmp, "secret.txt"), "outside");
    const run = await writeFolder(tmp, "run", { "metrics.csv": "a\n", ".hidden.csv": "h\n" });
    await Deno.mkdir(join(run, "checkpoints"));
    await Deno.writeTextFile(join(run, "checkpoints", "notes.txt"), "inside");
    await Deno.symlink(join(tmp, "secret.txt"), join(run, "out.txt"));
    await Deno.symlink(join(run, "metrics.csv"), join(run, "in.csv"));
    await Deno.symlink(tmp, join(run, "up"));
    const root = await realFolder(run);

    assert.equal(await fileInside(root, ["metrics.csv"]), join(root, "metrics.csv"));
    assert.equal(
      await fileInside(root, ["checkpoints", "notes.txt"]),
      join(root, "checkpoints", "notes.txt"),
    );
    assert.equal(await fileInside(root, ["in.csv"]), join(root, "metrics.csv"));
    for (
      const segments of [
        [],
        ["..", "secret.txt"],
        [".", "metrics.csv"],
        ["", "metrics.csv"],
        ["../secret.txt"],
        ["/etc/passwd"],
        ["checkpoints\\..\\..\\secret.txt"],
        ["metrics.csv\0"],
        [".hidden.csv"],
        ["out.txt"],
        ["up", "secret.txt"],
        ["checkpoints"],
        ["missing.csv"],
      ]
    ) {
      assert.equal(await fileInside(root, segments), null, JSON.stringify(segments));
    }
  });
});

Deno.test("listFolder() changes its key when a file grows, appears or goes", async () => {
  await withTempDir("run_files_test-", async (tmp) => {
    const run = await writeFolder(tmp, "run", { "steps.csv": "a\n" });
    const a = await listFolder(run);
    assert.deepEqual(a.names, ["steps.csv"]);
    assert.equal(a.sizes["steps.csv"], 2);
    assert.equal((await listFolder(run)).key, a.key);
    await Deno.writeTextFile(join(run, "steps.csv"), "b\n", { append: true });
    const b = await listFolder(run);
    assert.notEqual(b.key, a.key);
    await Deno.writeTextFile(join(run, "metrics.csv"), "m\n");
    const c = await listFolder(run);
    assert.deepEqual(c.names, ["metrics.csv", "steps.csv"]);
    assert.notEqual(c.key, b.key);
  });
});

Deno.test("readSnapshot() reads run.json and the CSVs, never through a link out of the folder", async () => {
  await withTempDir("run_files_test-", async (tmp) => {
    await Deno.writeTextFile(join(tmp, "secret.csv"), "outside\n");
    const run = await writeFolder(tmp, "run", {
      ...liveExp2Files({ done: 1, step: 12 }),
      "fit.svg": "<svg/>",
    });
    await Deno.symlink(join(tmp, "secret.csv"), join(run, "stolen.csv"));
    const root = await realFolder(run);
    const listing = await listFolder(root);
    const snap = await readSnapshot(root, listing);
    assert.deepEqual(Object.keys(snap.texts).sort(), ["metrics.csv", "run.json", "steps.csv"]);
    assert.deepEqual(snap.names, ["fit.svg", "metrics.csv", "run.json", "steps.csv", "stolen.csv"]);
    assert.deepEqual(snap.problems, [
      "stolen.csv is not a file inside the run folder (a link out of it?): not read",
    ]);
    assert.equal(snap.mtimes["metrics.csv"], listing.mtimes["metrics.csv"]);

    // Unchanged files are not read again: their text is reused.
    await Deno.writeTextFile(join(run, "steps.csv"), "14,2,0.1,1,0.4,100\n", { append: true });
    const next = await listFolder(root);
    const again = await readSnapshot(root, next, {
      listing,
      snapshot: { ...snap, texts: { ...snap.texts, "run.json": "cached" } },
    });
    assert.equal(again.texts["run.json"], "cached");
    assert.ok(again.texts["steps.csv"].endsWith("14,2,0.1,1,0.4,100\n"));
  });
});

Deno.test("newestRun() picks the run folder whose run.json changed last", async () => {
  await withTempDir("run_files_test-", async (tmp) => {
    assert.equal(await newestRun(join(tmp, "runs")), null);
    const runs = join(tmp, "runs");
    const a = await writeFolder(runs, "a", { "run.json": "{}" });
    const b = await writeFolder(runs, "b", { "run.json": "{}" });
    await writeFolder(runs, "not-a-run", { "notes.txt": "x" });
    await Deno.utime(join(a, "run.json"), 2_000_000, 2_000_000);
    await Deno.utime(join(b, "run.json"), 1_000_000, 1_000_000);
    assert.equal(await newestRun(runs), a);
    await Deno.utime(join(b, "run.json"), 3_000_000, 3_000_000);
    assert.equal(await newestRun(runs), b);
  });
});

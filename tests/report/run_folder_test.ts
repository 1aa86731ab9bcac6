import assert from "node:assert/strict";
import { join } from "node:path";
import { CsvError } from "../../lib/report/csv.ts";
import { readRunFolder, RunFolderError } from "../../lib/report/run_folder.ts";
import {
  confusionFiles,
  exp1Files,
  exp1Run,
  exp2Files,
  type FolderFiles,
  writeFolder,
} from "./run_folder_fixtures.ts";

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
async function inTemp(fn: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "run_folder_test-" });
  try {
    await fn(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Asserts that reading a folder of `files` rejects with `name` and `message` (`DIR` stands for the folder). */
async function rejects(files: FolderFiles, name: string, message: string): Promise<void> {
  await inTemp(async (tmp) => {
    const dir = await writeFolder(tmp, "run", files);
    await assert.rejects(readRunFolder(dir), { name, message: message.replaceAll("DIR", dir) });
  });
}

Deno.test("readRunFolder() reads an exp1 study: runs, losses, fits and divergence", async () => {
  await inTemp(async (tmp) => {
    const dir = await writeFolder(tmp, "lr", exp1Files());
    const f = await readRunFolder(dir);
    assert.equal(f.lab, "exp1");
    if (f.lab !== "exp1") return;
    assert.equal(f.dir, dir);
    assert.equal(f.fn, "x^2");
    assert.equal(f.study, "lr");
    assert.equal(f.info.device, "cpu: test");
    assert.deepEqual(f.grid, [-1, 0, 1]);
    assert.deepEqual(f.truth, [1, 0, 1]);
    assert.deepEqual(f.runs.map((r) => r.name), ["lr-1", "lr-0.1", "lr-0.01"]);
    const [diverged, ok] = f.runs;
    assert.equal(diverged.divergedEpoch, 2);
    assert.ok(Number.isNaN(diverged.trainMse) && Number.isNaN(diverged.testMse));
    assert.deepEqual(diverged.loss, [50]);
    assert.equal(diverged.fit, null);
    assert.deepEqual(ok, exp1Run());
  });
});

Deno.test("readRunFolder() reads an exp2 run with its per-class accuracy and confusion matrix", async () => {
  await inTemp(async (tmp) => {
    const f = await readRunFolder(await writeFolder(tmp, "e", exp2Files()));
    assert.equal(f.lab, "exp2");
    if (f.lab !== "exp2") return;
    assert.deepEqual(f.stages, [{ lr: 0.1, epochs: 2 }, { lr: 0.01, epochs: 1 }]);
    assert.equal(f.epochs.length, 3);
    assert.deepEqual(f.epochs[2], {
      epoch: 3,
      lr: 0.01,
      trainLoss: 1.2,
      trainAcc: 0.55,
      testLoss: 1.5,
      testAcc: 0.5,
      epochSeconds: 9.5,
      imagesPerSecond: 10.5,
    });
    assert.deepEqual(f.perClass![3], { index: 3, name: "cat", correct: 1, total: 2, accuracy: 0.5 });
    assert.equal(f.confusion!.length, 10);
    assert.deepEqual(f.confusion![9], [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });
});

Deno.test("readRunFolder() reads an exp2 run without per_class.csv and confusion.csv as null", async () => {
  await inTemp(async (tmp) => {
    const files = { ...exp2Files(), "per_class.csv": null, "confusion.csv": null };
    const f = await readRunFolder(await writeFolder(tmp, "e", files));
    assert.ok(f.lab === "exp2" && f.perClass === null && f.confusion === null);
  });
});

Deno.test("readRunFolder() says what it expected of a folder that is missing, a file or not a run", async () => {
  await inTemp(async (tmp) => {
    const expected = `expected a run folder written by "deno task exp1" or "deno task exp2"`;
    const missing = join(tmp, "nope");
    await assert.rejects(readRunFolder(missing), {
      name: "RunFolderError",
      message: `Run folder "${missing}" does not exist: ${expected}`,
    });
    const file = join(tmp, "file.txt");
    await Deno.writeTextFile(file, "x");
    await assert.rejects(readRunFolder(file), {
      name: "RunFolderError",
      message: `"${file}" is not a folder: ${expected}`,
    });
    const empty = await writeFolder(tmp, "empty", {});
    await assert.rejects(readRunFolder(empty), {
      name: "RunFolderError",
      message: `"${empty}" is not a run folder: it has no run.json, ${expected}`,
    });
  });
});

Deno.test("readRunFolder() rejects a run.json that is not JSON, names another lab or lacks config", async () => {
  await assert.rejects(
    inTemp(async (tmp) => void await readRunFolder(await writeFolder(tmp, "r", { "run.json": "{lab" }))),
    (e: Error) => e instanceof RunFolderError && /run\.json: not valid JSON \(/.test(e.message),
  );
  await rejects(
    { "run.json": `{"lab":"exp3","config":{}}` },
    "RunFolderError",
    `DIR/run.json: lab is "exp3", expected "exp1" or "exp2"`,
  );
  await rejects({ "run.json": `[1]` }, "RunFolderError", `DIR/run.json: expected a JSON object, got "[1]"`);
  await rejects(
    { "run.json": `{}` },
    "RunFolderError",
    `DIR/run.json: lab is undefined, expected "exp1" or "exp2"`,
  );
  await rejects(
    { "run.json": `{"lab":"exp2"}` },
    "RunFolderError",
    `DIR/run.json: "config" is undefined, expected an object`,
  );
  await rejects(
    { ...exp2Files(), "run.json": `{"lab":"exp2","config":{"schedule":"0.1"}}` },
    "RunFolderError",
    `DIR/run.json: "config.schedule": Schedule stage 1 is "0.1": expected LR:EPOCHS stages such as ` +
      `"0.1:5,0.01:5", with LR > 0 and a whole number of epochs >= 1`,
  );
});

Deno.test("readRunFolder() names a missing exp1 file and what the folder should hold", async () => {
  await rejects(
    { ...exp1Files(), "summary.csv": null },
    "RunFolderError",
    `Cannot read "DIR/summary.csv": no such file ` +
      `(an exp1 run folder holds run.json, summary.csv, fit.csv and one <run>.csv per run)`,
  );
  await rejects(
    { ...exp1Files(), "lr-0.1.csv": null },
    "RunFolderError",
    `Cannot read "DIR/lr-0.1.csv": no such file (the per-epoch loss of run "lr-0.1" in summary.csv)`,
  );
  await rejects(
    { ...exp2Files(), "metrics.csv": null },
    "RunFolderError",
    `Cannot read "DIR/metrics.csv": no such file (an exp2 run folder holds run.json and metrics.csv, one row per epoch)`,
  );
});

Deno.test("readRunFolder() rejects malformed exp1 CSVs, naming the file and line", async () => {
  const base = exp1Files();
  const summary = (line: string) => ({
    ...base,
    "summary.csv": base["summary.csv"]!.replace(/lr-0\.1,.*\n/, line),
  });
  await rejects(
    summary("lr-0.1,2,fast,adam,0.02,0.03,1.25,ok\n"),
    "CsvError",
    `DIR/summary.csv, line 3: column "lr" is "fast", expected a number`,
  );
  await rejects(
    summary("lr-0.1,2,0.1,adam,0.02,0.03,1.25,great\n"),
    "RunFolderError",
    `DIR/summary.csv, line 3: column "status" is "great", expected "ok" or "diverged at epoch N"`,
  );
  await rejects(
    summary("lr-0.1,2,0.1,adam,NaN,0.03,1.25,ok\n"),
    "RunFolderError",
    `DIR/summary.csv, line 3: column "train_mse" is "NaN", expected a number >= 0`,
  );
  await rejects(
    summary("../x,2,0.1,adam,0.02,0.03,1.25,ok\n"),
    "RunFolderError",
    `DIR/summary.csv, line 3: run is "../x", expected a name of letters, digits, ".", "+", "-", "_"`,
  );
  await rejects(
    summary("lr-1,2,0.1,adam,0.02,0.03,1.25,ok\n"),
    "RunFolderError",
    `DIR/summary.csv, line 3: run "lr-1" appears twice`,
  );
  // A blank line before the row: the message names the row's own line.
  await rejects(
    summary("\nlr-1,2,0.1,adam,0.02,0.03,1.25,ok\n"),
    "RunFolderError",
    `DIR/summary.csv, line 4: run "lr-1" appears twice`,
  );
  await rejects(
    { ...base, "summary.csv": "run,epochs\nlr-1,2\n" },
    "CsvError",
    `DIR/summary.csv: missing column "lr" (header is "run,epochs")`,
  );
  await rejects(
    { ...base, "lr-0.1.csv": "epoch,train_loss\n1,0.5\n3,0.02\n" },
    "RunFolderError",
    `DIR/lr-0.1.csv, line 3: epoch is "3", expected 2`,
  );
  await rejects(
    { ...base, "lr-0.1.csv": "epoch,train_loss\n1,0.5\n" },
    "RunFolderError",
    `DIR/lr-0.1.csv: 1 epochs of loss, expected 2 (summary.csv says 2 epochs, status "ok")`,
  );
  await rejects(
    { ...base, "fit.csv": "x,true f(x),lr-1,lr-0.1\n0,0,,0\n1,1,,1\n" },
    "CsvError",
    `DIR/fit.csv: missing column "lr-0.01" (header is "x,true f(x),lr-1,lr-0.1")`,
  );
  await rejects(
    { ...base, "fit.csv": base["fit.csv"]!.replace("0,0,,0.1,0.3", "0,0,,,0.3") },
    "CsvError",
    `DIR/fit.csv, line 3: column "lr-0.1" is "", expected a number`,
  );
});

Deno.test("readRunFolder() rejects malformed exp2 CSVs, naming the file and line", async () => {
  const base = exp2Files();
  await rejects(
    { ...base, "metrics.csv": base["metrics.csv"]!.replace("2,0.1,1.5", "2,0.1,oops") },
    "CsvError",
    `DIR/metrics.csv, line 3: column "train_loss" is "oops", expected a number`,
  );
  await rejects(
    { ...base, "metrics.csv": base["metrics.csv"]!.replace("\n2,", "\n5,") },
    "RunFolderError",
    `DIR/metrics.csv, line 3: epoch is "5", expected 2`,
  );
  await rejects(
    { ...base, "metrics.csv": base["metrics.csv"]!.replace("0.45", "45") },
    "RunFolderError",
    `DIR/metrics.csv, line 3: column "train_acc" is "45", expected an accuracy in [0, 1]`,
  );
  await rejects(
    {
      ...base,
      "metrics.csv": "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second\n",
    },
    "RunFolderError",
    `DIR/metrics.csv: no epochs (only a header line)`,
  );
  const perClass = base["per_class.csv"]!;
  await rejects(
    { ...base, "per_class.csv": perClass.replace("3,cat", "3,kitten") },
    "RunFolderError",
    `DIR/per_class.csv, line 5: name is "kitten", expected "cat" for class 3`,
  );
  await rejects(
    { ...base, "per_class.csv": perClass.replace("3,cat,1,2,0.5", "3,cat,1,2,0.7") },
    "RunFolderError",
    `DIR/per_class.csv, line 5: accuracy is "0.7", expected correct / total = 0.500000`,
  );
  await rejects(
    { ...base, "per_class.csv": perClass.replace("3,cat,1,2", "3,cat,3,2") },
    "RunFolderError",
    `DIR/per_class.csv, line 5: correct is "3" and total "2", expected whole numbers with correct <= total`,
  );
  await rejects(
    { ...base, "per_class.csv": perClass.split("\n").slice(0, 5).join("\n") },
    "RunFolderError",
    `DIR/per_class.csv: 4 classes, expected 10 (one row per CIFAR-10 class)`,
  );
  const confusion = confusionFiles()["confusion.csv"]!;
  await rejects(
    { ...base, "confusion.csv": confusion.replace("label,airplane,automobile", "label,automobile,airplane") },
    "RunFolderError",
    `DIR/confusion.csv, line 1: header is "label,automobile,airplane,bird,cat,deer,dog,frog,horse,ship,truck", ` +
      `expected "label,airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck"`,
  );
  await rejects(
    { ...base, "confusion.csv": confusion.replace("\ncat,0,0,0,1,1", "\ncat,0,0,0,1,-1") },
    "RunFolderError",
    `DIR/confusion.csv, line 5: column "deer" is "-1", expected a count (a whole number >= 0)`,
  );
  await rejects(
    { ...base, "confusion.csv": confusion.replace("\ncat,", "\ndog,") },
    "RunFolderError",
    `DIR/confusion.csv, line 5: label is "dog", expected "cat"`,
  );
  await rejects(
    { ...base, "confusion.csv": confusion.replace("\ncat,0,0,0,1,1", "\ncat,0,0,0,2,1") },
    "RunFolderError",
    `DIR/confusion.csv: row "cat" has 2 correct of 3, but DIR/per_class.csv says 1 of 2: ` +
      `expected both from the same evaluation`,
  );
});

Deno.test("readRunFolder() errors are CsvError or RunFolderError, never a crash", async () => {
  // A truncated quote is a csv-parse error, reported with the file name.
  await inTemp(async (tmp) => {
    const dir = await writeFolder(tmp, "r", { ...exp2Files(), "metrics.csv": 'epoch,lr\n"1,0.1\n' });
    await assert.rejects(
      readRunFolder(dir),
      (e: Error) => e instanceof CsvError && e.message.startsWith(`${dir}/metrics.csv: `),
    );
  });
});

Deno.test("readRunFolder() reads a diverged exp2 run's last row and the epochs a run inherited", async () => {
  await inTemp(async (tmp) => {
    const header = "epoch,lr,train_loss,train_acc,test_loss,test_acc,epoch_seconds,images_per_second";
    const diverged = await readRunFolder(
      await writeFolder(tmp, "d", {
        ...exp2Files(),
        "metrics.csv": `${header}\n1,0.1,2.1,0.3,1.9,0.35,10,10\n2,100,NaN,0.1,NaN,NaN,3,4\n`,
      }),
    );
    assert.ok(diverged.lab === "exp2");
    assert.equal(diverged.divergedEpoch, 2);
    assert.ok(Number.isNaN(diverged.epochs[1].trainLoss));
    // A NaN anywhere but the last row is damage, not divergence.
    await assert.rejects(
      readRunFolder(
        await writeFolder(tmp, "n", {
          ...exp2Files(),
          "metrics.csv": `${header}\n1,0.1,NaN,0.3,1.9,0.35,10,10\n2,0.1,2,0.1,2,0.1,3,4\n`,
        }),
      ),
      { name: "CsvError", message: /line 2: column "train_loss" is "NaN", expected a number/ },
    );
    const inherited = await readRunFolder(
      await writeFolder(tmp, "i", {
        ...exp2Files(),
        "metrics.csv": `${header},inherited_from\n1,0.1,2.1,0.3,1.9,0.35,10,10,stage1.safetensors\n` +
          "2,0.1,1.5,0.45,1.6,0.4,10.5,9.5,stage1.safetensors\n3,0.01,1.2,0.55,1.5,0.5,9.5,10.5,\n",
      }),
    );
    assert.ok(inherited.lab === "exp2");
    assert.deepEqual(inherited.epochs.map((e) => e.inheritedFrom ?? null), [
      "stage1.safetensors",
      "stage1.safetensors",
      null,
    ]);
    assert.equal(inherited.divergedEpoch, null);
  });
});

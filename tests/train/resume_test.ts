import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkpointName,
  checkResumable,
  checkScheduleExtends,
  findRunToResume,
  inheritedHistory,
  joinSchedules,
  latestCheckpoint,
  readLatestCheckpoint,
  RESUME_MUST_MATCH,
  resumeConfig,
  scheduleExtends,
} from "../../lib/train/resume.ts";
import { firstEpochs, parseSchedule } from "../../lib/train/schedule.ts";
import { UsageError } from "../../lib/runtime/flags.ts";
import { withTempDir } from "../helpers.ts";
import { metricsRow, tinyCheckpoint } from "../checkpoints.ts";

Deno.test("checkpointName() pads the epoch to three digits", () => {
  assert.equal(checkpointName(1), "epoch-001.safetensors");
  assert.equal(checkpointName(120), "epoch-120.safetensors");
  assert.equal(checkpointName(1234), "epoch-1234.safetensors");
});

Deno.test("latestCheckpoint() picks the highest epoch by number, ignoring other entries", async () => {
  await withTempDir("resume_test-", async (out) => {
    assert.equal(await latestCheckpoint(out), null, "no checkpoints folder");
    const dir = join(out, "checkpoints");
    await Deno.mkdir(dir);
    assert.equal(await latestCheckpoint(out), null, "empty folder");
    for (
      const name of ["epoch-009.safetensors", "epoch-010.safetensors", "epoch-1000.safetensors.tmp-1-ab"]
    ) {
      await Deno.writeFile(join(dir, name), new Uint8Array());
    }
    await Deno.mkdir(join(dir, "epoch-999.safetensors")); // a folder, not a checkpoint
    await Deno.writeFile(join(dir, "notes.txt"), new Uint8Array());
    assert.equal(await latestCheckpoint(out), join(dir, "epoch-010.safetensors"));
  });
});

Deno.test("checkResumable() accepts equal settings and names the first differing one", () => {
  const saved = {
    batchSize: 128,
    seed: 0,
    limitTrain: null,
    limitTest: 256,
    momentum: 0.9,
    weightDecay: 1e-4,
  };
  checkResumable(saved, { ...saved, schedule: "0.1:5,0.01:5", out: "elsewhere" }, "a.safetensors");
  for (const key of RESUME_MUST_MATCH) {
    const wanted = { ...saved, [key]: 7 };
    assert.throws(() => checkResumable(saved, wanted, "ck.safetensors"), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      const flag =
        { batchSize: "--batch-size", seed: "--seed", limitTrain: "--limit-train", limitTest: "--limit-test" }[
          key as string
        ];
      assert.equal(
        e.message,
        `ck.safetensors was trained with ${flag ?? key} ${
          JSON.stringify(saved[key])
        }, this run asks for 7: ` +
          `an exact resume needs the same value` + (flag ? ` (leave ${flag} out to keep it)` : ""),
      );
      return true;
    });
  }
  assert.throws(() => checkResumable({}, saved, "old.safetensors"), /trained with --batch-size \(none\)/);
});

/** A tiny checkpoint of `epoch` epochs under `config`. */
function checkpoint(epoch: number, config: Record<string, unknown> = {}): Uint8Array {
  const metrics = Array.from(
    { length: epoch },
    (_, i) => metricsRow(i + 1, { lr: 0.1, test_acc: 0.1 * (i + 1) }),
  );
  return tinyCheckpoint(epoch, { config, metrics });
}

Deno.test("readLatestCheckpoint() skips damaged newer checkpoints, naming them, and throws when none reads", async () => {
  await withTempDir("resume_test-", async (out) => {
    assert.equal(await readLatestCheckpoint(out), null);
    const dir = join(out, "checkpoints");
    await Deno.mkdir(dir);
    await Deno.writeFile(join(dir, checkpointName(1)), checkpoint(1));
    await Deno.writeFile(join(dir, checkpointName(2)), checkpoint(2).subarray(0, 50));
    await Deno.writeFile(join(dir, checkpointName(3)), new Uint8Array(0));
    const found = (await readLatestCheckpoint(out))!;
    assert.equal(found.path, join(dir, checkpointName(1)));
    assert.equal(found.checkpoint.epoch, 1);
    assert.deepEqual(found.skipped.map((s) => s.path), [
      join(dir, checkpointName(3)),
      join(dir, checkpointName(2)),
    ]);
    assert.ok(found.skipped.every((s) => s.reason.includes("safetensors") || s.reason.includes("bytes")));
    await Deno.writeFile(join(dir, checkpointName(1)), new Uint8Array(3));
    await assert.rejects(readLatestCheckpoint(out), { name: "SafetensorsError" });
  });
});

Deno.test("scheduleExtends() accepts only schedules that keep every planned epoch's LR and add epochs", () => {
  const s = parseSchedule;
  assert.equal(scheduleExtends(s("0.1:1"), s("0.1:1")), true);
  assert.equal(scheduleExtends(s("0.1:1"), s("0.1:2")), true);
  assert.equal(scheduleExtends(s("0.1:1"), s("0.1:1,0.01:1")), true);
  assert.equal(scheduleExtends(s("0.1:2,0.01:1"), s("0.1:1,0.1:1,0.01:3")), true, "same LR per epoch");
  assert.equal(scheduleExtends(s("0.1:2"), s("0.1:1")), false, "shorter");
  assert.equal(scheduleExtends(s("0.1:2"), s("0.1:1,0.01:5")), false, "epoch 2 changes");
  assert.equal(scheduleExtends(s("0.1:1"), s("0.05:5")), false);
  assert.throws(() => checkScheduleExtends("0.1:2", "0.1:1,0.01:5", "ck"), {
    name: "UsageError",
    message:
      `--schedule "0.1:1,0.01:5" does not extend the schedule "0.1:2" of ck: a resume keeps the epochs ` +
      `already planned at their learning rates and may only add epochs (e.g. "0.1:7"); to train differently, ` +
      `start a new run with --init`,
  });
});

Deno.test("inheritedHistory() reads epochs and metrics a file records, or null for anything inconsistent", () => {
  const rows = [{ epoch: 1, lr: 0.1, test_acc: 0.4 }, { epoch: 2, lr: 0.1 }, {
    epoch: 3,
    lr: 0.01,
    note: "x",
  }];
  const h = inheritedHistory({ epoch: "3", metrics: JSON.stringify(rows) })!;
  assert.deepEqual(h.stages, parseSchedule("0.1:2,0.01:1"));
  assert.deepEqual(h.metrics[2], { epoch: 3, lr: 0.01 }, "only numbers are kept");
  for (
    const metadata of [
      {} as Record<string, string>,
      { epoch: "3" },
      { epoch: "2", metrics: JSON.stringify(rows) },
      { epoch: "3", metrics: "[" },
      { epoch: "x", metrics: JSON.stringify(rows) },
      { epoch: "1", metrics: JSON.stringify([{ epoch: 2, lr: 0.1 }]) },
      { epoch: "1", metrics: JSON.stringify([{ epoch: 1, lr: -1 }]) },
      { epoch: "1", metrics: JSON.stringify([null]) },
    ]
  ) {
    assert.equal(inheritedHistory(metadata), null, JSON.stringify(metadata));
  }
  assert.equal(joinSchedules(h.stages, parseSchedule("0.01:2,0.001:1")), "0.1:2,0.01:3,0.001:1");
  assert.deepEqual(firstEpochs(parseSchedule("0.1:2,0.01:3"), 4), parseSchedule("0.1:2,0.01:2"));
});

Deno.test("findRunToResume() picks the one unfinished run, else the newest; lists several; never guesses", async () => {
  await withTempDir("resume_test-", async (runs) => {
    await assert.rejects(findRunToResume(runs, "exp2"), {
      name: "UsageError",
      message:
        `--resume auto found no exp2 run with a checkpoint under ${runs}/: give the run folder with --out, ` +
        `or start a new run without --resume`,
    });
    let clock = 1_700_000_000;
    const make = async (name: string, lab: string, epochs: number, schedule: string, final: boolean) => {
      const dir = join(runs, name);
      await Deno.mkdir(join(dir, "checkpoints"), { recursive: true });
      await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify({ lab, config: { schedule } }));
      for (let e = 1; e <= epochs; e++) {
        await Deno.writeFile(join(dir, "checkpoints", checkpointName(e)), checkpoint(e));
        // One checkpoint a minute, in the order written.
        clock += 60;
        await Deno.utime(join(dir, "checkpoints", checkpointName(e)), clock, clock);
      }
      if (final) await Deno.writeFile(join(dir, "final.safetensors"), new Uint8Array(8));
    };
    await make("done-old", "exp2", 2, "0.1:2", true);
    await make("lab1", "exp1", 1, "0.1:5", false);
    await make("done-new", "exp2", 1, "0.1:1", true);
    assert.equal((await findRunToResume(runs, "exp2")).dir, join(runs, "done-new"), "the newest");
    await make("stopped", "exp2", 1, "0.1:5", false);
    const one = await findRunToResume(runs, "exp2");
    assert.deepEqual([one.dir, one.epoch, one.planned, one.finished], [join(runs, "stopped"), 1, 5, false]);
    await make("stopped-too", "exp2", 3, "0.1:5", false);
    await assert.rejects(findRunToResume(runs, "exp2"), {
      name: "UsageError",
      message: new RegExp(
        `^--resume auto without --out is ambiguous: 2 unfinished exp2 runs under ${runs}/, newest first: ` +
          `${runs}/stopped-too \\(epoch 3 of 5\\), ${runs}/stopped \\(epoch 1 of 5\\): say which with --out DIR$`,
      ),
    });
  });
});

Deno.test("resumeConfig() takes the checkpoint's settings and only the flags given again", () => {
  const saved = { schedule: "0.1:1", batchSize: 32, limitTrain: 64, seed: 0 };
  assert.deepEqual(resumeConfig(saved, { schedule: "0.1:2", limitTrain: undefined }), {
    schedule: "0.1:2",
    batchSize: 32,
    limitTrain: 64,
    seed: 0,
  });
});

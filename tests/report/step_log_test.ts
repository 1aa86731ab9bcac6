import assert from "node:assert/strict";
import { join } from "node:path";
import { StepLog, StepLogError } from "../../lib/report/step_log.ts";
import { withTempDir } from "../helpers.ts";
import { STEPS_HEADER } from "./run_folder_fixtures.ts";

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const lines = async (path: string) => (await Deno.readTextFile(path)).split("\n").slice(0, -1);

Deno.test("StepLog.open() starts a new log with the header, replacing an old file", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    await Deno.writeTextFile(path, "old,stuff\n1,2\n");
    const log = await StepLog.open(path);
    assert.equal(await Deno.readTextFile(path), `${STEPS_HEADER}\n`);
    log.close();
  });
});

Deno.test("StepLog.append() writes the first row at once, then merges rows within the interval", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    const clock = manualClock();
    const log = await StepLog.open(path, { minIntervalMs: 250, now: clock.now });
    log.append({ step: 1, epoch: 1, lr: 0.1, loss: 2.5, acc: 0.1, imagesPerSecond: 200 });
    assert.deepEqual(await lines(path), [STEPS_HEADER, "1,1,0.1,2.5,0.1,200"]);
    // Steps 2 and 5 (covering 1 and 3 steps) arrive within 250 ms: held back.
    clock.advance(100);
    log.append({ step: 2, epoch: 1, lr: 0.1, loss: 2, acc: 0.2, imagesPerSecond: 210 });
    clock.advance(100);
    log.append({ step: 5, epoch: 1, lr: 0.1, loss: 1, acc: 0.6, imagesPerSecond: 220 });
    assert.equal((await lines(path)).length, 2);
    // Past the interval: one row for steps 2-5, means weighted by the steps covered.
    clock.advance(100);
    log.append({ step: 6, epoch: 1, lr: 0.1, loss: 0.5, imagesPerSecond: 230 });
    // loss (2 * 1 + 1 * 3 + 0.5 * 1) / 5, acc (0.2 * 1 + 0.6 * 3) / 4 (step 6 has none)
    assert.deepEqual((await lines(path)).slice(2), ["6,1,0.1,1.1,0.5,230"]);
    log.close();
  });
});

Deno.test("StepLog.append() never merges across a run that starts again at a lower epoch", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    const clock = manualClock();
    const log = await StepLog.open(path, { now: clock.now });
    log.append({ step: 10, epoch: 1, lr: 0.1, loss: 1 });
    clock.advance(10);
    log.append({ step: 20, epoch: 2, lr: 0.1, loss: 0.5 });
    clock.advance(10);
    // An exp1 study's next run: step goes on, epoch starts again; its first row
    // covers as many steps as the row before (10), like the next.
    log.append({ step: 101, epoch: 1, lr: 0.01, loss: 9 });
    clock.advance(10);
    log.append({ step: 111, epoch: 2, lr: 0.01, loss: 7 });
    log.close();
    assert.deepEqual((await lines(path)).slice(1), [
      "10,1,0.1,1,,",
      "20,2,0.1,0.5,,",
      "111,2,0.01,8,,",
    ]);
  });
});

Deno.test("StepLog writes a pending row by itself once the interval has passed", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    const log = await StepLog.open(path, { minIntervalMs: 50 });
    log.append({ step: 1, epoch: 1, lr: 0.1, loss: 2 });
    log.append({ step: 2, epoch: 1, lr: 0.1, loss: 1 });
    assert.equal((await lines(path)).length, 2);
    const deadline = Date.now() + 3000;
    while ((await lines(path)).length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual((await lines(path)).slice(1), ["1,1,0.1,2,,", "2,1,0.1,1,,"]);
    log.close();
  });
});

Deno.test("StepLog.close() writes the pending row; append() after close() is an error", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    const clock = manualClock();
    const log = await StepLog.open(path, { now: clock.now });
    log.append({ step: 1, epoch: 1, lr: 1, loss: 1 });
    log.append({ step: 2, epoch: 1, lr: 1, loss: NaN });
    log.close();
    log.close();
    assert.deepEqual((await lines(path)).slice(1), ["1,1,1,1,,", "2,1,1,NaN,,"]);
    assert.throws(
      () => log.append({ step: 3, epoch: 1, lr: 1, loss: 1 }),
      new StepLogError(`${path}: append after close`),
    );
  });
});

Deno.test("StepLog.append() rejects a step or epoch that is not a whole number >= 1", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    using log = await StepLog.open(join(dir, "steps.csv"));
    assert.throws(
      () => log.append({ step: 0, epoch: 1, lr: 1, loss: 1 }),
      new RangeError("A step row needs whole step and epoch >= 1, got step 0 and epoch 1"),
    );
  });
});

Deno.test("StepLog.open() with resumeEpoch keeps the rows of earlier epochs and drops a torn last line", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    await Deno.writeTextFile(
      path,
      `${STEPS_HEADER}\n5,1,0.1,2,0.2,100\n10,1,0.1,1.5,0.3,100\n15,2,0.1,1,0.5,100\n20,2,0.1,0.9,0.`,
    );
    const log = await StepLog.open(path, { resumeEpoch: 2 });
    log.append({ step: 11, epoch: 2, lr: 0.1, loss: 1.2, acc: 0.4, imagesPerSecond: 90 });
    log.close();
    assert.deepEqual(await lines(path), [
      STEPS_HEADER,
      "5,1,0.1,2,0.2,100",
      "10,1,0.1,1.5,0.3,100",
      "11,2,0.1,1.2,0.4,90",
    ]);
  });
});

Deno.test("StepLog.open() with resumeEpoch refuses a file that is not a steps log", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    await Deno.writeTextFile(path, "epoch,loss\n1,2\n");
    await assert.rejects(
      StepLog.open(path, { resumeEpoch: 2 }),
      new StepLogError(
        `${path}: header is "epoch,loss", expected "${STEPS_HEADER}": not a steps log to continue`,
      ),
    );
    assert.equal(await Deno.readTextFile(path), "epoch,loss\n1,2\n");
  });
});

Deno.test("StepLog.open() with resumeEpoch and no file starts a new log", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    (await StepLog.open(path, { resumeEpoch: 3 })).close();
    assert.equal(await Deno.readTextFile(path), `${STEPS_HEADER}\n`);
  });
});

Deno.test("StepLog writes every row as a whole line with all six columns", async () => {
  await withTempDir("step_log_test-", async (dir) => {
    const path = join(dir, "steps.csv");
    const log = await StepLog.open(path, { minIntervalMs: 0 });
    for (let s = 1; s <= 200; s++) {
      log.append({
        step: s,
        epoch: 1 + (s >> 6),
        lr: 0.1,
        loss: 1 / s,
        acc: s / 400,
        imagesPerSecond: 1234.5678,
      });
    }
    log.close();
    const rows = (await lines(path)).slice(1);
    assert.equal(rows.length, 200);
    for (const r of rows) assert.equal(r.split(",").length, 6, r);
    assert.equal(rows[199], "200,4,0.1,0.005,0.5,1234.57");
  });
});

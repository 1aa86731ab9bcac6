import assert from "node:assert/strict";
import {
  type Exp1State,
  exp1StepOffsets,
  type Exp2State,
  type RunSnapshot,
  runState,
} from "../../lib/report/run_state.ts";
import {
  exp1Files,
  exp2Files,
  type FolderFiles,
  liveExp2Files,
  STEPS_HEADER,
} from "./run_folder_fixtures.ts";

const T0 = Date.parse("2025-01-02T03:04:05.000Z");

/** A snapshot of `files`, every file (and any `extra` entry) last changed at `mtime`. */
function snap(files: FolderFiles, mtime: number, extra: string[] = []): RunSnapshot {
  const texts: Record<string, string> = {};
  for (const [name, text] of Object.entries(files)) if (text !== null) texts[name] = text;
  const names = [...Object.keys(texts), ...extra];
  return { names, texts, mtimes: Object.fromEntries(names.map((n) => [n, mtime])) };
}

function exp2(files: FolderFiles, mtime: number, now: number, extra: string[] = []): Exp2State {
  const s = runState(snap(files, mtime, extra), { now });
  assert.equal(s.lab, "exp2", JSON.stringify(s.reason));
  return s as Exp2State;
}

function exp1(files: FolderFiles, mtime: number, now: number): Exp1State {
  const s = runState(snap(files, mtime), { now });
  assert.equal(s.lab, "exp1", JSON.stringify(s.reason));
  return s as Exp1State;
}

/** An exp1 run.json: `fit` merged into small defaults. */
function exp1RunJson(study: "epochs" | "lr" | null, fit: Record<string, unknown> = {}): string {
  return JSON.stringify({
    lab: "exp1",
    started: new Date(T0).toISOString(),
    config: {
      fit: { epochs: 3, lr: 0.01, samples: 4, batchSize: 2, hidden: [3], optimizer: "adam", ...fit },
      fn: "x^2",
      study,
    },
  });
}

Deno.test("runState() waits for a folder without run.json", () => {
  const s = runState({ names: ["steps.csv"], texts: {}, mtimes: { "steps.csv": T0 } }, { now: T0 });
  assert.equal(s.status, "waiting");
  assert.equal(s.lab, null);
  assert.equal(s.updatedAt, T0);
  assert.match(s.reason!, /^no run\.json yet/);
});

Deno.test("runState() calls a folder with a broken run.json damaged, naming the problem", () => {
  let s = runState(snap({ "run.json": "{ half" }, T0), { now: T0 });
  assert.equal(s.status, "damaged");
  assert.match(s.reason!, /^run\.json: not valid JSON/);
  s = runState(snap({ "run.json": JSON.stringify({ lab: "exp3", config: {} }) }, T0), { now: T0 });
  assert.equal(s.reason, `run.json: lab is "exp3", expected "exp1" or "exp2"`);
  s = runState(snap({ "run.json": JSON.stringify({ lab: "exp2", config: { schedule: "fast" } }) }, T0), {
    now: T0,
  });
  assert.equal(s.status, "damaged");
  assert.match(s.reason!, /^run\.json: "config\.schedule": Schedule stage 1 is "fast"/);
});

Deno.test("runState() follows an exp2 run through its epochs from steps.csv and metrics.csv", () => {
  // 10 steps an epoch; epoch 1 done, 6 steps into epoch 2.
  const files = liveExp2Files({ done: 1, step: 16, started: new Date(T0).toISOString() });
  const s = exp2(files, T0 + 160_000, T0 + 161_000);
  assert.equal(s.status, "running");
  assert.equal(s.stepsPerEpoch, 10);
  assert.deepEqual(s.stages, [{ lr: 0.1, epochs: 2 }, { lr: 0.01, epochs: 2 }]);
  assert.deepEqual(s.epochs.map((e) => [e.epoch, e.trainLoss, e.testAcc]), [[1, 1.7, 0.25]]);
  assert.equal(s.steps.length, 8);
  assert.deepEqual(s.steps.at(-1), {
    step: 16,
    epoch: 2,
    lr: 0.1,
    loss: 1.56,
    acc: 0.3667,
    imagesPerSecond: 100,
  });
  assert.equal(s.progress.epoch, 2);
  assert.equal(s.progress.epochs, 4);
  assert.ok(Math.abs(s.progress.epochFraction! - 0.6) < 1e-12);
  assert.equal(s.progress.fraction, 16 / 40);
  // 16 steps in 160 s: the other 24 take 240 s more.
  assert.equal(s.progress.etaAt, T0 + 160_000 + 240_000);
});

Deno.test("runState() shows an exp2 epoch whose steps are done as fully done while it is evaluated", () => {
  const s = exp2(liveExp2Files({ done: 1, step: 20 }), T0, T0);
  assert.equal(s.progress.epoch, 2);
  assert.equal(s.progress.epochFraction, 1);
});

Deno.test("runState() ignores a last steps.csv line still being written", () => {
  const files = liveExp2Files({ done: 0, step: 4 });
  files["steps.csv"] += "6,1,0.1,2.0";
  const s = exp2(files, T0, T0);
  assert.deepEqual(s.steps.map((r) => r.step), [2, 4]);
  assert.deepEqual(s.problems, []);
});

Deno.test("runState() keeps the rows of a resumed run, not those of the session it replaced", () => {
  const files = liveExp2Files({ done: 1, step: 0 });
  files["steps.csv"] = `${STEPS_HEADER}\n10,1,0.1,2,0.2,100\n14,2,0.1,1.5,0.3,100\n18,2,0.1,1.4,0.3,100\n` +
    `12,2,0.1,1.6,0.3,90\n16,2,0.1,1.45,0.3,90\n`;
  const s = exp2(files, T0, T0);
  assert.deepEqual(s.steps.map((r) => [r.step, r.imagesPerSecond]), [[10, 100], [12, 90], [16, 90]]);
});

Deno.test("runState() skips malformed steps.csv lines and says how many", () => {
  const files = liveExp2Files({ done: 0, step: 0 });
  files["steps.csv"] = `${STEPS_HEADER}\n2,1,0.1,2,0.2,100\nbroken line\n4,1,0.1,x,0.2,100\n6,1,0.1,NaN,,\n`;
  const s = exp2(files, T0, T0);
  assert.deepEqual(s.problems, ["steps.csv: 2 malformed lines skipped (first at line 3)"]);
  assert.deepEqual(s.steps.map((r) => r.step), [2, 6]);
  assert.equal(s.steps[1].acc, null);
  assert.equal(s.status, "diverged");
  assert.equal(s.reason, "the training loss is NaN at epoch 1");
});

Deno.test("runState() shows what it can of a damaged metrics.csv and names the line", () => {
  const files = liveExp2Files({ done: 3, step: 30 });
  files["metrics.csv"] = files["metrics.csv"]!.replace("\n3,0.01,", "\n3,fast,");
  const s = exp2(files, T0, T0);
  assert.deepEqual(s.problems, [`metrics.csv, line 4: column "lr" is "fast", expected a number`]);
  assert.equal(s.epochs.length, 2);
  assert.equal(s.status, "running");

  files["metrics.csv"] = "epoch,lr\n1,0.1\n";
  assert.deepEqual(exp2(files, T0, T0).problems, [
    `metrics.csv: missing column "train_loss" (header is "epoch,lr")`,
  ]);
});

Deno.test("runState() calls an exp2 run finished once final.safetensors is there, with its confusion matrix", () => {
  const files = exp2Files();
  const s = exp2(files, T0, T0 + 3_600_000, ["final.safetensors"]);
  assert.equal(s.status, "finished");
  assert.equal(s.reason, null);
  assert.equal(s.progress.fraction, 1);
  assert.equal(s.progress.etaAt, null);
  assert.equal(s.perClass?.length, 10);
  assert.equal(s.confusion?.[3][4], 1);
});

Deno.test("runState() puts a damaged per_class.csv in problems and still shows the epochs", () => {
  const files = exp2Files();
  files["per_class.csv"] = "class,name\n0,cat\n";
  const s = exp2(files, T0, T0, ["final.safetensors"]);
  assert.equal(s.perClass, null);
  assert.equal(s.epochs.length, 3);
  assert.equal(s.problems.length, 1);
  assert.match(s.problems[0], /^per_class\.csv: missing column "correct"/);
});

Deno.test("runState() takes an exp2 run whose files stopped changing for long as stopped", () => {
  // 100 images/s, a row every 2 steps of 64 images: 1.28 s; evaluation of 100 images: 1 s.
  const files = liveExp2Files({ done: 1, step: 14 });
  const limit = 60 + 5 * 1.28 + 1;
  assert.equal(exp2(files, T0, T0 + (limit - 1) * 1000).status, "running");
  const s = exp2(files, T0, T0 + (limit + 1) * 1000);
  assert.equal(s.status, "stopped");
  assert.equal(s.reason, "no file has changed for 68 s; continue it with deno task exp2 --resume auto");
  assert.equal(s.progress.etaAt, null);
});

Deno.test("exp1StepOffsets() lays a study's runs end to end at their planned steps", () => {
  assert.deepEqual(exp1StepOffsets([]), [0]);
  assert.deepEqual(
    exp1StepOffsets([{ epochs: 100, samples: 1000, batchSize: 100 }, {
      epochs: 1000,
      samples: 1000,
      batchSize: 64,
    }]),
    [0, 1000, 17000],
  );
});

Deno.test("runState() follows an exp1 study run by run from the step offsets", () => {
  // lr study: 4 runs of 1000 epochs, 2 steps an epoch: run k starts after step 2000 k.
  const files: FolderFiles = {
    "run.json": exp1RunJson("lr"),
    "summary.csv": "run,epochs,lr,optimizer,train_mse,test_mse,seconds,status\n" +
      "lr-1,1000,1,adam,NaN,NaN,0.5,diverged at epoch 2\n",
    "lr-1.csv": "epoch,train_loss\n1,50\n",
    "fit.csv": "x,true f(x),lr-1\n-1,1,\n0,0,\n1,1,\n",
    "steps.csv": `${STEPS_HEADER}\n2,1,1,50,,800\n2004,2,0.1,3,,800\n2100,50,0.1,0.5,,800\n`,
  };
  const s = exp1(files, T0 + 10_000, T0 + 10_000);
  assert.equal(s.status, "running");
  assert.deepEqual(s.runs.map((r) => [r.name, r.status]), [
    ["lr-1", "diverged"],
    ["lr-0.1", "running"],
    ["lr-0.01", "planned"],
    ["lr-0.001", "planned"],
  ]);
  assert.deepEqual(s.runs[0].loss, { epoch: [1], loss: [50] });
  assert.deepEqual(s.runs[1].loss, { epoch: [2, 50], loss: [3, 0.5] });
  assert.equal(s.progress.run, 1);
  assert.equal(s.progress.epoch, 50);
  assert.equal(s.progress.fraction, 2100 / 8000);
  // 2100 steps in 10 s: 5900 more take 5900 / 210 s.
  assert.equal(s.progress.etaAt, T0 + 10_000 + 10_000 / 2100 * 5900);
  assert.deepEqual(s.fit?.x, [-1, 0, 1]);
  assert.deepEqual(s.fit?.curves.map((c) => c.name), ["lr-1"]);
  assert.ok(s.fit?.curves[0].y.every(Number.isNaN));
});

Deno.test("runState() calls an exp1 study finished when every run is in summary.csv", () => {
  const files = exp1Files();
  const s = exp1(files, T0, T0 + 1e9);
  // The fixture's study ran 3 runs of 2 epochs: its runs are listed as summary.csv has them.
  assert.deepEqual(s.runs.slice(0, 3).map((r) => [r.name, r.status, r.epochs]), [
    ["lr-1", "diverged", 2],
    ["lr-0.1", "ok", 2],
    ["lr-0.01", "ok", 2],
  ]);
  assert.equal(s.status, "stopped"); // lr-0.001 never came
  files["summary.csv"] += "lr-0.001,2,0.001,adam,0.5,0.6,1,ok\n";
  files["lr-0.001.csv"] = "epoch,train_loss\n1,1\n2,0.9\n";
  const done = exp1(files, T0, T0 + 1e9);
  assert.equal(done.status, "finished");
  assert.equal(done.progress.fraction, 1);
  assert.deepEqual(done.runs[3].loss, { epoch: [1, 2], loss: [1, 0.9] });
});

Deno.test("runState() calls a single exp1 run diverged, live or done", () => {
  const files: FolderFiles = {
    "run.json": exp1RunJson(null),
    "steps.csv": `${STEPS_HEADER}\n2,1,0.01,4,,10\n4,2,0.01,Infinity,,10\n`,
  };
  let s = exp1(files, T0, T0);
  assert.equal(s.status, "diverged");
  assert.equal(s.reason, "run e3-lr0.01: the training loss is Infinity at epoch 2");
  files["summary.csv"] = "run,epochs,lr,optimizer,train_mse,test_mse,seconds,status\n" +
    "e3-lr0.01,3,0.01,adam,NaN,NaN,1,diverged at epoch 2\n";
  s = exp1(files, T0, T0);
  assert.equal(s.status, "diverged");
  assert.equal(s.reason, "the training loss was not finite at epoch 2");
});

Deno.test("runState() rejects an exp1 run.json without the fit config it needs", () => {
  const s = runState(snap({ "run.json": exp1RunJson(null, { samples: "many" }) }, T0), { now: T0 });
  assert.equal(s.status, "damaged");
  assert.equal(s.reason, `run.json: "config.fit.samples" is "many", expected a number > 0`);
});

Deno.test("runState() reports summary.csv rows it cannot use", () => {
  const files: FolderFiles = {
    "run.json": exp1RunJson(null),
    "summary.csv": "run,epochs,lr,optimizer,train_mse,test_mse,seconds,status\n../x,3,0.01,adam,1,1,1,ok\n",
  };
  assert.deepEqual(exp1(files, T0, T0).problems, [
    `summary.csv, line 2: run is "../x", expected a name of letters, digits, ".", "+", "-", "_"`,
  ]);
});

Deno.test("runState() knows no progress within the epoch for a run without steps.csv", () => {
  const files = liveExp2Files({ done: 1, step: 0 });
  assert.equal(exp2(files, T0, T0).progress.epochFraction, 0);
  delete files["steps.csv"];
  const s = exp2(files, T0, T0);
  assert.equal(s.progress.epochFraction, null);
  assert.equal(s.progress.epoch, 2);
  assert.equal(s.progress.fraction, 1 / 4);
});

import assert from "node:assert/strict";
import { FIT_DEFAULTS, type FitConfig } from "../../lib/train/fit_function.ts";
import { LR_STUDY_EPOCHS, STUDIES, studyRuns } from "../../lib/train/study.ts";

const base: FitConfig = { ...FIT_DEFAULTS, epochs: 7, lr: 0.05, hidden: [8], optimizer: "sgd", seed: 3 };

Deno.test("studyRuns() with no study is the single run of the base config", () => {
  const runs = studyRuns(null, base);
  assert.equal(runs.length, 1);
  assert.equal(runs[0].name, "e7-lr0.05");
  assert.deepEqual(runs[0].config, base);
  assert.equal(studyRuns(null, FIT_DEFAULTS)[0].name, "e1000-lr0.01");
});

Deno.test("studyRuns('epochs') varies only the epochs: 100, 1000, 10000, 50000", () => {
  const runs = studyRuns("epochs", base);
  assert.deepEqual(runs.map((r) => r.name), ["epochs-100", "epochs-1000", "epochs-10000", "epochs-50000"]);
  assert.deepEqual(runs.map((r) => r.config.epochs), [100, 1000, 10000, 50000]);
  for (const r of runs) assert.deepEqual(r.config, { ...base, epochs: r.config.epochs });
});

Deno.test("studyRuns('lr') varies only the learning rate (1, 0.1, 0.01, 0.001) at 1000 epochs", () => {
  const runs = studyRuns("lr", base);
  assert.deepEqual(runs.map((r) => r.name), ["lr-1", "lr-0.1", "lr-0.01", "lr-0.001"]);
  assert.deepEqual(runs.map((r) => r.config.lr), [1, 0.1, 0.01, 0.001]);
  assert.equal(LR_STUDY_EPOCHS, 1000);
  for (const r of runs) assert.deepEqual(r.config, { ...base, lr: r.config.lr, epochs: 1000 });
});

Deno.test("studyRuns() gives every run its own config and leaves the base alone", () => {
  const before = structuredClone(base);
  const runs = studyRuns("epochs", base);
  runs[0].config.lr = 123;
  assert.deepEqual(base, before);
  assert.notEqual(runs[1].config.lr, 123);
  assert.deepEqual(STUDIES, { epochs: [100, 1000, 10000, 50000], lr: [1, 0.1, 0.01, 0.001] });
  // Run names are unique and safe as file names.
  for (const study of [null, "epochs", "lr"] as const) {
    const names = studyRuns(study, base).map((r) => r.name);
    assert.equal(new Set(names).size, names.length);
    for (const n of names) assert.match(n, /^[\w.-]+$/);
  }
});

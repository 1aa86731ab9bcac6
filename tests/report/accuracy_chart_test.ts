import assert from "node:assert/strict";
import { accuracyChart } from "../../lib/report/accuracy_chart.ts";

const rows = [
  { epoch: 1, train_acc: 0.3, test_acc: 0.35 },
  { epoch: 2, train_acc: 0.5, test_acc: 0.48 },
];

Deno.test("accuracyChart() draws train and test in percent over the whole schedule, stages marked", () => {
  const svg = accuracyChart(rows, [{ lr: 0.1, epochs: 5 }, { lr: 0.01, epochs: 5 }]);
  assert.match(svg, /^<svg/);
  assert.match(svg, /LR 0\.1 from epoch 1/);
  assert.match(svg, />LR 0\.01</);
  assert.match(svg, />accuracy \(%\)</);
  // Whole-epoch ticks out to the end of the schedule (10), not of the data (2).
  assert.match(svg, />10</);
  for (const name of ["train", "test"]) assert.match(svg, new RegExp(`>${name}<`));
});

Deno.test("accuracyChart() marks every stage boundary and none for one stage", () => {
  const three = accuracyChart(rows, [{ lr: 0.1, epochs: 1 }, { lr: 0.01, epochs: 1 }, {
    lr: 0.001,
    epochs: 1,
  }]);
  assert.equal(three.match(/>LR 0\.0*1</g)?.length, 2);
  const one = accuracyChart(rows, [{ lr: 0.1, epochs: 2 }]);
  assert.doesNotMatch(one, />LR 0\.1</);
});

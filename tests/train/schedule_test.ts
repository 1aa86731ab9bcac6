import assert from "node:assert/strict";
import {
  concatStages,
  dropEpochs,
  firstEpochs,
  formatSchedule,
  LAB_SCHEDULE,
  lrAt,
  parseSchedule,
  ScheduleError,
  stageStarts,
  totalEpochs,
} from "../../lib/train/schedule.ts";

const EXPECTED = `expected LR:EPOCHS stages such as "0.1:5,0.01:5"`;
const stageMessage = (i: number, part: string) =>
  `Schedule stage ${i} is "${part}": ${EXPECTED}, with LR > 0 and a whole number of epochs >= 1`;

Deno.test("parseSchedule() reads the lab's recipe as two stages", () => {
  assert.deepEqual(parseSchedule(LAB_SCHEDULE), [{ lr: 0.1, epochs: 5 }, { lr: 0.01, epochs: 5 }]);
  assert.deepEqual(parseSchedule(" 0.1:5 , 1e-3:2"), [{ lr: 0.1, epochs: 5 }, { lr: 0.001, epochs: 2 }]);
});

Deno.test("formatSchedule() and parseSchedule() round-trip", () => {
  for (const text of [LAB_SCHEDULE, "0.1:1", "0.05:3,0.005:2,0.0005:1"]) {
    assert.equal(formatSchedule(parseSchedule(text)), text);
  }
  const stages = [{ lr: 0.2, epochs: 7 }, { lr: 0.002, epochs: 1 }];
  assert.deepEqual(parseSchedule(formatSchedule(stages)), stages);
  // Normalises spacing and number spelling.
  assert.equal(formatSchedule(parseSchedule(" 1e-1:5, 0.010:5 ")), LAB_SCHEDULE);
});

Deno.test("lrAt() switches at the stage boundaries and throws past the end", () => {
  const s = parseSchedule(LAB_SCHEDULE);
  assert.equal(totalEpochs(s), 10);
  assert.deepEqual(
    Array.from({ length: 10 }, (_, i) => lrAt(s, i + 1)),
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.01],
  );
  assert.equal(lrAt(s, 5), 0.1);
  assert.equal(lrAt(s, 6), 0.01);
  assert.throws(() => lrAt(s, 11), {
    name: "RangeError",
    message: "Epoch 11 is past the schedule's last epoch 10",
  });
  const three = parseSchedule("0.1:1,0.01:2,0.001:1");
  assert.deepEqual([1, 2, 3, 4].map((e) => lrAt(three, e)), [0.1, 0.01, 0.01, 0.001]);
  assert.throws(() => lrAt(three, 5), {
    name: "RangeError",
    message: "Epoch 5 is past the schedule's last epoch 4",
  });
});

Deno.test("parseSchedule() rejects malformed schedules with exact messages", () => {
  const cases: [string, string][] = [
    ["", `Schedule is empty: ${EXPECTED}`],
    ["   ", `Schedule is empty: ${EXPECTED}`],
    ["0.1", stageMessage(1, "0.1")],
    ["0.1:0", stageMessage(1, "0.1:0")],
    ["0.1:2.5", stageMessage(1, "0.1:2.5")],
    ["-1:3", stageMessage(1, "-1:3")],
    ["0:3", stageMessage(1, "0:3")],
    ["a:b", stageMessage(1, "a:b")],
    ["0.1:5,", stageMessage(2, "")],
    ["0.1:5,0.01", stageMessage(2, "0.01")],
    ["0.1:5:5", stageMessage(1, "0.1:5:5")],
    ["Infinity:1", stageMessage(1, "Infinity:1")],
    ["0.1:-2", stageMessage(1, "0.1:-2")],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseSchedule(text), (e: unknown) => {
      assert.ok(e instanceof ScheduleError, `${JSON.stringify(text)} threw ${e}`);
      assert.equal(e.name, "ScheduleError");
      assert.equal(e.message, message, `for ${JSON.stringify(text)}`);
      return true;
    });
  }
});

Deno.test("stageStarts() gives the first epoch and LR of every stage", () => {
  assert.deepEqual(stageStarts(parseSchedule(LAB_SCHEDULE)), [{ epoch: 1, lr: 0.1 }, { epoch: 6, lr: 0.01 }]);
  assert.deepEqual(stageStarts(parseSchedule("0.1:1,0.01:2,0.001:1")), [
    { epoch: 1, lr: 0.1 },
    { epoch: 2, lr: 0.01 },
    { epoch: 4, lr: 0.001 },
  ]);
  assert.deepEqual(stageStarts([]), []);
});

Deno.test("concatStages() merges each tail stage into an equal-LR stage before it, never within the head", () => {
  const p = parseSchedule;
  assert.deepEqual(concatStages([], []), []);
  assert.deepEqual(concatStages(p("0.1:5"), []), p("0.1:5"));
  assert.deepEqual(concatStages([], p("0.1:1,0.1:2,0.01:1,0.1:1")), p("0.1:3,0.01:1,0.1:1"));
  assert.deepEqual(concatStages(p("0.1:2,0.01:3"), p("0.01:2,0.001:1")), p("0.1:2,0.01:5,0.001:1"));
  assert.deepEqual(concatStages(p("0.1:2,0.1:3"), p("0.01:1")), p("0.1:2,0.1:3,0.01:1"), "head as written");
  const head = p("0.1:2");
  concatStages(head, p("0.1:3"));
  assert.deepEqual(head, p("0.1:2"), "inputs are not changed");
});

Deno.test("firstEpochs() keeps 0, part of a stage, a stage's end, all and more than all", () => {
  const s = parseSchedule("0.1:2,0.01:3");
  assert.deepEqual(firstEpochs(s, 0), []);
  assert.deepEqual(firstEpochs(s, 1), parseSchedule("0.1:1"));
  assert.deepEqual(firstEpochs(s, 2), parseSchedule("0.1:2"));
  assert.deepEqual(firstEpochs(s, 3), parseSchedule("0.1:2,0.01:1"));
  assert.deepEqual(firstEpochs(s, 5), s);
  assert.deepEqual(firstEpochs(s, 9), s);
  assert.notEqual(firstEpochs(s, 5)[0], s[0], "a copy");
});

Deno.test("dropEpochs() drops 0, part of a stage, a stage's end, all and more than all", () => {
  const s = parseSchedule("0.1:2,0.01:3");
  assert.deepEqual(dropEpochs(s, 0), s);
  assert.deepEqual(dropEpochs(s, 1), parseSchedule("0.1:1,0.01:3"));
  assert.deepEqual(dropEpochs(s, 2), parseSchedule("0.01:3"));
  assert.deepEqual(dropEpochs(s, 4), parseSchedule("0.01:1"));
  assert.deepEqual(dropEpochs(s, 5), []);
  assert.deepEqual(dropEpochs(s, 9), []);
  for (let n = 0; n <= 5; n++) {
    assert.deepEqual(concatStages(firstEpochs(s, n), dropEpochs(s, n)), s, `split at ${n}`);
  }
});

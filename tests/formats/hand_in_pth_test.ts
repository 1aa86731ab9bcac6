import assert from "node:assert/strict";
import { handInPth } from "../../lib/formats/hand_in_pth.ts";
import { decodePth, encodePth } from "../../lib/formats/pth.ts";
import type { StateDict } from "../../lib/formats/state_dict.ts";

const STATE: StateDict = new Map([
  ["linear.weight", { dtype: "F32" as const, shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }],
  ["bn1.num_batches_tracked", { dtype: "I64" as const, shape: [], data: new BigInt64Array([7n]) }],
]);

Deno.test("handInPth() writes the lab's layout: state under net, acc in percent as a 0-dim F32, then epoch, schedule, metrics", () => {
  const rows = [{ epoch: 1, test_acc: 0.5 }, { epoch: 2, test_acc: 0.831049 }];
  const bytes = handInPth(STATE, { acc: 0.831049, epoch: 2, schedule: "0.1:1,0.01:1", metrics: rows });
  // Byte for byte what exp2 and export wrote by hand before (this key order included).
  const want = encodePth(STATE, {
    key: "net",
    extra: {
      acc: { dtype: "F32", shape: [], data: Float32Array.of(83.1) },
      epoch: 2,
      schedule: "0.1:1,0.01:1",
      metrics: JSON.stringify(rows),
    },
  });
  assert.deepEqual(bytes, want);
  const { key, state, extra } = decodePth(bytes, { source: "final.pth" });
  assert.equal(key, "net");
  assert.deepEqual(state, STATE);
  assert.deepEqual(extra, {
    acc: Math.fround(83.1),
    epoch: 2,
    schedule: "0.1:1,0.01:1",
    metrics: JSON.stringify(rows),
  });
});

Deno.test("handInPth() leaves out what is absent, and an accuracy that is not finite", () => {
  assert.deepEqual(decodePth(handInPth(STATE)).extra, {});
  assert.deepEqual(decodePth(handInPth(STATE, { acc: NaN, epoch: 0 })).extra, { epoch: 0 });
  assert.deepEqual(decodePth(handInPth(STATE, { metrics: '[{"epoch":1}]' })).extra, {
    metrics: '[{"epoch":1}]',
  });
  assert.deepEqual(handInPth(STATE), encodePth(STATE, { key: "net" }));
});

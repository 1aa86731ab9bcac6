import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkpointName,
  checkResumable,
  latestCheckpoint,
  RESUME_MUST_MATCH,
} from "../../lib/train/resume.ts";
import { UsageError } from "../../lib/runtime/flags.ts";
import { withTempDir } from "../helpers.ts";

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

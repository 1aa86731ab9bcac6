/**
 * `deno task exp2 --backend webgpu` end to end on lavapipe, compiled steps
 * and compiled evaluation: a run stopped after epoch 1 and continued with
 * `--resume auto` ends with the same epoch-2 row and bit-identical weights as
 * an uninterrupted run; and where PyTorch is installed, its test accuracy on
 * the final weights equals ours. Tiny sizes (16 training and 8 test images,
 * batches of 4; lavapipe takes about a second a step at that size).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeWeights } from "../../lib/formats/weights.ts";
import { assertOk, CIFAR_DIR, haveCifar, rowsWithoutTiming, runLab, withTempDir } from "../helpers.ts";
import { haveTorch, PYTHON, REFERENCE } from "../pytorch.ts";
import { gpuTest } from "./helpers.ts";

const SMALL = ["--backend", "webgpu", "--limit-train", "16", "--limit-test", "8", "--batch-size", "4"];
const test = { ...gpuTest, ignore: gpuTest.ignore || !haveCifar };

/** `dir`'s metrics.csv rows without the timing columns. */
async function rows(dir: string): Promise<Record<string, string>[]> {
  return rowsWithoutTiming(await Deno.readTextFile(join(dir, "metrics.csv")));
}

Deno.test(
  "webgpu exp2: --resume auto after epoch 1 gives the uninterrupted run's epoch 2 and weights",
  test,
  async () => {
    await withTempDir("exp2_webgpu-", async (tmp) => {
      const [straight, stopped] = [join(tmp, "straight"), join(tmp, "stopped")];
      const full = await runLab("exp2", [...SMALL, "--schedule", "0.1:1,0.01:1", "--out", straight]);
      assertOk(full, "uninterrupted run");
      const info = JSON.parse(await Deno.readTextFile(join(straight, "run.json")));
      assert.equal(info.backend, "webgpu");
      assert.equal(info.compiledStep, true);
      assert.equal(info.deviceBatches, true, "batches built on the GPU");
      assertOk(await runLab("exp2", [...SMALL, "--schedule", "0.1:1", "--out", stopped]), "first epoch");
      const resumed = await runLab("exp2", [
        ...SMALL,
        "--schedule",
        "0.1:1,0.01:1",
        "--resume",
        "auto",
        "--out",
        stopped,
      ]);
      assertOk(resumed, "resumed run");
      assert.deepEqual(await rows(stopped), await rows(straight));
      const [a, b] = await Promise.all(
        [stopped, straight].map(async (d) =>
          decodeWeights(await Deno.readFile(join(d, "final.safetensors"))).state
        ),
      );
      assert.deepEqual(a, b);

      if (!haveTorch || REFERENCE === null) return; // the helpers said why
      const ours = Number((await rows(straight)).at(-1)!.test_acc);
      const out = await new Deno.Command(PYTHON, {
        args: [
          join(REFERENCE, "pytorch_resnet20.py"),
          "logits",
          "--weights",
          join(straight, "final.safetensors"),
          "--data-dir",
          CIFAR_DIR,
          "--limit-test",
          "8",
          "--print-rows",
          "0",
        ],
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, text);
      const m = text.match(/test_acc ([0-9.]+) on 8 images/);
      assert.ok(m, `no test_acc in PyTorch's output: ${text.slice(0, 300)}`);
      assert.equal(Number(m[1]), ours);
    });
  },
);

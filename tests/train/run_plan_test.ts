import assert from "node:assert/strict";
import { join } from "node:path";
import { checkpointName } from "../../lib/train/resume.ts";
import { type Lab2Config, type Lab2Request, planLab2Run } from "../../lib/train/run_plan.ts";
import { REPO, withTempDir } from "../helpers.ts";
import { tinyCheckpoint } from "../checkpoints.ts";

const CONFIG: Lab2Config = {
  schedule: "0.1:1",
  batchSize: 32,
  seed: 0,
  dataDir: "data",
  limitTrain: 64,
  limitTest: 32,
  momentum: 0.9,
  weightDecay: 1e-4,
  backend: "native",
  out: "",
  resume: null,
  init: null,
  inherited: 0,
};

function request(
  over: Partial<Lab2Config>,
  given: string[],
  out: string | null,
  newOut = "runs/new",
): Lab2Request {
  return { config: { ...CONFIG, ...over }, given: new Set(given), out, newOut };
}

async function writeRun(dir: string, epochs: number, config: Partial<Lab2Config> = {}): Promise<void> {
  await Deno.mkdir(join(dir, "checkpoints"), { recursive: true });
  const saved = { ...CONFIG, out: dir, ...config };
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify({ lab: "exp2", config: saved }));
  for (let e = 1; e <= epochs; e++) {
    await Deno.writeFile(join(dir, "checkpoints", checkpointName(e)), tinyCheckpoint(e, { config: saved }));
  }
  await Deno.writeTextFile(join(dir, "metrics.csv"), "epoch\n");
}

Deno.test("planLab2Run() plans a fresh run into a new folder, and refuses one that holds a run", async () => {
  await withTempDir("run_plan_test_", async (dir) => {
    const plan = await planLab2Run(request({}, [], null, join(dir, "new")));
    assert.deepEqual([plan.config.out, plan.start, plan.checkpoint, plan.continues], [
      join(dir, "new"),
      1,
      null,
      false,
    ]);
    await writeRun(join(dir, "a"), 1);
    await assert.rejects(planLab2Run(request({}, [], join(dir, "a"))), {
      name: "UsageError",
      message: `--out "${
        join(dir, "a")
      }" already holds a run (metrics.csv): continue it with --resume auto, or choose another --out`,
    });
  });
});

Deno.test("planLab2Run() --init of weights that record 5 epochs starts at epoch 6 with their rows", async () => {
  const init = join(REPO, "weights/resnet20-stage1.safetensors");
  const plan = await planLab2Run(request({ schedule: "0.01:5", init }, ["schedule", "init"], null, "runs/x"));
  assert.equal(plan.start, 6);
  assert.equal(plan.config.schedule, "0.1:5,0.01:5");
  assert.equal(plan.config.inherited, 5);
  assert.deepEqual(plan.metrics.map((r) => [r.epoch, r.lr, r.inherited_from]), [
    [1, 0.1, "resnet20-stage1.safetensors"],
    [2, 0.1, "resnet20-stage1.safetensors"],
    [3, 0.1, "resnet20-stage1.safetensors"],
    [4, 0.1, "resnet20-stage1.safetensors"],
    [5, 0.1, "resnet20-stage1.safetensors"],
  ]);
  assert.equal(plan.metrics[4].test_acc, 0.7401);
  // Weights from elsewhere record nothing: epoch 1.
  const plain = await planLab2Run(
    request({ init: join(REPO, "tests/fixtures/weights/resnet20_net.pth") }, ["init"], null, "runs/y"),
  );
  assert.deepEqual([plain.start, plain.metrics, plain.config.schedule], [1, [], "0.1:1"]);
});

Deno.test("planLab2Run() resumes with the checkpoint's settings, the flags given again on top", async () => {
  await withTempDir("run_plan_test_", async (dir) => {
    const a = join(dir, "a");
    await writeRun(a, 1, { limitTrain: 64, batchSize: 32 });
    // Defaults on the command line (limitTrain null) do not count: only flags given.
    const plan = await planLab2Run(
      request({ resume: "auto", schedule: "0.1:1,0.01:1", limitTrain: null }, ["schedule"], a),
    );
    assert.deepEqual([plan.start, plan.config.limitTrain, plan.config.schedule, plan.continues], [
      2,
      64,
      "0.1:1,0.01:1",
      true,
    ]);
    assert.equal(plan.checkpoint!.path, join(a, "checkpoints", checkpointName(1)));
    // The backend too: the checkpoint's unless --backend is given again.
    await writeRun(join(dir, "gpu"), 1, { backend: "webgpu" });
    const kept = await planLab2Run(request({ resume: "auto", backend: "auto" }, [], join(dir, "gpu")));
    assert.equal(kept.config.backend, "webgpu");
    const moved = await planLab2Run(
      request({ resume: "auto", backend: "native" }, ["backend"], join(dir, "gpu")),
    );
    assert.equal(moved.config.backend, "native");
    await assert.rejects(planLab2Run(request({ resume: "auto", batchSize: 16 }, ["batchSize"], a)), {
      name: "UsageError",
      message: /was trained with --batch-size 32, this run asks for 16/,
    });
    await assert.rejects(planLab2Run(request({ resume: "auto", schedule: "0.2:3" }, ["schedule"], a)), {
      name: "UsageError",
      message: /--schedule "0\.2:3" does not extend the schedule "0\.1:1"/,
    });
    // A run stopped in its first epoch (no checkpoint yet) starts again in place, with its own settings.
    const b = join(dir, "b");
    await Deno.mkdir(b);
    await Deno.writeTextFile(
      join(b, "run.json"),
      JSON.stringify({ lab: "exp2", config: { ...CONFIG, limitTrain: 8 } }),
    );
    const again = await planLab2Run(request({ resume: "auto", limitTrain: null, backend: "auto" }, [], b));
    assert.deepEqual([again.start, again.config.limitTrain, again.config.backend, again.continues], [
      1,
      8,
      "native",
      true,
    ]);
    assert.match(
      again.notices[0],
      /has no checkpoint yet \(it stopped in its first epoch\): starting it again/,
    );
  });
});

Deno.test("planLab2Run() --resume FILE: a folder or a .pth is told apart, its own folder by default", async () => {
  await withTempDir("run_plan_test_", async (dir) => {
    const a = join(dir, "a");
    await writeRun(a, 2);
    await assert.rejects(planLab2Run(request({ resume: a }, [], null)), {
      name: "UsageError",
      message: `--resume "${a}" is a folder: to continue the run in it, use --resume auto --out ${a}`,
    });
    const pth = join(REPO, "tests/fixtures/weights/resnet20_net.pth");
    await assert.rejects(planLab2Run(request({ resume: pth }, [], null)), {
      name: "UsageError",
      message: new RegExp(`^--resume "${pth}" is a PyTorch \\.pth`),
    });
    const latest = join(a, "checkpoints", checkpointName(2));
    const plan = await planLab2Run(request({ resume: latest }, [], null));
    assert.deepEqual([plan.config.out, plan.start], [a, 3]);
    assert.equal(plan.continues, true, "its own run folder, read once");
    // An older one branches into a new folder, or is refused in its own.
    const older = join(a, "checkpoints", checkpointName(1));
    const branch = await planLab2Run(request({ resume: older }, [], join(dir, "branch")));
    assert.deepEqual([branch.config.out, branch.start, branch.continues], [join(dir, "branch"), 2, false]);
    await assert.rejects(planLab2Run(request({ resume: older }, [], null)), /is not the latest checkpoint/);
  });
});

// Integration: the hand-ins load in PyTorch (Debian's /usr/bin/python3 with torch), as the handout asks:
// Lab 2's final.pth with torch.load(p)['net'] (also weights_only=True) into the reference ResNet20, Lab 1's
// model.pth with load_state_dict into the matching nn.Sequential; and they give the accuracy and MSE the
// project reports. Skipped, with a notice, where torch is not importable. Touches the disk: temp folders only.
import assert from "node:assert/strict";
import { join } from "node:path";
import { nativeAvailable } from "../../lib/native/mod.ts";
import { parseCsv } from "../../lib/report/csv.ts";
import { argv, assertOk, CIFAR_DIR, haveCifar, runLab, withTempDir } from "../helpers.ts";
import { haveTorch, PYTHON, REFERENCE } from "../pytorch.ts";

/** Runs a Python snippet; returns its stdout, failing the test with its stderr. */
async function python(code: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(PYTHON, { args: ["-c", code, ...args], env: { PYTHONPATH: REFERENCE! } })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(r.code, 0, text(r.stderr));
  return text(r.stdout).trim();
}

Deno.test({
  name:
    "final.pth loads with torch.load(p)['net'] (and weights_only=True) and gives the reported test accuracy",
  ignore: !haveTorch || REFERENCE === null || !haveCifar || !nativeAvailable().ok,
  async fn() {
    await withTempDir("pytorch_test_", async (dir) => {
      const out = join(dir, "lab2");
      const r = await runLab("exp2", [
        ...argv("--limit-train 64 --limit-test 200 --batch-size 32 --schedule 0.1:1 --backend native --out"),
        out,
      ]);
      assertOk(r, "exp2");
      const reported = Number(parseCsv(await Deno.readTextFile(join(out, "metrics.csv")))[0].test_acc);
      const got = await python(
        `
import os, sys, torch
import pytorch_resnet20 as ref
path, data, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
safe = torch.load(path, weights_only=True)
plain = torch.load(path)
model = ref.ResNet20()
model.load_state_dict(plain['net'])
for k, v in safe['net'].items():
    assert torch.equal(v, plain['net'][k]), k
model.eval()
x, y = ref.load_bin(os.path.join(data, 'test_batch.bin'))
with torch.no_grad():
    out = model(ref.normalise(x[:n]))
acc = (out.argmax(1) == torch.from_numpy(y[:n])).float().mean().item()
print(f"{acc:.4f} {float(safe['acc']):.2f} {safe['epoch']}")
`,
        [join(out, "final.pth"), CIFAR_DIR, "200"],
      );
      const [acc, savedAcc, epoch] = got.split(" ");
      assert.equal(Number(acc), reported, `PyTorch ${acc}, the project ${reported}`);
      assert.equal(Number(savedAcc), Number((100 * reported).toFixed(2)));
      assert.equal(epoch, "1");
    });
  },
});

Deno.test({
  name: "Lab 1's model.pth loads into the matching nn.Sequential and gives the reported test MSE",
  ignore: !haveTorch,
  async fn() {
    await withTempDir("pytorch_test_", async (dir) => {
      const out = join(dir, "lab1");
      assertOk(
        await runLab("exp1", ["--epochs", "20", "--samples", "200", "--hidden", "16,8", "--out", out]),
        "exp1",
      );
      const reported = Number(parseCsv(await Deno.readTextFile(join(out, "summary.csv")))[0].test_mse);
      const got = await python(
        `
import sys, torch, torch.nn as nn
sd = torch.load(sys.argv[1], weights_only=True)
model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1))
model.load_state_dict(sd)
f = lambda x: x ** 2 + 2 * torch.sin(x) + torch.cos(x - 1) - 5
grid = torch.linspace(-5, 5, 1001).unsqueeze(1)
with torch.no_grad():
    print(nn.functional.mse_loss(model(grid), f(grid)).item())
`,
        [join(out, "model.pth")],
      );
      assert.ok(
        Math.abs(Number(got) - reported) <= 1e-5 * reported,
        `PyTorch ${got}, the project ${reported}`,
      );
    });
  },
});

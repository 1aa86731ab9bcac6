/**
 * The tasks on hostile and broken inputs, as subprocesses with their own
 * permissions: each exits non-zero with one `error:` line naming the file,
 * quickly, and leaves the files already there byte-identical. The inputs
 * are made here (`../hostile_inputs.ts`); `bench/hostile_inputs.ts` runs the
 * full-size ones under `/usr/bin/time` for memory and time.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors } from "../../lib/formats/safetensors.ts";
import { exists } from "../../lib/runtime/files.ts";
import { type LabResult, runLab, withTempDir } from "../helpers.ts";
import { metricsRow, mlpZeros, TINY_FIT_CONFIG, tinyCheckpoint } from "../checkpoints.ts";
import {
  dagPickle,
  deepPickle,
  deflateZeros,
  makePng,
  mlpFile,
  pthWith,
  smallStatePickle,
  zlibZeros,
} from "../hostile_inputs.ts";

const fixture = (name: string) => Deno.readFileSync(new URL(`../fixtures/weights/${name}`, import.meta.url));

/** Asserts a refusal: exit 1, one `error:` line that matches `message`, under `seconds`. */
function assertRefused(r: LabResult, message: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stderr}`);
  const lines = r.stderr.trimEnd().split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
  assert.match(lines[0], message, `${what}: ${lines[0]}`);
  assert.ok(lines[0].length < 400, `${what}: a ${lines[0].length}-character error line`);
}

async function timed(run: Promise<LabResult>, seconds: number, what: string): Promise<LabResult> {
  const start = performance.now();
  const r = await run;
  assert.ok(
    performance.now() - start < seconds * 1000,
    `${what} took ${(performance.now() - start) / 1000} s`,
  );
  return r;
}

Deno.test("eval refuses hostile weights files in one line each, naming the file", async () => {
  await withTempDir("hostile_eval_", async (dir) => {
    const variance = decodeSafetensors(fixture("resnet20.safetensors")).state;
    (variance.get("layer1.0.bn2.running_var")!.data as Float32Array)[0] = -1;
    const bomb = deflateZeros(64 * 2 ** 20);
    const files: [string, Uint8Array, RegExp][] = [
      [
        "shared.pth",
        pthWith(dagPickle("size")),
        /^error: Tensor size \[\[\[\[\[.* of '.*shared\.pth:archive\/data\.pkl'$/,
      ],
      [
        "deep-key.pth",
        pthWith(deepPickle("key", 900_000)),
        /^error: State dict key .* in '.*deep-key\.pth'$/,
      ],
      [
        "bomb.pth",
        pthWith(smallStatePickle(), [{ name: "archive/x", data: bomb, method: 8, size: 100 }]),
        /^error: Zip entry 'archive\/x' inflates to more than the 100 bytes it declares in '.*bomb\.pth'$/,
      ],
      [
        "variance.safetensors",
        encodeSafetensors(variance),
        /^error: Tensor 'layer1\.0\.bn2\.running_var' in '.*variance\.safetensors' holds -1 at flat index 0, expected at least 0$/,
      ],
    ];
    for (const [name, bytes, message] of files) {
      await Deno.writeFile(join(dir, name), bytes);
      const r = await timed(runLab("eval", ["--weights", join(dir, name), "--backend", "cpu"]), 30, name);
      assertRefused(r, message, name);
    }
    const fifo = join(dir, "fifo.safetensors");
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    for (const [path, kind] of [[fifo, "a FIFO \\(named pipe\\)"], [dir, "a directory"]]) {
      const r = await timed(runLab("eval", ["--weights", path]), 30, path);
      assertRefused(
        r,
        new RegExp(`^error: Cannot read weights ".*": it is ${kind}, not a regular file$`),
        path,
      );
    }
  });
});

Deno.test("predict refuses a PNG declaring a huge image from its header", async () => {
  await withTempDir("hostile_predict_", async (dir) => {
    const png = join(dir, "wide.png");
    await Deno.writeFile(png, makePng(2 ** 31 - 1, 1, { idat: zlibZeros(10) }));
    const weights = join(dir, "w.safetensors");
    await Deno.writeFile(weights, fixture("resnet20.safetensors"));
    const r = await timed(runLab("predict", ["--weights", weights, png]), 30, "wide.png");
    assertRefused(
      r,
      /^error: .*wide\.png: 2147483647 pixels \(2147483647x1\) exceed the 32000000-pixel limit$/,
      "png",
    );
  });
});

Deno.test("exp1 --load --plot checks the model file before building anything or writing", async () => {
  await withTempDir("hostile_exp1_", async (dir) => {
    const [zeros, saved] = [mlpZeros([4]), TINY_FIT_CONFIG];
    const files: [string, Uint8Array, RegExp][] = [
      [
        "huge.safetensors",
        mlpFile(zeros, { ...saved, hidden: new Array(16).fill(4096) }),
        /^error: .*huge\.safetensors: not an exp1 model \(config hidden is \[4096, .* with no tensor '4\.weight'\)$/,
      ],
      [
        "nan-range.safetensors",
        mlpFile(zeros, { ...saved, xMin: null, xMax: "abc" }),
        /^error: .*nan-range\.safetensors: not an exp1 model \(config xMin is null, expected a finite number\)$/,
      ],
    ];
    for (const [name, bytes, message] of files) {
      await Deno.writeFile(join(dir, name), bytes);
      const r = await timed(runLab("exp1", ["--load", join(dir, name), "--plot"]), 30, name);
      assertRefused(r, message, name);
      assert.equal(await exists(join(dir, name.replace(".safetensors", "-plot"))), false, "no plot folder");
    }
  });
});

Deno.test("exp2 --resume refuses a checkpoint whose metrics rows are not the lab's, leaving metrics.csv as it was", async () => {
  await withTempDir("hostile_exp2_", async (dir) => {
    const script = { ...metricsRow(2), train_loss: "<script>alert(1)</script>" };
    const ckpt = join(dir, "epoch-002.safetensors");
    await Deno.writeFile(ckpt, tinyCheckpoint(2, { metrics: [metricsRow(1), script] }));
    const metrics = join(dir, "metrics.csv");
    const before = "epoch,lr\n1,0.1\n";
    await Deno.writeTextFile(metrics, before);
    const r = await timed(runLab("exp2", ["--out", dir, "--resume", ckpt]), 30, "resume");
    assertRefused(
      r,
      /^error: .*epoch-002\.safetensors: metadata metrics row 2 has train_loss "<script>alert\(1\)<\/script>", expected a finite number >= 0$/,
      "resume",
    );
    assert.equal(await Deno.readTextFile(metrics), before);
  });
});

import assert from "node:assert/strict";
import { clock, Progress } from "../../lib/runtime/progress.ts";

Deno.test("clock() formats m:ss below an hour and h:mm:ss from an hour", () => {
  assert.equal(clock(0), "0:00");
  assert.equal(clock(5), "0:05");
  assert.equal(clock(59.4), "0:59");
  assert.equal(clock(59.6), "1:00");
  assert.equal(clock(61), "1:01");
  assert.equal(clock(600), "10:00");
  assert.equal(clock(3599), "59:59");
  assert.equal(clock(3600), "1:00:00");
  assert.equal(clock(3661), "1:01:01");
  assert.equal(clock(36000 + 9 * 60 + 9), "10:09:09");
  assert.equal(clock(-3), "0:00");
});

/** What `fn` writes with `Deno.stderr.writeSync`, decoded. */
function captureStderr(fn: () => void): string {
  const original = Deno.stderr.writeSync;
  const chunks: string[] = [];
  Deno.stderr.writeSync = (p: Uint8Array) => {
    chunks.push(new TextDecoder().decode(p));
    return p.length;
  };
  try {
    fn();
  } finally {
    Deno.stderr.writeSync = original;
  }
  return chunks.join("");
}

Deno.test("Progress writes nothing when disabled", () => {
  const out = captureStderr(() => {
    const bar = new Progress("epoch 1", 10, { enabled: false });
    for (let i = 1; i <= 10; i++) bar.update(i, "loss 0.5");
    bar.done();
  });
  assert.equal(out, "");
});

Deno.test("Progress draws label, bar, count, rate, ETA and note in place when enabled", () => {
  const out = captureStderr(() => {
    const bar = new Progress("epoch 1", 4, { enabled: true, unit: "batch" }).scale(128);
    bar.update(4, "loss 0.53"); // the last update always draws
    bar.done();
  });
  const [line, end] = out.split("\r\x1b[2K").filter((s) => s !== "");
  assert.match(line, /^epoch 1 \[#{24}\] 4\/4 [\d.]+ batch\/s ETA 0:00 loss 0\.53$/);
  assert.equal(end, undefined);
  assert.ok(out.endsWith("\r\x1b[2K"));
});

Deno.test("Progress redraws at most 10 times a second but always draws the last update", () => {
  const out = captureStderr(() => {
    const bar = new Progress("run", 1000, { enabled: true });
    for (let i = 1; i <= 1000; i++) bar.update(i);
  });
  const lines = out.split("\r\x1b[2K").filter((s) => s !== "");
  assert.ok(lines.length >= 1 && lines.length < 1000, `${lines.length} redraws`);
  assert.match(lines.at(-1)!, / 1000\/1000 .* it\/s ETA 0:00$/);
  assert.ok(lines.at(-1)!.includes(`[${"#".repeat(24)}]`));
});

Deno.test("Progress off a terminal writes one plain line at most every 30 s: steps, rate, both ETAs, note", () => {
  let now = 0;
  const out = captureStderr(() => {
    // Epoch 2 of 3 of 1,000 images in steps of 100, at 10 images/s of fake time.
    const bar = new Progress("epoch 2/3", 1000, {
      mode: "plain",
      unit: "img",
      stepSize: 100,
      run: { done: 1000, total: 3000 },
      now: () => now,
    });
    for (let done = 10; done <= 1000; done += 10) {
      now = done * 100; // 0.1 s per image
      bar.update(done, `loss ${(2 - done / 1000).toFixed(2)}`);
    }
    bar.done();
  });
  const lines = out.split("\n").filter((l) => l !== "");
  // 100 s of updates: a line at 30, 60 and 90 s; none drawn in place.
  assert.equal(lines.length, 3, out);
  assert.ok(!out.includes("\r"));
  assert.equal(
    lines[0],
    "epoch 2/3: step 3/10, 300/1000 img, 10 img/s, ETA 1:10, run ETA 2:50, loss 1.70",
  );
  assert.match(lines[2], /^epoch 2\/3: step 9\/10, 900\/1000 img, .* ETA 0:10, run ETA 1:50, loss 1\.10$/);
});

Deno.test("Progress defaults to plain lines when stderr is not a terminal, and writes nothing when off", {
  ignore: Deno.stderr.isTerminal(),
}, () => {
  assert.equal(new Progress("epoch 1", 3).mode, "plain");
  const out = captureStderr(() => {
    const bar = new Progress("epoch 1", 3, { mode: "off" });
    bar.update(3);
    bar.done();
  });
  assert.equal(out, "");
});

import assert from "node:assert/strict";
import { defineFlags, UsageError } from "../../lib/runtime/flags.ts";
import {
  backendFlag,
  batchSizeFlag,
  outFlag,
  seedFlag,
  timeStamp,
  watchFlags,
  watchRequest,
} from "../../lib/runtime/shared_flags.ts";

Deno.test("shared flags: one definition, each task's default and bounds", () => {
  const cli = defineFlags("deno task x", {
    backend: backendFlag(undefined, "cpu"),
    seed: seedFlag(3),
    "batch-size": batchSizeFlag(128, 4096),
    out: outFlag("runs/x-<time>"),
  });
  assert.deepEqual(cli.parse([]).values, {
    backend: "cpu",
    seed: 3,
    batchSize: 128,
    out: undefined,
    help: false,
  });
  assert.throws(
    () => cli.parse(["--backend", "tpu"]),
    /--backend must be one of auto, webgpu, native, wasm, cpu, got "tpu"/,
  );
  assert.throws(
    () => cli.parse(["--seed", "-1"]),
    /--seed must be an integer at least 0 and at most 2147483647/,
  );
  assert.throws(
    () => cli.parse(["--batch-size", "4097"]),
    /--batch-size must be an integer at least 1 and at most 4096/,
  );
  assert.match(cli.help(), /--out DIR\s+run folder \(a new or empty one\) \(default runs\/x-<time>\)/);
});

Deno.test("timeStamp() is the UTC time as YYYYMMDD-HHMMSS", () => {
  assert.equal(timeStamp(new Date("2026-11-30T08:53:44.123Z")), "20261130-085344");
});

Deno.test("watchRequest() resolves watchFlags(): null without --watch, port 0 for a free one, --stay and --port need --watch", () => {
  const cli = defineFlags("deno task x", { ...watchFlags() });
  const request = (line: string) => watchRequest(cli.parse(line ? line.split(" ") : []).values);
  assert.equal(request(""), null);
  assert.deepEqual(request("--watch"), { port: 0, stay: false });
  assert.deepEqual(request("--watch --port 8080 --stay"), { port: 8080, stay: true });
  assert.throws(() => request("--stay"), new UsageError("--stay needs --watch (it keeps the live page up)"));
  assert.throws(() => request("--port 8080"), new UsageError("--port needs --watch (the live page's port)"));
  assert.throws(() => request("--watch --port 0"), /--port must be an integer at least 1 and at most 65535/);
  assert.match(cli.help(), /--port N\s+port of --watch's page \(default a free one\)/);
});

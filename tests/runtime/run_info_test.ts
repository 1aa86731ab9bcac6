import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { runInfo } from "../../lib/runtime/run_info.ts";

const backend = { backend: "cpu", device: "cpu: Test CPU (2 threads), JavaScript", reason: "requested" };

Deno.test("runInfo() records lab, config, backend, device, reason, versions and start time", () => {
  const config = { fit: { epochs: 5, hidden: [64, 64] }, fn: "x^2" };
  const before = Date.now();
  const info = runInfo("exp1", config, backend);
  assert.equal(info.lab, "exp1");
  assert.deepEqual(info.config, config);
  assert.equal(info.backend, "cpu");
  assert.equal(info.device, backend.device);
  assert.equal(info.backendReason, "requested");
  const started = Date.parse(info.started);
  assert.match(info.started, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(started >= before - 1 && started <= Date.now() + 1);
  assert.equal(info.versions.deno, Deno.version.deno);
  assert.equal(info.versions.tfjs, tf.version_core);
  assert.equal(info.versions.tfjs, "4.22.0");
  assert.equal(info.versions.os, `${Deno.build.os}-${Deno.build.arch}`);
  assert.ok(info.versions.v8 && info.versions.typescript);
  assert.equal(info.command, ["deno", "task", "exp1", ...Deno.args].join(" "));
});

Deno.test("runInfo() records GLIBC_TUNABLES, OMP_NUM_THREADS and WEBGPU_SUBMIT_BATCH when set, and only those", () => {
  const saved = Deno.env.get("OMP_NUM_THREADS");
  Deno.env.set("OMP_NUM_THREADS", "3");
  try {
    const env = runInfo("exp2", {}, backend).environment;
    assert.equal(env.OMP_NUM_THREADS, "3");
    assert.equal(env.GLIBC_TUNABLES, Deno.env.get("GLIBC_TUNABLES"));
    assert.ok(
      Object.keys(env).every((k) => ["OMP_NUM_THREADS", "GLIBC_TUNABLES", "WEBGPU_SUBMIT_BATCH"].includes(k)),
    );
    Deno.env.delete("OMP_NUM_THREADS");
    assert.equal("OMP_NUM_THREADS" in runInfo("exp2", {}, backend).environment, false);
  } finally {
    if (saved === undefined) Deno.env.delete("OMP_NUM_THREADS");
    else Deno.env.set("OMP_NUM_THREADS", saved);
  }
});

Deno.test("runInfo() gives the toolkit version of deno.json", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(runInfo("exp1", {}, backend).versions.toolkit, denoJson.version);
});

Deno.test("runInfo() is JSON-serialisable and round-trips", () => {
  const info = runInfo("exp2", { lr: 0.1, milestones: [100, 150] }, backend);
  assert.deepEqual(JSON.parse(JSON.stringify(info)), info);
});

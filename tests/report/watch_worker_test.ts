import assert from "node:assert/strict";
import { join } from "node:path";
import { RunFilesError } from "../../lib/report/run_files.ts";
import { WatchError } from "../../lib/report/watch_server.ts";
import { startWatchInWorker } from "../../lib/report/watch_worker.ts";
import { withTempDir } from "../helpers.ts";
import { liveExp2Files, writeFolder } from "./run_folder_fixtures.ts";

Deno.test("startWatchInWorker() answers while this thread is busy, as a training loop keeps it", async () => {
  await withTempDir("watch_worker_test-", async (tmp) => {
    const run = await writeFolder(tmp, "run", liveExp2Files({ done: 1, step: 12 }));
    const watch = await startWatchInWorker([run]);
    try {
      // Another process asks for the page and leaves a file with the answer, while this thread spins
      // without ever giving its event loop a turn (as tfjs training steps do), watching for that file.
      const answer = join(tmp, "answer.txt");
      const client = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `const r = await fetch("${watch.url}api/runs"); await r.body?.cancel(); ` +
          // Written whole, then renamed: never seen half-written.
          `Deno.writeTextFileSync(${JSON.stringify(answer + ".tmp")}, String(r.status)); ` +
          `Deno.renameSync(${JSON.stringify(answer + ".tmp")}, ${JSON.stringify(answer)});`,
        ],
        stdout: "null",
        stderr: "inherit",
      }).spawn();
      const deadline = Date.now() + 20_000;
      let status: string | null = null;
      while (status === null && Date.now() < deadline) {
        try {
          status = Deno.readTextFileSync(answer);
        } catch {
          // not yet
        }
      }
      assert.equal(status, "200", "no answer while this thread was busy");
      assert.equal((await client.status).code, 0);
    } finally {
      await watch.close();
    }
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(watch.url).port) }));
  });
});

Deno.test("startWatchInWorker() fails as startWatch() does", async () => {
  await withTempDir("watch_worker_test-", async (tmp) => {
    await assert.rejects(
      startWatchInWorker([join(tmp, "nope")]),
      new RunFilesError(
        `Run folder "${
          join(tmp, "nope")
        }" does not exist: expected a folder written by deno task exp1 or exp2`,
      ),
    );
    await assert.rejects(
      startWatchInWorker([]),
      new WatchError("Expected one or more run folders to watch, got none"),
    );
  });
});

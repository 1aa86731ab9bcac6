import assert from "node:assert/strict";
import { join } from "node:path";
import { RunFilesError } from "../../lib/report/run_files.ts";
import type { RunView } from "../../lib/report/watch_view.ts";
import { startWatch, type Watch, WatchError } from "../../lib/report/watch_server.ts";
import { rawGet, tree, withTempDir } from "../helpers.ts";
import { exp1Files, liveExp2Files, writeFolder } from "./run_folder_fixtures.ts";

/** Starts a server on `dirs`, runs `fn`, and always closes it. */
async function serving(dirs: string[], fn: (w: Watch, port: number) => Promise<void>): Promise<void> {
  const w = await startWatch(dirs, { pollMs: 50 });
  try {
    await fn(w, Number(new URL(w.url).port));
  } finally {
    await w.close();
  }
}

/** Server-sent events from `url`, read one at a time. */
function eventStream(url: string) {
  const abort = new AbortController();
  const pending = fetch(url, { signal: abort.signal });
  let buffer = "";
  let reader: ReadableStreamDefaultReader<string> | null = null;
  return {
    /** The next event, or null when the stream ends; fails after `ms`. */
    async next(ms = 5000): Promise<{ event: string; data: string } | null> {
      reader ??= (await pending).body!.pipeThrough(new TextDecoderStream()).getReader();
      const deadline = Date.now() + ms;
      while (true) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split("\n").filter((l) => !l.startsWith(":") && !l.startsWith("retry:"));
          if (lines.length === 0) continue;
          const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
          const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          return { event, data };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`No event within ${ms} ms`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const chunk = await Promise.race([
          reader.read(),
          new Promise<never>((
            _,
            reject,
          ) => (timer = setTimeout(() => reject(new Error(`No event within ${ms} ms`)), left))),
        ]).finally(() => clearTimeout(timer));
        if (chunk.done) return null;
        buffer += chunk.value;
      }
    },
    async close(): Promise<void> {
      abort.abort();
      await reader?.cancel().catch(() => {});
    },
  };
}

Deno.test("startWatch() serves its page, script and style itself, with a policy that allows nothing else", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    const run = await writeFolder(tmp, "run", liveExp2Files({ done: 1, step: 12 }));
    await serving([run], async (w) => {
      assert.match(w.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      for (
        const [path, type] of [["", "text/html"], ["watch.js", "text/javascript"], ["watch.css", "text/css"]]
      ) {
        const res = await fetch(w.url + path);
        assert.equal(res.status, 200, path);
        assert.ok(res.headers.get("content-type")!.startsWith(type), path);
        const csp = res.headers.get("content-security-policy")!;
        assert.ok(csp.startsWith("default-src 'none'; script-src 'self'; style-src 'self'"), csp);
        const text = await res.text();
        // No script, style, font or image from anywhere else: it works offline.
        assert.doesNotMatch(text, /(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i, path);
        assert.doesNotMatch(text, /@import|url\(\s*["']?(?:https?:)?\/\//i, path);
      }
      const html = await (await fetch(w.url)).text();
      assert.ok(html.includes(`<script src="/watch.js" defer></script>`));
    });
  });
});

Deno.test("startWatch() gives each folder's view at /api/runs", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    const a = await writeFolder(tmp, "a", liveExp2Files({ done: 1, step: 12 }));
    const b = await writeFolder(tmp, "b", exp1Files());
    const c = await writeFolder(tmp, "c", {});
    await serving([a, b, c], async (w) => {
      const views: RunView[] = await (await fetch(w.url + "api/runs")).json();
      assert.deepEqual(views.map((v) => [v.index, v.dir, v.lab, v.status]), [
        [0, a, "exp2", "running"],
        [1, b, "exp1", "running"],
        [2, c, null, "waiting"],
      ]);
    });
  });
});

Deno.test("startWatch() serves the run folders' files and 404s every way out of them", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    await Deno.writeTextFile(join(tmp, "secret.csv"), "top,secret\n");
    const run = await writeFolder(tmp, "run", {
      ...liveExp2Files({ done: 1, step: 12 }),
      "final.safetensors": "x",
    });
    await Deno.symlink(join(tmp, "secret.csv"), join(run, "link.csv"));
    await Deno.symlink(tmp, join(run, "parent"));
    const before = await tree(tmp);
    await serving([run], async (_, port) => {
      const ok = await rawGet(port, "/runs/0/metrics.csv");
      assert.equal(ok.status, 200);
      assert.equal(ok.body, await Deno.readTextFile(join(run, "metrics.csv")));
      assert.equal((await rawGet(port, "/runs/0/run%2Ejson")).status, 200);
      for (
        const target of [
          "/runs/0/../secret.csv",
          "/runs/0/../../secret.csv",
          "/runs/0/%2e%2e/secret.csv",
          "/runs/0/%2E%2E/%2E%2E/secret.csv",
          "/runs/0/..%2fsecret.csv",
          "/runs/0/..%2F..%2Fsecret.csv",
          "/runs/0/%2e%2e%2fsecret.csv",
          "/runs/0/..%5csecret.csv",
          "/runs/0//etc/passwd",
          "/runs/0/%2fetc%2fpasswd",
          `/runs/0/${encodeURIComponent(join(tmp, "secret.csv"))}`,
          `/runs/0/${join(tmp, "secret.csv")}`,
          "/runs/0/link.csv",
          "/runs/0/parent/secret.csv",
          "/runs/0/final.safetensors",
          "/runs/0/missing.csv",
          "/runs/0/%ZZ.csv",
          "/runs/1/metrics.csv",
          "/runs/00/metrics.csv",
          "/runs/-1/metrics.csv",
          "/etc/passwd",
          "/../secret.csv",
          "/secret.csv",
          "/api/nothing",
          join(tmp, "secret.csv"),
          `http://127.0.0.1:${port}/runs/0/../../secret.csv`,
        ]
      ) {
        const r = await rawGet(port, target);
        assert.equal(r.status, 404, `${target}: ${r.status} ${r.body.slice(0, 60)}`);
        assert.ok(!r.body.includes("secret"), target);
      }
    });
    assert.deepEqual(await tree(tmp), before);
  });
});

Deno.test("startWatch() answers only to its own host name, and only GET and HEAD", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    const run = await writeFolder(tmp, "run", liveExp2Files({ done: 1, step: 12 }));
    await serving([run], async (_, port) => {
      assert.equal((await rawGet(port, "/", { host: "evil.example:80" })).status, 403);
      assert.equal((await rawGet(port, "/", { host: `evil.example:${port}` })).status, 403);
      assert.equal((await rawGet(port, "/", { host: `localhost:${port}` })).status, 200);
      assert.equal((await rawGet(port, "/runs/0/metrics.csv", { method: "HEAD" })).status, 200);
      for (const method of ["POST", "PUT", "DELETE"]) {
        assert.equal((await rawGet(port, "/runs/0/metrics.csv", { method })).status, 405, method);
      }
    });
  });
});

Deno.test("startWatch() pushes a folder's new state to the page when its files change, and says goodbye", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    const run = await writeFolder(tmp, "run", liveExp2Files({ done: 1, step: 12 }));
    const w = await startWatch([run], { pollMs: 50 });
    const events = eventStream(w.url + "api/events");
    try {
      assert.deepEqual(await events.next(), { event: "hello", data: `{"runs":1}` });
      const first = await events.next();
      assert.equal(first?.event, "run");
      assert.deepEqual((JSON.parse(first!.data) as RunView).figures[3], {
        label: "Train accuracy",
        value: "30.00%",
        note: "step 12",
      });

      await Deno.writeTextFile(join(run, "steps.csv"), "14,2,0.1,1.25,0.5,100\n", { append: true });
      const next = await events.next(3000);
      assert.equal(next?.event, "run");
      const view = JSON.parse(next!.data) as RunView;
      assert.deepEqual(view.figures.slice(2, 4).map((f) => [f.value, f.note]), [
        ["1.25", "step 14"],
        ["50.00%", "step 14"],
      ]);

      const closed = w.close();
      assert.equal((await events.next())?.event, "bye");
      assert.equal(await events.next(), null);
      await closed;
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(w.url).port) }));
    } finally {
      await events.close();
      await w.close();
    }
  });
});

Deno.test("startWatch() shows a damaged or vanished folder as such and keeps serving", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    const files = liveExp2Files({ done: 2, step: 22 });
    files["metrics.csv"] = files["metrics.csv"]!.replace("\n2,0.1,", "\n2,oops,");
    files["per_class.csv"] = "garbage";
    const damaged = await writeFolder(tmp, "damaged", files);
    const gone = await writeFolder(tmp, "gone", liveExp2Files({ done: 1, step: 12 }));
    await serving([damaged, gone], async (w) => {
      await Deno.remove(gone, { recursive: true });
      const [d, g]: RunView[] = await (await fetch(w.url + "api/runs")).json();
      assert.equal(d.status, "running");
      assert.deepEqual(d.problems, [
        `metrics.csv, line 3: column "lr" is "oops", expected a number`,
        `per_class.csv: missing column "class" (header is "garbage")`,
      ]);
      assert.equal(d.tables[0].rows.length, 1);
      assert.equal(g.status, "damaged");
      assert.equal(g.reason, "the folder is gone (removed or renamed)");
      assert.equal((await fetch(w.url)).status, 200);
      await (await fetch(w.url + "runs/1/metrics.csv")).body?.cancel();
    });
  });
});

Deno.test("startWatch() refuses no folders, a missing folder, another address and a busy port", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    await assert.rejects(
      startWatch([]),
      new WatchError("Expected one or more run folders to watch, got none"),
    );
    await assert.rejects(startWatch([join(tmp, "nope")]), RunFilesError);
    await assert.rejects(
      startWatch([tmp], { hostname: "0.0.0.0" as "127.0.0.1" }),
      new WatchError(`The watch server binds to 127.0.0.1 only, got hostname "0.0.0.0"`),
    );
    await serving([tmp], async (_, port) => {
      await assert.rejects(
        startWatch([tmp], { port }),
        new WatchError(
          `Port ${port} on 127.0.0.1 is in use: choose another --port, or leave it out for a free one`,
        ),
      );
    });
  });
});

Deno.test("startWatch() stops when its signal is aborted", async () => {
  await withTempDir("watch_server_test-", async (tmp) => {
    const abort = new AbortController();
    const w = await startWatch([tmp], { signal: abort.signal });
    const port = Number(new URL(w.url).port);
    assert.equal((await rawGet(port, "/")).status, 200);
    abort.abort();
    await w.close();
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
  });
});

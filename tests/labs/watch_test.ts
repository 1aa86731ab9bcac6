// Integration: runs `deno task watch` as a subprocess on run folders made here, and drives its page in a real
// headless Chromium (Debian's /usr/bin/chromium through puppeteer-core); skipped, with a notice, without it.
//
// `WATCH_SCREENSHOT=docs/watch.png deno test -A tests/labs/watch_test.ts` also saves the README's screenshot.
import assert from "node:assert/strict";
import { join } from "node:path";
import puppeteer, { type Page } from "puppeteer-core";
import { argv, labCommand, rawGet, readUntil, REPO, tree, withTempDir } from "../helpers.ts";
import {
  exp1Files,
  midRunExp2Files,
  midStudyExp1Files,
  STEPS_HEADER,
  writeFolder,
} from "../report/run_folder_fixtures.ts";
import { parseCsv } from "../../lib/report/csv.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

/** The task's permission set: the test grants the server no more than `deno task watch` does. */
function assertWatchCannotWrite(): void {
  const config = JSON.parse(Deno.readTextFileSync(join(REPO, "deno.json")));
  const words = String(config.tasks.watch.command).split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  assert.equal(words.at(-1), "labs/watch.ts");
  assert.ok(!words.some((w) => w.startsWith("--allow") || w === "-A"), "permissions come from the set");
  const set = words.find((w) => w.startsWith("-P="))!.slice(3);
  assert.deepEqual(
    config.permissions[set],
    { read: true, env: ["INIT_CWD"], net: ["127.0.0.1"] },
    "deno task watch must not write",
  );
}

/** `deno task watch ARGS` in `cwd`, as a subprocess. */
function spawnWatch(cwd: string, args: string[]): Deno.ChildProcess {
  assertWatchCannotWrite();
  return labCommand("watch", args, { cwd }).spawn();
}

/** A running `deno task watch`: its URL, and a way to stop it with Ctrl-C and get its exit and stderr. */
async function startWatchTask(cwd: string, args: string[]) {
  const child = spawnWatch(cwd, args);
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const out = await readUntil(lines, "\n");
  const url = out.split("\n")[0];
  if (!/^http:\/\/127\.0\.0\.1:\d+\/$/.test(url)) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`deno task watch printed no URL: ${JSON.stringify(out)}\n${await stderr}`);
  }
  return {
    url,
    port: Number(new URL(url).port),
    /** Ctrl-C, then the exit code and stderr. */
    async stop(): Promise<{ code: number; stderr: string }> {
      child.kill("SIGINT");
      const { code } = await child.status;
      await lines.cancel();
      return { code, stderr: await stderr };
    },
  };
}

async function runWatch(cwd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const child = spawnWatch(cwd, args);
  const [{ code }, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  await child.stdout.cancel();
  return { code, stderr };
}

/** Polls `check` until it returns true, failing after `ms` with `what` (no fixed sleeps). */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("deno task watch without a run folder under runs/ says what to do", async () => {
  await withTempDir("watch_lab_test-", async (tmp) => {
    const r = await runWatch(tmp, []);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr.trim(),
      "error: No run folder under runs/ (none has a run.json): give RUN_DIR, or start a run with deno task exp1 or exp2",
    );
  });
});

Deno.test("deno task watch with a bad --port or a missing folder is an error naming it", async () => {
  await withTempDir("watch_lab_test-", async (tmp) => {
    let r = await runWatch(tmp, ["--port", "http", tmp]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `error: --port must be an integer, got "http"`);
    r = await runWatch(tmp, ["--port", "70000", tmp]);
    assert.equal(
      r.stderr.trim(),
      `error: --port must be an integer at least 1 and at most 65535, got "70000"`,
    );
    r = await runWatch(tmp, ["nope"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `error: Run folder "nope" does not exist: expected a folder written by deno task exp1 or exp2`,
    );
  });
});

Deno.test("deno task watch serves the newest run, 404s every path out of it, writes nothing, ends on Ctrl-C", async () => {
  await withTempDir("watch_lab_test-", async (tmp) => {
    await Deno.writeTextFile(join(tmp, "secret.csv"), "top,secret\n");
    const old = await writeFolder(join(tmp, "runs"), "old", exp1Files());
    const lab2 = await writeFolder(join(tmp, "runs"), "lab2", midRunExp2Files(Date.now()));
    await Deno.utime(join(old, "run.json"), 1_000_000, 1_000_000);
    await Deno.symlink(join(tmp, "secret.csv"), join(lab2, "escape.csv"));
    const before = await tree(tmp);
    const watch = await startWatchTask(tmp, []);
    try {
      const views = await (await fetch(watch.url + "api/runs")).json();
      assert.deepEqual(views.map((v: { dir: string }) => v.dir), [join("runs", "lab2")]);
      assert.equal((await rawGet(watch.port, "/runs/0/metrics.csv")).status, 200);
      for (
        const target of [
          "/runs/0/../../secret.csv",
          "/runs/0/%2e%2e/%2e%2e/secret.csv",
          "/runs/0/..%2f..%2fsecret.csv",
          `/runs/0/${encodeURIComponent(join(tmp, "secret.csv"))}`,
          join(tmp, "secret.csv"),
          "/runs/0/escape.csv",
          "/runs/0/steps.csv.tmp-1-abc",
          "/runs/1/run.json",
          "/favicon.ico",
        ]
      ) {
        const r = await rawGet(watch.port, target);
        assert.equal(r.status, 404, target);
        assert.ok(!r.body.includes("secret"), target);
      }
    } finally {
      const { code, stderr } = await watch.stop();
      assert.equal(code, 0, stderr);
      assert.match(
        stderr,
        /watch: runs\/lab2 at http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl-C stops\)\nwatch: stopped\n$/,
      );
    }
    assert.deepEqual(await tree(tmp), before);
  });
});

/** Text of every cell of the table `title` in run card `index`, row by row. */
function tableCells(page: Page, index: number, title: string): Promise<string[][]> {
  return page.$$eval(
    `#run-${index} table[data-table="${title}"] tbody tr`,
    (rows) => rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")),
  );
}

/** Hover titles of a chart's dots and point counts of its curves (by curve title). */
function chartContent(page: Page, id: string): Promise<{ dots: string[]; curves: Record<string, number> }> {
  return page.$eval(`[data-chart="${id}"] svg`, (svg) => ({
    dots: [...svg.querySelectorAll("circle > title")].map((t) => t.textContent ?? ""),
    curves: Object.fromEntries(
      [...svg.querySelectorAll("path")].filter((p) => p.querySelector("title")).map((p) => [
        p.querySelector("title")!.textContent,
        (p.getAttribute("d")!.match(/[ML]/g) ?? []).length,
      ]),
    ),
  }));
}

function figure(page: Page, index: number, label: string): Promise<string> {
  return page.$eval(`#run-${index} [data-figure="${label}"] .value`, (e) => e.textContent ?? "");
}

Deno.test({
  name: "deno task watch shows the CSVs' epochs and curves in Chromium and follows new rows without a reload",
  // puppeteer keeps its own timers and sockets until the browser is gone; everything is closed below.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (!haveChromium) {
      console.log(
        `${CHROMIUM} not found (Debian package chromium): skipping the browser test of deno task watch`,
      );
      return;
    }
    await withTempDir("watch_lab_test-", async (tmp) => {
      const lab2 = await writeFolder(tmp, "lab2", midRunExp2Files(Date.now()));
      const lab1 = await writeFolder(tmp, "lab1-lr", midStudyExp1Files(Date.now()));
      const profile = await Deno.makeTempDir({ prefix: "watch_lab_test-chromium-" });
      const watch = await startWatchTask(tmp, ["lab2", "lab1-lr"]);
      const browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        ignoreDefaultArgs: true,
        args: [
          ...argv(
            "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync",
          ),
          `--user-data-dir=${profile}`,
        ],
      });
      try {
        const page = await browser.newPage();
        await page.setViewport({ width: 1440, height: 900 });
        const elsewhere: string[] = [];
        page.on("request", (r) => void (r.url().startsWith(watch.url) || elsewhere.push(r.url())));
        await page.goto(watch.url);
        await page.waitForSelector(`#run-0[data-status="running"] [data-chart="run0-accuracy"] svg`, {
          timeout: 10_000,
        });
        await page.waitForSelector(`#run-1 [data-chart="run1-fit"] svg`, { timeout: 10_000 });

        // The epochs shown are metrics.csv's, number for number.
        const metricsCsv = () => Deno.readTextFileSync(join(lab2, "metrics.csv"));
        const checkEpochs = async () => {
          const metrics = parseCsv(metricsCsv());
          const cells = await tableCells(page, 0, "Epochs");
          assert.equal(cells.length, metrics.length);
          cells.forEach((c, i) => {
            const m = metrics[i];
            // "37.52%" is 0.3752 (shown to 2 decimals of a percent, as the CSV has 4).
            const pct = (s: string) => Number((Number(s.replace("%", "")) / 100).toFixed(6));
            assert.deepEqual(
              [Number(c[0]), Number(c[1]), Number(c[2]), pct(c[3]), Number(c[4]), pct(c[5]), Number(c[6])],
              [m.epoch, m.lr, m.train_loss, m.train_acc, m.test_loss, m.test_acc, m.epoch_seconds].map(
                Number,
              ),
            );
          });
          // ... and so are the curves' points: one dot per epoch and series, with its value.
          const acc = await chartContent(page, "run0-accuracy");
          assert.deepEqual(acc.dots, [
            ...metrics.map((m) =>
              `test, per epoch: epoch ${m.epoch}, accuracy (%) ${
                Number((100 * Number(m.test_acc)).toPrecision(6))
              }`
            ),
            ...metrics.map((m) =>
              `train, per epoch: epoch ${m.epoch}, accuracy (%) ${
                Number((100 * Number(m.train_acc)).toPrecision(6))
              }`
            ),
          ]);
          const loss = await chartContent(page, "run0-loss");
          assert.deepEqual(
            loss.dots.slice(0, metrics.length),
            metrics.map((m) => `test, per epoch: epoch ${m.epoch}, cross-entropy ${Number(m.test_loss)}`),
          );
          const steps = Deno.readTextFileSync(join(lab2, "steps.csv")).trim().split("\n").length - 1;
          assert.equal(loss.curves["train, per step"], steps);
          assert.equal(acc.curves["train, per step"], steps);
        };
        await checkEpochs();
        assert.equal(await figure(page, 0, "Epoch"), "7 / 10");
        assert.equal(await figure(page, 0, "Test accuracy"), "81.44%");
        const lastStep = Deno.readTextFileSync(join(lab2, "steps.csv")).trim().split("\n").at(-1)!.split(",");
        assert.equal(await figure(page, 0, "Train loss"), String(Number(Number(lastStep[3]).toPrecision(4))));
        // Side by side, the Lab 1 study with its fitted curves.
        const [a, b] = await Promise.all(
          [0, 1].map((i) => page.$eval(`#run-${i}`, (e) => e.getBoundingClientRect().toJSON())),
        );
        assert.ok(b.x > a.x + a.width - 1 && Math.abs(b.y - a.y) < 1, "the two runs are not side by side");

        const screenshot = Deno.env.get("WATCH_SCREENSHOT");
        if (screenshot) {
          await page.screenshot({ path: screenshot });
          console.log(`watch_test: saved ${screenshot}`);
        }

        // New rows appear without a reload: the page keeps this marker.
        await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
        const step = 7 * 391;
        await Deno.writeTextFile(join(lab2, "steps.csv"), `${step},7,0.01,0.4321,0.85,260.5\n`, {
          append: true,
        });
        await Deno.writeTextFile(
          join(lab2, "metrics.csv"),
          "7,0.01,0.4964,0.8281,0.5234,0.823,183.9,271.8\n",
          {
            append: true,
          },
        );
        await within(
          3000,
          "the page shows epoch 7's metrics and the new step",
          async () =>
            (await tableCells(page, 0, "Epochs")).length === 7 &&
            (await figure(page, 0, "Epoch")) === "8 / 10" &&
            (await chartContent(page, "run0-loss")).curves["train, per step"] ===
              Deno.readTextFileSync(join(lab2, "steps.csv")).trim().split("\n").length - 1,
        );
        await checkEpochs();
        assert.equal(await figure(page, 0, "Test accuracy"), "82.30%");
        assert.equal(await page.evaluate(() => (globalThis as unknown as { marker: number }).marker), 42);

        // A damaged file becomes a message in its card; the server and the other card carry on.
        await Deno.writeTextFile(join(lab1, "summary.csv"), 'run,epochs\n"unclosed');
        await page.waitForSelector("#run-1 .problems", { timeout: 3000 });
        assert.match(await page.$eval("#run-1 .problems", (e) => e.textContent ?? ""), /summary\.csv/);
        assert.equal((await tableCells(page, 0, "Epochs")).length, 7);
        assert.deepEqual(elsewhere, [], "the page asked another origin");
      } finally {
        await browser.close();
        const { code, stderr } = await watch.stop();
        assert.equal(code, 0, stderr);
        await Deno.remove(profile, { recursive: true });
      }
      assert.equal((await Deno.readTextFile(join(lab2, "steps.csv"))).split("\n")[0], STEPS_HEADER);
    });
  },
});

/**
 * Watch training live in the browser: a local page that follows one or more
 * run folders of `deno task exp1` / `deno task exp2` as they are written
 * (status, progress and ETA, loss and accuracy per step and per epoch with
 * the LR stages, per-class accuracy and confusion matrix, Lab 1's fitted
 * curves), several runs side by side (`--help` lists the flags).
 *
 * Prints the page's address on stdout. Serves on 127.0.0.1 only, reads the
 * folders and never writes (the task has no write permission). Ctrl-C stops it.
 *
 * @module
 */
import { newestRun } from "../lib/report/run_files.ts";
import { startWatch } from "../lib/report/watch_server.ts";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { userPath } from "../lib/runtime/env.ts";
import { untilInterrupted } from "../lib/runtime/interrupt.ts";
import { runMain } from "../lib/runtime/main.ts";

const cli = defineFlags("deno task watch [RUN_DIR...] [--port N]", {
  port: flag.int("port on 127.0.0.1", { min: 1, max: 65535, defaultText: "a free one" }),
}, {
  description: "A live page of run folders written by deno task exp1 or exp2, finished or still training " +
    "(default: the newest run under runs/).",
  positionals: "RUN_DIR...",
  examples: ["deno task watch", "deno task watch runs/lab2 runs/lab2-stage2 --port 8080"],
});

async function main(): Promise<void> {
  const { values, positionals } = cli.parse(Deno.args);
  if (values.help) return console.log(cli.help());
  const port = values.port ?? 0;
  const dirs = positionals.map((p) => userPath(p));
  if (dirs.length === 0) {
    const newest = await newestRun("runs");
    if (newest === null) {
      throw new UsageError(
        `No run folder under runs/ (none has a run.json): give RUN_DIR, or start a run with deno task exp1 or exp2`,
      );
    }
    dirs.push(newest);
  }

  const watch = await startWatch(dirs, { port });
  console.log(watch.url);
  console.error(`watch: ${dirs.join(", ")} at ${watch.url} (Ctrl-C stops)`);
  await untilInterrupted();
  await watch.close();
  console.error("watch: stopped");
}

export { cli };

if (import.meta.main) await runMain(main);

/**
 * Watch training live in the browser: a local page that follows one or more
 * run folders of `deno task exp1` / `deno task exp2` as they are written
 * (status, progress and ETA, loss and accuracy per step and per epoch with
 * the LR stages, per-class accuracy and confusion matrix, Lab 1's fitted
 * curves), several runs side by side.
 *
 *   deno task watch                      # the newest run under runs/
 *   deno task watch runs/lab2 runs/lab2-stage2 --port 8080
 *
 * Prints the page's address on stdout. Serves on 127.0.0.1 only, reads the
 * folders and never writes (the task has no write permission). Ctrl-C stops it.
 *
 * @module
 */
import { numberFlag, parseFlags, runMain, UsageError } from "../lib/runtime/flags.ts";
import { newestRun } from "../lib/report/run_files.ts";
import { startWatch } from "../lib/report/watch_server.ts";

const HELP = `Usage: deno task watch [RUN_DIR...] [--port N]

  RUN_DIR    a folder written by deno task exp1 or exp2, finished or still
             training (default: the newest run under runs/)
  --port N   port on 127.0.0.1 (default: a free one)
`;

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

async function main(): Promise<void> {
  const { values, positionals } = parseFlags(Deno.args, {
    port: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) return console.log(HELP);
  const port = values.port === undefined
    ? 0
    : numberFlag("port", values.port, { integer: true, min: 1, max: 65535 });
  const dirs = [...positionals];
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
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  for (const signal of SIGNALS) Deno.addSignalListener(signal, stop);
  await stopped;
  for (const signal of SIGNALS) Deno.removeSignalListener(signal, stop);
  await watch.close();
  console.error("watch: stopped");
}

if (import.meta.main) await runMain(main);

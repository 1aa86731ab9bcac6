/**
 * The entry wrapper of every task: any error becomes one `error:` line on
 * stderr and a non-zero exit (2 for a bad command line, 1 otherwise), never
 * a stack trace unless `DEBUG` is set. A lab stopped by Ctrl-C
 * ({@linkcode InterruptedError}) prints how to continue and exits 130.
 *
 * @module
 */
import { readEnv } from "./env.ts";
import { UsageError } from "./flags.ts";
import { InterruptedError } from "./interrupt.ts";

/**
 * Runs a task's `main`, printing any error as one line and exiting non-zero
 * (2 for {@linkcode UsageError}, 1 otherwise). Set `DEBUG=1` for the stack.
 * The process exits when `main` settles, so `main` must await everything it
 * starts (a server, a worker).
 *
 * The exit is explicit, also on success, so that no runtime teardown runs:
 * when a script simply ends, Deno closes every library the isolate opened.
 * That once unloaded oneDNN, and libgomp with it, while OpenMP worker threads
 * still spun in their barrier (SIGSEGV after correct output in 25 of 150
 * `deno task eval` runs); oneDNN is now pinned (`lib/native/pin.ts`: 0 of
 * 300 without the explicit exit), and `Deno.exit` still spares the GPU
 * driver's unload (`bench/eval_exit_loop.sh`).
 * `console.log` writes synchronously, so nothing printed is lost.
 *
 * @example
 * ```ts ignore
 * // Exits the process, so not run as a test.
 * if (import.meta.main) await runMain(main);
 * ```
 */
export async function runMain(main: () => Promise<void>): Promise<never> {
  let code = 0;
  try {
    await main();
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    if (err instanceof InterruptedError) {
      console.error(err.message);
      Deno.exit(130);
    }
    const debug = readEnv("DEBUG");
    console.error(`error: ${debug ? err.stack : err.message}`);
    code = err instanceof UsageError ? 2 : 1;
  }
  Deno.exit(code);
}

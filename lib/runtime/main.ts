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
 * The exit is explicit, also on success: when a script simply ends, Deno's
 * runtime teardown `dlclose`s the FFI libraries, and unloading oneDNN unloads
 * libgomp while its OpenMP worker threads may still be spinning in their
 * barrier (`GOMP_SPINCOUNT`); the next instruction of the spin loop is gone
 * and the process dies with SIGSEGV after printing correct output (exit 139
 * in 5 of 100 `deno task eval` runs, 7 of 100 with the WebGPU probe skipped).
 * `Deno.exit` runs no teardown: the libraries stay mapped until the kernel
 * ends every thread (0 of 100 runs failed with the probe, 0 of 200 without;
 * `bench/eval_exit_loop.sh`). `console.log` writes synchronously, so nothing
 * printed is lost.
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

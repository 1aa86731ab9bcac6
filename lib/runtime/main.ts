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
 *
 * @example
 * ```ts ignore
 * // Exits the process on error, so not run as a test.
 * if (import.meta.main) await runMain(main);
 * ```
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
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
    Deno.exit(err instanceof UsageError ? 2 : 1);
  }
}

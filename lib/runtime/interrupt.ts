// Listens for Ctrl-C (SIGINT) and SIGTERM: on a worker thread while a lab trains, or on the caller's to wait.
/**
 * A clean stop on Ctrl-C for a lab that trains: the first Ctrl-C asks the
 * lab to stop at its next safe point (between steps, never inside a file
 * write), clears the progress line and says so; a second one stops at once,
 * as Ctrl-C always does. The lab then prints how to continue and exits 130.
 *
 * The listener lives on a worker thread: TensorFlow.js kernels run
 * synchronously and awaiting a tensor on a CPU backend never yields to the
 * event loop, so a listener on the lab's own thread would not run until
 * training ended. The worker sets a shared flag that the lab reads between
 * steps ({@linkcode InterruptWatch.throwIfRequested}).
 *
 * @module
 */
import { stderrIsTerminal } from "./progress.ts";

/**
 * Thrown by {@linkcode InterruptWatch.throwIfRequested} after Ctrl-C; the
 * message says what was kept and how to continue. `runMain` prints it
 * without the `error:` prefix and exits 130.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InterruptedError } from "./interrupt.ts";
 * const e = new InterruptedError("exp2: stopped; continue with: deno task exp2 --resume auto --out runs/a");
 * assert.equal(e.name, "InterruptedError");
 * ```
 */
export class InterruptedError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "InterruptedError";
  }
}

/** What {@linkcode watchInterrupts} returns. */
export interface InterruptWatch {
  /** Whether Ctrl-C (or SIGTERM) came. */
  readonly requested: boolean;
  /** Throws an {@linkcode InterruptedError} with `message()` when Ctrl-C came. */
  throwIfRequested(message: () => string): void;
  /** Stops listening; Ctrl-C is the process's own again. */
  dispose(): void;
}

/** Options for {@linkcode watchInterrupts}. */
export interface WatchInterruptsOptions {
  /** Printed on stderr when the first Ctrl-C comes. */
  notice: string;
}

/** Main thread to worker. */
interface Start {
  flag: SharedArrayBuffer;
  notice: string;
  /** Clear the progress line first (stderr is a terminal). */
  clear: boolean;
}

/**
 * Starts listening for Ctrl-C and SIGTERM.
 *
 * @example
 * ```ts ignore
 * const stop = watchInterrupts({ notice: "exp2: stopping after this step (Ctrl-C again stops at once)" });
 * try {
 *   for (const batch of batches) {
 *     step(batch);
 *     stop.throwIfRequested(() => "exp2: stopped; continue with: deno task exp2 --resume auto --out runs/a");
 *   }
 * } finally {
 *   stop.dispose();
 * }
 * ```
 */
export function watchInterrupts(options: WatchInterruptsOptions): InterruptWatch {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  let worker: Worker | null = new Worker(new URL(import.meta.url), { type: "module" });
  worker.postMessage(
    {
      flag: flag.buffer as SharedArrayBuffer,
      notice: options.notice,
      clear: stderrIsTerminal(),
    } satisfies Start,
  );
  return {
    get requested() {
      return Atomics.load(flag, 0) !== 0;
    },
    throwIfRequested(message) {
      if (Atomics.load(flag, 0) !== 0) throw new InterruptedError(message());
    },
    dispose() {
      worker?.terminate();
      worker = null;
    },
  };
}

/** Ctrl-C, and SIGTERM where there is one (Windows has no SIGTERM listener). */
function stopSignals(): Deno.Signal[] {
  return Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
}

/**
 * Resolves at the first Ctrl-C (SIGINT) or SIGTERM, then stops listening:
 * for a task that serves a page until it is stopped, and then closes it.
 * Unlike {@linkcode watchInterrupts}, it listens on the calling thread,
 * which must be idle (awaiting) for the signal to be seen. A signal listener
 * does not keep the process alive: something else must (the server).
 *
 * @example
 * ```ts
 * import { untilInterrupted } from "./interrupt.ts";
 * const server = setTimeout(() => {}, 10_000); // stands in for the page's server
 * const stopped = untilInterrupted();
 * Deno.kill(Deno.pid, "SIGTERM"); // as `kill PID` does; Ctrl-C sends SIGINT
 * await stopped;
 * clearTimeout(server); // server.close()
 * ```
 */
export function untilInterrupted(): Promise<void> {
  const signals = stopSignals();
  return new Promise((resolve) => {
    const done = () => {
      for (const s of signals) Deno.removeSignalListener(s, done);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, done);
  });
}

/** The worker's side: one listener per signal, removed after the first, so a second Ctrl-C ends the process. */
function listenInWorker(): void {
  const scope = self as unknown as { onmessage: ((e: MessageEvent<Start>) => void) | null };
  scope.onmessage = (e) => {
    const { flag, notice, clear } = e.data;
    const view = new Int32Array(flag);
    const signals = stopSignals();
    const handler = () => {
      Atomics.store(view, 0, 1);
      for (const s of signals) Deno.removeSignalListener(s, handler);
      const text = `${clear ? "\r\x1b[2K" : "\n"}${notice}\n`;
      Deno.stderr.writeSync(new TextEncoder().encode(text));
    };
    for (const s of signals) Deno.addSignalListener(s, handler);
  };
}

// The worker's entry point: this module is also the worker's main module.
if (import.meta.main && "WorkerGlobalScope" in globalThis) listenInWorker();

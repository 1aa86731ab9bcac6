// Touches the disk (reads only) and the network (127.0.0.1 only), from a worker thread: the labs' `--watch`.
/**
 * {@linkcode startWatch} on its own thread, for a lab that serves the watch
 * page while it trains. On the lab's own thread the server would go
 * unanswered for minutes: TensorFlow.js kernels run synchronously, and
 * awaiting a tensor's data on a CPU backend resolves without ever giving
 * the event loop a turn, so no request is read until training ends. In a
 * worker the server has an event loop of its own; it needs nothing from the
 * lab, as it reads everything from the run folder.
 *
 * The worker inherits the lab's permissions: the lab's task must allow
 * `--allow-net=127.0.0.1` and reading the run folder.
 *
 * @module
 */
import { RunFilesError } from "./run_files.ts";
import { startWatch, type Watch, WatchError, type WatchOptions } from "./watch_server.ts";

/** Options for {@linkcode startWatchInWorker}: {@linkcode WatchOptions}. */
export type WatchWorkerOptions = WatchOptions;

/** Main thread to worker. */
type Request =
  | { type: "start"; runDirs: string[]; port?: number; pollMs?: number }
  | { type: "close" };

/** Worker to main thread. */
type Reply =
  | { type: "started"; url: string }
  | { type: "error"; name: string; message: string }
  | { type: "closed" };

/**
 * Starts the watch server for `runDirs` in a worker and resolves once it
 * listens; same options and result as {@linkcode startWatch}.
 *
 * @example
 * ```ts ignore
 * const watch = await startWatchInWorker([config.out], { port: 0 });
 * console.error(`exp2: watch the run at ${watch.url}`);
 * // ... train (the page stays live) ...
 * await watch.close();
 * ```
 */
export function startWatchInWorker(
  runDirs: readonly string[],
  options: WatchWorkerOptions = {},
): Promise<Watch> {
  if (options.hostname !== undefined && options.hostname !== "127.0.0.1") {
    return Promise.reject(
      new WatchError(`The watch server binds to 127.0.0.1 only, got hostname "${options.hostname}"`),
    );
  }
  const worker = new Worker(new URL(import.meta.url), { type: "module" });
  let closed: Promise<void> | null = null;
  return new Promise<Watch>((resolve, reject) => {
    let onClosed = () => {};
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new WatchError(`The watch server's worker failed: ${e.message}`));
      onClosed();
    };
    worker.onmessage = (e: MessageEvent<Reply>) => {
      const reply = e.data;
      if (reply.type === "error") {
        worker.terminate();
        reject(rebuild(reply));
      } else if (reply.type === "closed") {
        worker.terminate();
        onClosed();
      } else {
        const close = (): Promise<void> => {
          closed ??= new Promise<void>((done) => {
            onClosed = done;
            worker.postMessage({ type: "close" } satisfies Request);
          });
          return closed;
        };
        options.signal?.addEventListener("abort", () => void close(), { once: true });
        resolve({ url: reply.url, close });
        if (options.signal?.aborted) void close();
      }
    };
    worker.postMessage(
      { type: "start", runDirs: [...runDirs], port: options.port, pollMs: options.pollMs } satisfies Request,
    );
  });
}

/** The worker's error as the class `startWatch` would have thrown. */
function rebuild(reply: { name: string; message: string }): Error {
  if (reply.name === "WatchError") return new WatchError(reply.message);
  if (reply.name === "RunFilesError") return new RunFilesError(reply.message);
  const e = new Error(reply.message);
  e.name = reply.name;
  return e;
}

/** The worker's side: one server, started and closed on request. */
function serveFromWorker(): void {
  const scope = self as unknown as {
    onmessage: ((e: MessageEvent<Request>) => void) | null;
    postMessage(reply: Reply): void;
    close(): void;
  };
  let watch: Watch | null = null;
  scope.onmessage = async (e) => {
    const request = e.data;
    if (request.type === "start") {
      try {
        watch = await startWatch(request.runDirs, { port: request.port, pollMs: request.pollMs });
        scope.postMessage({ type: "started", url: watch.url });
      } catch (err) {
        scope.postMessage({ type: "error", name: (err as Error).name, message: (err as Error).message });
      }
    } else {
      await watch?.close();
      scope.postMessage({ type: "closed" });
    }
  };
}

// The worker's entry point: this module is also the worker's main module.
if (import.meta.main && "WorkerGlobalScope" in globalThis) serveFromWorker();

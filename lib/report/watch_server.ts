// Touches the disk (reads only) and the network (127.0.0.1 only): serves the live training dashboard.
/**
 * The watch server: a local web page per set of run folders that follows
 * training live. It binds to 127.0.0.1 only, answers only to that host name
 * (or `localhost`), serves its own page, script and style (nothing from
 * another origin, so it works offline) and, read-only, the files of the run
 * folders it was given, confined to them ({@linkcode fileInside}).
 *
 * While a page is open the server polls the folders' listings every
 * `pollMs`; when one changes it rereads that folder, rebuilds its
 * {@linkcode RunView} and pushes it to every page by server-sent events
 * (`GET /api/events`). `GET /api/runs` gives the same views as one JSON array.
 * A folder that cannot be read or parsed becomes a message in its view; the
 * server does not stop for it.
 *
 * @module
 */
import { extname } from "node:path";
import { readFileNamed } from "../runtime/files.ts";
import {
  fileInside,
  type FolderListing,
  listFolder,
  MAX_FILE_BYTES,
  readSnapshot,
  realFolder,
} from "./run_files.ts";
import { type RunSnapshot, runState } from "./run_state.ts";
import { isServedName, type RunView, SERVED_TYPES, watchView } from "./watch_view.ts";

/** Options for {@linkcode startWatch}. */
export interface WatchOptions {
  /** Port on 127.0.0.1; 0 picks a free one. @default {0} */
  port?: number;
  /** The only address it binds to. @default {"127.0.0.1"} */
  hostname?: "127.0.0.1";
  /** Closes the server when aborted. */
  signal?: AbortSignal;
  /** How often open pages' folders are checked for changes, in ms. @default {1000} */
  pollMs?: number;
}

/** A running watch server. */
export interface Watch {
  /** The page's address, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  /**
   * Pushes the folders' final state to open pages, tells them the server is
   * going, and stops serving. Safe to call more than once.
   */
  close(): Promise<void>;
}

/** Raised when the server cannot start; the message says why and what to do. */
export class WatchError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "WatchError";
  }
}

/** One watched folder and what was last read of it. */
interface Watched {
  dir: string;
  root: string;
  listing: FolderListing | null;
  snapshot: RunSnapshot | null;
  json: string | null;
}

const ASSETS = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/watch.js": ["watch.js", "text/javascript; charset=utf-8"],
  "/watch.css": ["watch.css", "text/css; charset=utf-8"],
} as const;

/** Headers of every answer: no caching, no sniffing, no framing, no referrer. */
const COMMON_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** The page may load only from this server: no CDN, no other origin, no inline script. */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A run folder's own files (e.g. an SVG opened on its own) run no script and load nothing. */
const FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; sandbox";

/** Every this many polls a page's folders are re-evaluated even unchanged ("stopped" depends on time). */
const REEVALUATE_EVERY = 5;
/** A comment line on the event stream this often keeps proxies and the browser from timing out. */
const HEARTBEAT_MS = 15_000;

/**
 * Serves the watch page for `runDirs` on 127.0.0.1 and resolves once it
 * listens. The folders must exist; one without `run.json` yet is shown as
 * waiting for it.
 *
 * @example
 * ```ts ignore
 * const watch = await startWatch(["runs/exp2-20250101-120000"], { port: 0 });
 * console.log(`watch: ${watch.url}`);
 * // ... train ...
 * await watch.close();
 * ```
 */
export async function startWatch(runDirs: readonly string[], options: WatchOptions = {}): Promise<Watch> {
  if (runDirs.length === 0) throw new WatchError("Expected one or more run folders to watch, got none");
  const hostname = options.hostname ?? "127.0.0.1";
  if (hostname !== "127.0.0.1") {
    throw new WatchError(`The watch server binds to 127.0.0.1 only, got hostname "${hostname}"`);
  }
  const pollMs = options.pollMs ?? 1000;
  const runs: Watched[] = [];
  for (const dir of runDirs) {
    runs.push({ dir, root: await realFolder(dir), listing: null, snapshot: null, json: null });
  }
  const assets = await loadAssets();

  const clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const encoder = new TextEncoder();
  let poller: ReturnType<typeof setInterval> | null = null;
  let polls = 0;
  let busy = false;
  let lastBeat = Date.now();
  let closing: Promise<void> | null = null;

  /** Rereads run `i` when its listing changed (or `force`); returns its view's JSON and whether it changed. */
  async function refresh(i: number, force = false): Promise<boolean> {
    const run = runs[i];
    let json: string;
    try {
      const listing = await listFolder(run.root);
      if (run.listing && run.snapshot && listing.key === run.listing.key && !force) return false;
      run.snapshot = await readSnapshot(
        run.root,
        listing,
        run.listing && run.snapshot ? { listing: run.listing, snapshot: run.snapshot } : undefined,
      );
      run.listing = listing;
      json = JSON.stringify(watchView(runState(run.snapshot), { index: i, dir: run.dir }));
    } catch (e) {
      run.listing = null;
      json = JSON.stringify(brokenView(i, run.dir, e as Error));
    }
    if (json === run.json) return false;
    run.json = json;
    return true;
  }

  function send(text: string, only?: ReadableStreamDefaultController<Uint8Array>): void {
    const bytes = encoder.encode(text);
    for (const c of only ? [only] : clients) {
      try {
        c.enqueue(bytes);
      } catch {
        clients.delete(c); // the page went away
      }
    }
    if (clients.size === 0) stopPolling();
  }

  async function poll(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      const force = ++polls % REEVALUATE_EVERY === 0;
      for (let i = 0; i < runs.length; i++) {
        if (await refresh(i, force)) send(`event: run\ndata: ${runs[i].json}\n\n`);
      }
      if (Date.now() - lastBeat >= HEARTBEAT_MS) {
        lastBeat = Date.now();
        send(": heartbeat\n\n");
      }
    } finally {
      busy = false;
    }
  }

  function stopPolling(): void {
    if (poller !== null) clearInterval(poller);
    poller = null;
  }

  function events(): Response {
    let self: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        self = controller;
        clients.add(controller);
        poller ??= setInterval(() => void poll(), pollMs);
        send(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ runs: runs.length })}\n\n`, controller);
        for (let i = 0; i < runs.length; i++) {
          if (runs[i].json === null) await refresh(i);
          send(`event: run\ndata: ${runs[i].json}\n\n`, controller);
        }
      },
      cancel: () => {
        clients.delete(self);
        if (clients.size === 0) stopPolling();
      },
    });
    return new Response(body, {
      headers: { ...COMMON_HEADERS, "content-type": "text/event-stream; charset=utf-8" },
    });
  }

  async function runFile(index: number, rest: string, head: boolean): Promise<Response> {
    const run = runs[index];
    if (!run) return notFound();
    let segments: string[];
    try {
      segments = rest.split("/").map(decodeURIComponent);
    } catch {
      return notFound();
    }
    if (!isServedName(segments.at(-1)!)) return notFound();
    const path = await fileInside(run.root, segments);
    if (path === null) return notFound();
    let bytes: Uint8Array;
    try {
      bytes = await readFileNamed(path, "run file", { maxBytes: MAX_FILE_BYTES });
    } catch {
      return notFound();
    }
    const type = SERVED_TYPES[extname(path).slice(1)];
    const headers = { ...COMMON_HEADERS, "content-type": type, "content-security-policy": FILE_CSP };
    return new Response(head ? null : bytes as Uint8Array<ArrayBuffer>, { headers });
  }

  async function handle(req: Request, port: number): Promise<Response> {
    const host = req.headers.get("host");
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return plain(403, `This server answers only to http://127.0.0.1:${port}/\n`);
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return plain(405, "Read-only: GET and HEAD only\n", { allow: "GET, HEAD" });
    }
    const head = req.method === "HEAD";
    const path = new URL(req.url).pathname;
    if (Object.hasOwn(ASSETS, path)) {
      const [name, type] = ASSETS[path as keyof typeof ASSETS];
      return new Response(head ? null : assets[name], {
        headers: { ...COMMON_HEADERS, "content-type": type, "content-security-policy": PAGE_CSP },
      });
    }
    if (path === "/api/events") return events();
    if (path === "/api/runs") {
      for (let i = 0; i < runs.length; i++) await refresh(i);
      const body = `[${runs.map((r) => r.json).join(",")}]`;
      return new Response(head ? null : body, {
        headers: { ...COMMON_HEADERS, "content-type": "application/json; charset=utf-8" },
      });
    }
    const m = path.match(/^\/runs\/(0|[1-9]\d{0,5})\/(.+)$/);
    if (m) return await runFile(Number(m[1]), m[2], head);
    return notFound();
  }

  const abort = new AbortController();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port: options.port ?? 0,
      signal: abort.signal,
      onListen: () => {},
      onError: (e) => {
        console.error(`watch: ${(e as Error).message}`);
        return plain(500, "Internal error: see the watch server's log\n");
      },
    }, (req) => handle(req, server.addr.port));
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new WatchError(
        `Port ${options.port} on 127.0.0.1 is in use: choose another --port, or leave it out for a free one`,
      );
    }
    throw e;
  }

  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopPolling();
      while (busy) await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < runs.length; i++) {
        if (clients.size && await refresh(i, true)) send(`event: run\ndata: ${runs[i].json}\n\n`);
      }
      send(`event: bye\ndata: {}\n\n`);
      for (const c of clients) {
        try {
          c.close();
        } catch {
          // already closed by the page
        }
      }
      clients.clear();
      // Graceful: the streams just closed end cleanly; a connection still busy after 2 s is cut.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceful = await Promise.race([
        server.shutdown().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 2000))),
      ]);
      clearTimeout(timer);
      if (!graceful) abort.abort();
      await server.finished;
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });
  if (options.signal?.aborted) await close();
  return { url: `http://127.0.0.1:${server.addr.port}/`, close };
}

/** The page's files, read once at start (from beside this module: a file: URL, or https when imported remotely). */
async function loadAssets(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name] of Object.values(ASSETS)) {
    const url = new URL(`./watch_page/${name}`, import.meta.url);
    const res = await fetch(url);
    if (!res.ok) throw new WatchError(`Cannot load the watch page's ${name} from ${url}: ${res.status}`);
    out[name] = await res.text();
  }
  return out;
}

/** The view of a folder that cannot be read at all (removed, no permission). */
function brokenView(index: number, dir: string, e: Error): RunView {
  const message = e instanceof Deno.errors.NotFound
    ? "the folder is gone (removed or renamed)"
    : `the folder cannot be read: ${e.message}`;
  return {
    ...watchView(runState({ names: [], texts: {}, mtimes: {} }), { index, dir }),
    status: "damaged",
    reason: message,
  };
}

function notFound(): Response {
  return plain(404, "Not found\n");
}

function plain(status: number, text: string, extra: Record<string, string> = {}): Response {
  return new Response(text, {
    status,
    headers: { ...COMMON_HEADERS, "content-type": "text/plain; charset=utf-8", ...extra },
  });
}

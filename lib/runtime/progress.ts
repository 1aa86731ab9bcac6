/**
 * Progress for long runs (writes to stderr). On a terminal, one line redrawn
 * in place at most 10 times a second; otherwise (output piped to `tee` or a
 * file) one plain line at most every 30 s, so that a log shows a long epoch
 * advancing without filling up with redraws. Both say where the run is
 * (count, steps), how fast it goes, when the current part and the whole run
 * end, and a note such as the running loss.
 *
 * @module
 */

/** How a {@linkcode Progress} draws. */
export type ProgressMode = "terminal" | "plain" | "off";

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Unit of the count and rate, e.g. "img" gives "img/s". @default {"it"} */
  unit?: string;
  /**
   * `terminal` redraws one line in place, `plain` writes a whole line every
   * `intervalMs`, `off` writes nothing.
   * @default {"terminal" when stderr is a terminal, else "plain"}
   */
  mode?: ProgressMode;
  /** Shorthand: true is `terminal`, false is `off`. Ignored when `mode` is given. */
  enabled?: boolean;
  /** Least time between two plain lines, in milliseconds. @default {30000} */
  intervalMs?: number;
  /** Items per optimisation step: also show `step S/T` (e.g. 128 images per step). */
  stepSize?: number;
  /**
   * The whole run this bar is a part of, in the same unit: items done before
   * this bar started and the run's total. Adds the run's ETA at this bar's rate.
   */
  run?: { done: number; total: number };
  /** Clock in milliseconds, for tests. @default {performance.now} */
  now?: () => number;
}

/**
 * A progress line over `total` items.
 *
 * On a terminal: `epoch 3/10 [#####...] 15360/50000 245 img/s ETA 2:21 (run 25:40) loss 1.23`;
 * piped: `epoch 3/10: step 120/391, 15360/50000 img, 245 img/s, ETA 2:21, run ETA 25:40, loss 1.23`.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * // 391 batches of 128 images. `mode: "off"` keeps this example quiet; a lab
 * // leaves the mode to the default (a terminal, or plain lines when piped).
 * const bar = new Progress("epoch 1/10", 50000, { unit: "img", stepSize: 128, mode: "off" });
 * for (let done = 128; done < 50000; done += 128) bar.update(done, "loss 1.23");
 * bar.update(50000);
 * bar.done();
 * ```
 */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #unit: string;
  readonly #mode: ProgressMode;
  readonly #interval: number;
  readonly #stepSize: number | null;
  readonly #run: { done: number; total: number } | null;
  readonly #now: () => number;
  readonly #start: number;
  #last: number;
  #scale = 1;
  #drawn = false;

  /** Starts a progress line over `total` items. */
  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = total;
    this.#unit = options.unit ?? "it";
    this.#mode = options.mode ??
      (options.enabled === undefined
        ? (isTerminal() ? "terminal" : "plain")
        : options.enabled
        ? "terminal"
        : "off");
    this.#interval = options.intervalMs ?? 30_000;
    this.#stepSize = options.stepSize ?? null;
    this.#run = options.run ?? null;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    // Plain lines wait a whole interval; the terminal line draws at once.
    this.#last = this.#mode === "plain" ? this.#start : -Infinity;
  }

  /** How this bar draws. */
  get mode(): ProgressMode {
    return this.#mode;
  }

  /** Counts the rate in units of `scale` per item (e.g. images per batch when counting batches). */
  scale(scale: number): this {
    this.#scale = scale;
    return this;
  }

  /** Reports `done` items so far, with an optional note. */
  update(done: number, note = ""): void {
    if (this.#mode === "off") return;
    const now = this.#now();
    const last = done >= this.#total;
    if (this.#mode === "terminal" ? now - this.#last < 100 && !last : now - this.#last < this.#interval) {
      return;
    }
    this.#last = now;
    const secs = (now - this.#start) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = rate > 0 ? (this.#total - done) / rate : NaN;
    const runEta = this.#run && rate > 0 ? (this.#run.total - this.#run.done - done) / rate : NaN;
    const shownRate = rate * this.#scale;
    const rateText = `${shownRate.toFixed(shownRate < 10 ? 2 : 0)} ${this.#unit}/s`;
    const steps = this.#stepSize
      ? `step ${Math.ceil(done / this.#stepSize)}/${Math.ceil(this.#total / this.#stepSize)}`
      : "";
    if (this.#mode === "terminal") {
      const width = 24;
      const filled = Math.max(0, Math.min(width, Math.round(width * done / this.#total)));
      const bar = "#".repeat(filled) + ".".repeat(width - filled);
      const line = [
        `${this.#label} [${bar}] ${done}/${this.#total}`,
        rateText,
        `ETA ${clock(eta)}`,
        Number.isFinite(runEta) ? `(run ${clock(runEta)})` : "",
        note,
      ].filter(Boolean).join(" ");
      write(`\r\x1b[2K${line}`);
      this.#drawn = true;
    } else {
      const parts = [
        steps,
        `${done}/${this.#total} ${this.#unit}`,
        rateText,
        `ETA ${clock(eta)}`,
        Number.isFinite(runEta) ? `run ETA ${clock(runEta)}` : "",
        note,
      ].filter(Boolean);
      write(`${this.#label}: ${parts.join(", ")}\n`);
    }
  }

  /** Ends the bar: clears the terminal line. */
  done(): void {
    if (this.#mode === "terminal" && this.#drawn) write("\r\x1b[2K");
    this.#drawn = false;
  }
}

/**
 * `m:ss` or `h:mm:ss`; `?:??` for an unknown (non-finite) time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clock } from "./progress.ts";
 * assert.equal(clock(75), "1:15");
 * assert.equal(clock(3725.4), "1:02:05");
 * assert.equal(clock(NaN), "?:??");
 * ```
 */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?:??";
  const s = Math.max(0, Math.round(seconds));
  const [h, m, r] = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/**
 * Whether stderr is a terminal (where progress redraws in place).
 *
 * @example
 * ```ts
 * import { stderrIsTerminal } from "./progress.ts";
 * console.log(stderrIsTerminal() ? "progress redraws in place" : "progress writes a line every 30 s");
 * ```
 */
export function stderrIsTerminal(): boolean {
  return isTerminal();
}

function isTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

function write(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  while (at < bytes.length) at += Deno.stderr.writeSync(bytes.subarray(at));
}

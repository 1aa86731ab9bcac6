/**
 * Progress for long runs (writes to stderr): one line redrawn in place with
 * the count, rate and ETA when stderr is a terminal, nothing when it is not,
 * so logs stay clean.
 *
 * @module
 */

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Unit of the rate, e.g. "img" gives "img/s". @default {"it"} */
  unit?: string;
  /** Force drawing on or off. @default {Deno.stderr.isTerminal()} */
  enabled?: boolean;
}

/**
 * A progress line: `label  [####....]  340/500  1234 img/s  ETA 0:12  loss 0.53`.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * // 391 batches of 128 images, the rate in img/s. It draws only when stderr is
 * // a terminal; `enabled: false` keeps this example quiet.
 * const bar = new Progress("epoch 1", 391, { unit: "img", enabled: false }).scale(128);
 * for (let i = 1; i <= 391; i++) bar.update(i, `loss ${(2 / i).toFixed(2)}`);
 * bar.done();
 * ```
 */
export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #unit: string;
  readonly #enabled: boolean;
  readonly #start = performance.now();
  #last = 0;
  #scale = 1;

  /** Starts a progress line over `total` items. */
  constructor(label: string, total: number, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = total;
    this.#unit = options.unit ?? "it";
    this.#enabled = options.enabled ?? isTerminal();
  }

  /** Counts the rate in units of `scale` per item (e.g. images per batch). */
  scale(scale: number): this {
    this.#scale = scale;
    return this;
  }

  /** Reports `done` items so far, with an optional note; redraws at most 10x/s. */
  update(done: number, note = ""): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (now - this.#last < 100 && done < this.#total) return;
    this.#last = now;
    const secs = (now - this.#start) / 1000;
    const rate = done / Math.max(secs, 1e-9);
    const eta = rate > 0 ? (this.#total - done) / rate : 0;
    const width = 24;
    const filled = Math.round(width * done / this.#total);
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const line = `${this.#label} [${bar}] ${done}/${this.#total} ` +
      `${(rate * this.#scale).toFixed(rate * this.#scale < 10 ? 2 : 0)} ${this.#unit}/s ` +
      `ETA ${clock(eta)} ${note}`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
  }

  /** Ends the line. */
  done(): void {
    if (this.#enabled) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  }
}

/**
 * `m:ss` or `h:mm:ss`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clock } from "./progress.ts";
 * assert.equal(clock(75), "1:15");
 * assert.equal(clock(3725.4), "1:02:05");
 * ```
 */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const [h, m, r] = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

function isTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

// Touches the disk: appends `steps.csv` to a run folder while a lab trains.
/**
 * The per-step training log a lab appends while it trains, read live by
 * `deno task watch`: `steps.csv` with {@linkcode STEPS_COLUMNS}.
 *
 * Readers must never see a torn line, and the file must stay small and cheap
 * to write however fast the training loop goes, so:
 *
 * - each row is written whole, in one `write` (retried for the rest after a
 *   short write) to a file opened for appending (readers see whole lines as
 *   they come; they also ignore a last line with no newline, should a write
 *   ever be cut short by a kill);
 * - rows are throttled to one per `minIntervalMs` (default 250 ms, so at most
 *   4 a second): rows appended in between are merged into the next one
 *   written, their loss and accuracy averaged over the steps they cover;
 * - a merged row still pending is written by a timer once the interval has
 *   passed (so a stalled loop shows its last row), or by `flush()` / `close()`.
 *
 * `append` is synchronous (a write of ~60 bytes), so it fits callbacks such as
 * `fitFunction`'s `onEpoch` that cannot await.
 *
 * @module
 */
import { writeFileAtomic } from "../runtime/files.ts";
import { STEPS_COLUMNS } from "./columns.ts";
import { toCsv } from "./csv.ts";

/** One training step (or the last of a window of steps), as the lab knows it. */
export interface StepRow {
  /** Optimisation steps since the start of the run, 1-based (see {@linkcode STEPS_COLUMNS}). */
  step: number;
  /** The 1-based epoch this step belongs to. */
  epoch: number;
  /** Learning rate per step in force. */
  lr: number;
  /**
   * Mean training loss per example over the steps since the previous
   * `append` (a single step's loss when called every step). NaN or infinite
   * when the run diverges.
   */
  loss: number;
  /** Mean training accuracy in [0, 1] over the same steps; null where the lab has none (Lab 1). @default {null} */
  acc?: number | null;
  /** Training examples per second, as the lab measures it. @default {null} */
  imagesPerSecond?: number | null;
}

/** Options for {@linkcode StepLog.open}. */
export interface StepLogOptions {
  /** Least time between two written rows, in milliseconds. @default {250} */
  minIntervalMs?: number;
  /**
   * Continue an existing log, for a run resumed at this 1-based epoch: rows
   * of that epoch and later (left by the session that stopped) are dropped.
   * Without it, `open` starts a new log, replacing any old file.
   */
  resumeEpoch?: number;
  /** Clock in milliseconds, for tests. @default {performance.now} */
  now?: () => number;
}

/** Raised for a `steps.csv` that cannot be continued; the message names the file. */
export class StepLogError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "StepLogError";
  }
}

const HEADER = STEPS_COLUMNS.join(",");

/** Rows merged since the last write: sums weighted by the steps each row covers. */
interface Pending {
  last: StepRow;
  steps: number;
  lossSum: number;
  accSum: number;
  accSteps: number;
}

/**
 * An open `steps.csv`: {@linkcode StepLog.open}, then `append` every step or
 * every few steps, then `close`.
 *
 * @example
 * ```ts ignore
 * const log = await StepLog.open("runs/a/steps.csv");
 * log.append({ step: 1, epoch: 1, lr: 0.1, loss: 2.3, acc: 0.1, imagesPerSecond: 250 });
 * log.close();
 * ```
 */
export class StepLog {
  /** The file's path. */
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #interval: number;
  readonly #now: () => number;
  #lastWrite = -Infinity;
  #lastStep: number | null = null;
  #lastSpan = 1;
  #pending: Pending | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  private constructor(path: string, file: Deno.FsFile, options: StepLogOptions) {
    this.path = path;
    this.#file = file;
    this.#interval = options.minIntervalMs ?? 250;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Opens `path` for appending: a new log with just the header, or with
   * `options.resumeEpoch` the rows of the epochs before it. Either is put in
   * place atomically, so a reader sees the old file or the new one.
   */
  static async open(path: string, options: StepLogOptions = {}): Promise<StepLog> {
    const interval = options.minIntervalMs ?? 250;
    if (!(interval >= 0)) throw new RangeError(`minIntervalMs must be >= 0, got ${interval}`);
    let text = `${HEADER}\n`;
    if (options.resumeEpoch !== undefined) {
      if (!Number.isInteger(options.resumeEpoch) || options.resumeEpoch < 1) {
        throw new RangeError(`resumeEpoch must be a whole number >= 1, got ${options.resumeEpoch}`);
      }
      text = keptRows(await readOrNull(path), path, options.resumeEpoch);
    }
    await writeFileAtomic(path, text);
    const file = await Deno.open(path, { append: true });
    return new StepLog(path, file, options);
  }

  /**
   * Logs a step. The row is written now when the last write is at least
   * `minIntervalMs` old, else merged into the next one. A row whose epoch
   * or step goes back (the next run of an exp1 study) is never merged with
   * the rows before it: those are written first.
   */
  append(row: StepRow): void {
    if (this.#closed) throw new StepLogError(`${this.path}: append after close`);
    if (!Number.isInteger(row.step) || row.step < 1 || !Number.isInteger(row.epoch) || row.epoch < 1) {
      throw new RangeError(
        `A step row needs whole step and epoch >= 1, got step ${row.step} and epoch ${row.epoch}`,
      );
    }
    const back = this.#pending !== null &&
      (row.epoch < this.#pending.last.epoch || row.step <= this.#pending.last.step);
    if (back) this.#write();
    // Steps this row covers; the first row of a new run covers as many as the row before did.
    const steps = this.#lastStep !== null && row.step > this.#lastStep && !back
      ? row.step - this.#lastStep
      : this.#lastSpan;
    this.#lastSpan = steps;
    this.#lastStep = row.step;
    const acc = row.acc ?? null;
    const p = this.#pending ??= { last: row, steps: 0, lossSum: 0, accSum: 0, accSteps: 0 };
    p.last = row;
    p.steps += steps;
    p.lossSum += row.loss * steps;
    if (acc !== null) {
      p.accSum += acc * steps;
      p.accSteps += steps;
    }
    if (this.#now() - this.#lastWrite >= this.#interval) this.#write();
    else this.#schedule();
  }

  /** Writes the row still pending, if any. */
  flush(): void {
    if (!this.#closed) this.#write();
  }

  /** Writes the row still pending and closes the file; later calls do nothing. */
  close(): void {
    if (this.#closed) return;
    this.#write();
    this.#closed = true;
    try {
      this.#file.syncSync();
    } finally {
      this.#file.close();
    }
  }

  /** Same as {@linkcode StepLog.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #schedule(): void {
    if (this.#timer !== null) return;
    const wait = Math.max(0, this.#lastWrite + this.#interval - this.#now());
    const timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closed) this.#write();
    }, wait);
    // A pending row must not keep a finished lab alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #write(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const p = this.#pending;
    if (p === null) return;
    this.#pending = null;
    this.#lastWrite = this.#now();
    const line = toCsv(STEPS_COLUMNS, [{
      step: p.last.step,
      epoch: p.last.epoch,
      lr: p.last.lr,
      loss: p.lossSum / p.steps,
      acc: p.accSteps > 0 ? p.accSum / p.accSteps : null,
      images_per_second: p.last.imagesPerSecond ?? null,
    }]).slice(HEADER.length + 1);
    // One write of the whole line: with O_APPEND it lands at the end in one piece.
    const bytes = new TextEncoder().encode(line);
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
  }
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The header and the whole rows of epochs before `resumeEpoch` of an existing log's text. */
function keptRows(text: string | null, path: string, resumeEpoch: number): string {
  if (text === null || text === "") return `${HEADER}\n`;
  const lines = text.split("\n");
  if (lines[0] !== HEADER) {
    throw new StepLogError(
      `${path}: header is "${lines[0].slice(0, 80)}", expected "${HEADER}": not a steps log to continue`,
    );
  }
  // The last element is "" after a final newline, or a torn line: dropped either way.
  const rows = lines.slice(1, -1).filter((l) => {
    const epoch = Number(l.split(",")[1]);
    return l !== "" && Number.isInteger(epoch) && epoch < resumeEpoch;
  });
  return [HEADER, ...rows].join("\n") + "\n";
}

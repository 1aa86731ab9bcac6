/**
 * CSV, the lab's source of truth for metrics: rows of named columns written
 * with `csv-stringify` and read back with `csv-parse`, with errors that name
 * the file and line. Pure: text in, text out.
 *
 * @module
 */
import { stringify } from "csv-stringify/sync";
import { parse } from "csv-parse/sync";

/** A CSV row: column name to value. */
export type Row = Record<string, string | number | null>;

/**
 * Raised for malformed CSV; the message names the source and line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CsvError, parseCsv } from "./csv.ts";
 * assert.throws(
 *   () => parseCsv("epoch,loss\n1,oops\n", { source: "metrics.csv", numeric: ["loss"] }),
 *   CsvError, // metrics.csv, line 2: column "loss" is "oops", expected a number
 * );
 * ```
 */
export class CsvError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CsvError";
  }
}

/**
 * CSV text with a header line of `columns` and one line per row. Numbers are
 * written with up to 6 significant digits unless already strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toCsv } from "./csv.ts";
 * const rows = [{ epoch: 1, loss: 2.302585093, note: "warm-up" }, { epoch: 2, loss: 1.5, note: null }];
 * assert.equal(toCsv(["epoch", "loss", "note"], rows), "epoch,loss,note\n1,2.30259,warm-up\n2,1.5,\n");
 * ```
 */
export function toCsv(columns: readonly string[], rows: readonly Row[]): string {
  return stringify(rows.map((r) => columns.map((c) => cell(r[c]))), {
    header: true,
    columns: [...columns],
  });
}

function cell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (Number.isInteger(v)) return String(v);
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);
}

/** Options for {@linkcode parseCsv}. */
export interface ParseCsvOptions {
  /** Names the file in errors. @default {"CSV"} */
  source?: string;
  /** Columns that must be present. @default {[]} */
  required?: readonly string[];
  /** Columns whose every value must parse as a finite number. @default {[]} */
  numeric?: readonly string[];
}

/** A parsed CSV: its header, its rows, and the file line of each row. */
export interface CsvTable {
  header: string[];
  rows: Record<string, string>[];
  /** 1-based line in the text where `rows[i]` is (the header is line 1). */
  lines: number[];
}

/**
 * A CSV with a header line, as objects of strings, with each row's line in
 * the text (blank lines are skipped, so it need not be index + 2); checks
 * required and numeric columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCsvTable } from "./csv.ts";
 * const t = parseCsvTable("epoch,loss\n\n1,0.5\n");
 * assert.deepEqual(t.header, ["epoch", "loss"]);
 * assert.deepEqual(t.rows, [{ epoch: "1", loss: "0.5" }]);
 * assert.deepEqual(t.lines, [3]); // after the blank line 2
 * ```
 */
export function parseCsvTable(text: string, options: ParseCsvOptions = {}): CsvTable {
  const source = options.source ?? "CSV";
  let records: { record: Record<string, string>; info: { lines: number } }[];
  let header: string[] = [];
  try {
    records = parse(text, {
      columns: (h: string[]) => (header = h),
      skip_empty_lines: true,
      trim: true,
      info: true,
    });
  } catch (e) {
    throw new CsvError(`${source}: ${(e as Error).message}`);
  }
  const rows = records.map((r) => r.record);
  const lines = records.map((r) => r.info.lines);
  for (const c of options.required ?? []) {
    if (!header.includes(c)) {
      throw new CsvError(`${source}: missing column "${c}" (header is "${header.join(",")}")`);
    }
  }
  rows.forEach((row, i) => {
    for (const c of options.numeric ?? []) {
      if (!Number.isFinite(Number(row[c])) || row[c] === "") {
        throw new CsvError(`${source}, line ${lines[i]}: column "${c}" is "${row[c]}", expected a number`);
      }
    }
  });
  return { header, rows, lines };
}

/**
 * Rows of a CSV with a header line, as objects of strings; checks required
 * and numeric columns ({@linkcode parseCsvTable} without the header and
 * line numbers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCsv } from "./csv.ts";
 * const rows = parseCsv("epoch,loss\n1,0.5\n", { required: ["epoch"], numeric: ["loss"] });
 * assert.deepEqual(rows, [{ epoch: "1", loss: "0.5" }]);
 * ```
 */
export function parseCsv(text: string, options: ParseCsvOptions = {}): Record<string, string>[] {
  return parseCsvTable(text, options).rows;
}

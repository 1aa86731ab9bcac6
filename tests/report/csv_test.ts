import assert from "node:assert/strict";
import { CsvError, parseCsv, parseCsvTable, type Row, toCsv } from "../../lib/report/csv.ts";

Deno.test("toCsv() writes a header and one line per row in column order", () => {
  assert.equal(toCsv(["a", "b"], [{ a: 1, b: "x" }]), "a,b\n1,x\n");
  assert.equal(toCsv(["b", "a"], [{ a: 1, b: 2 }, { a: 3, b: 4 }]), "b,a\n2,1\n4,3\n");
  assert.equal(toCsv(["a"], []), "a\n");
});

Deno.test("toCsv() writes numbers with up to 6 significant digits and blanks for null", () => {
  const rows: Row[] = [
    { v: 1 / 3 },
    { v: 0.1 + 0.2 },
    { v: 123456789 }, // integers are exact
    { v: 1234567.8 },
    { v: 1e-7 },
    { v: NaN },
    { v: Infinity },
    { v: null },
    { v: "0.123456789" }, // strings are kept as they are
    {}, // a missing column is blank
  ];
  assert.equal(
    toCsv(["v"], rows),
    "v\n0.333333\n0.3\n123456789\n1234570\n1e-7\nNaN\nInfinity\n\n0.123456789\n\n",
  );
});

Deno.test("toCsv() quotes commas, quotes and newlines, and parseCsv() reads them back", () => {
  const rows = [
    { run: "lr-0.1", note: 'a, "quoted" word' },
    { run: "e10", note: "two\nlines" },
    { run: " padded ", note: "" },
  ];
  const text = toCsv(["run", "note"], rows);
  assert.equal(text.split("\n")[1], `lr-0.1,"a, ""quoted"" word"`);
  const back = parseCsv(text);
  assert.deepEqual(back[0], rows[0]);
  assert.deepEqual(back[1], rows[1]);
  // parseCsv trims unquoted cells.
  assert.deepEqual(back[2], { run: "padded", note: "" });
});

Deno.test("parseCsv() round-trips toCsv() with numeric columns", () => {
  const rows = [{ epoch: 1, loss: 0.5 }, { epoch: 2, loss: 0.25 }];
  const back = parseCsv(toCsv(["epoch", "loss"], rows), {
    required: ["epoch", "loss"],
    numeric: ["epoch", "loss"],
  });
  assert.deepEqual(back, [{ epoch: "1", loss: "0.5" }, { epoch: "2", loss: "0.25" }]);
  assert.deepEqual(back.map((r) => Number(r.loss)), [0.5, 0.25]);
  // CRLF line ends and blank lines are accepted.
  assert.deepEqual(parseCsv("epoch,loss\r\n1,0.5\r\n\r\n"), [{ epoch: "1", loss: "0.5" }]);
});

Deno.test("parseCsv() names the source and the column when a required column is missing", () => {
  assert.throws(
    () => parseCsv("epoch,x\n1,2\n", { source: "runs/a/summary.csv", required: ["epoch", "loss"] }),
    {
      name: "CsvError",
      message: `runs/a/summary.csv: missing column "loss" (header is "epoch,x")`,
    },
  );
  assert.throws(() => parseCsv("epoch\n1\n", { required: ["loss"] }), {
    name: "CsvError",
    message: `CSV: missing column "loss" (header is "epoch")`,
  });
});

Deno.test("parseCsv() finds required columns in a quoted header", () => {
  // As written by spreadsheets and R's write.csv.
  const rows = parseCsv(`"epoch","loss"\n1,2\n`, { source: "r.csv", required: ["loss"], numeric: ["loss"] });
  assert.deepEqual(rows, [{ epoch: "1", loss: "2" }]);
});

Deno.test("parseCsv() names the source, line, column and value of a non-numeric cell", () => {
  const text = "epoch,loss\n1,0.5\n2,abc\n";
  assert.throws(() => parseCsv(text, { source: "m.csv", numeric: ["loss"] }), {
    name: "CsvError",
    message: `m.csv, line 3: column "loss" is "abc", expected a number`,
  });
  for (const bad of ["", "NaN", "Infinity", "1,2"]) {
    const t = toCsv(["epoch", "loss"], [{ epoch: 1, loss: bad }]);
    assert.throws(() => parseCsv(t, { source: "m.csv", numeric: ["loss"] }), {
      name: "CsvError",
      message: `m.csv, line 2: column "loss" is "${bad}", expected a number`,
    });
  }
});

Deno.test("parseCsv() counts blank lines in the line number it reports", () => {
  const text = "epoch,loss\n1,0.5\n\n2,abc\n";
  assert.throws(() => parseCsv(text, { source: "m.csv", numeric: ["loss"] }), {
    name: "CsvError",
    message: `m.csv, line 4: column "loss" is "abc", expected a number`,
  });
});

Deno.test("parseCsv() reports malformed CSV as CsvError naming the source and line", () => {
  assert.throws(() => parseCsv("a,b\n1,2,3\n", { source: "bad.csv" }), (e: unknown) => {
    assert.ok(e instanceof CsvError);
    assert.match(e.message, /^bad\.csv: .*line 2/);
    return true;
  });
  assert.throws(() => parseCsv('a,b\n"1,2\n', { source: "open.csv" }), (e: unknown) => {
    assert.ok(e instanceof CsvError);
    assert.match(e.message, /^open\.csv: /);
    return true;
  });
});

Deno.test("parseCsvTable() gives the header and each row's line in the text, blank lines skipped", () => {
  const t = parseCsvTable("epoch, loss\n1,0.5\n\n\n2,0.25\n3,0.125");
  assert.deepEqual(t.header, ["epoch", "loss"]);
  assert.deepEqual(t.rows.map((r) => r.loss), ["0.5", "0.25", "0.125"]);
  assert.deepEqual(t.lines, [2, 5, 6]);
  assert.throws(
    () => parseCsvTable("epoch,loss\n1,0.5\n\n2,x\n", { source: "m.csv", numeric: ["loss"] }),
    (e: Error) =>
      e instanceof CsvError && e.message === `m.csv, line 4: column "loss" is "x", expected a number`,
  );
});

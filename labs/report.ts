/**
 * The lab report: one Markdown file over run folders of Lab 1 and Lab 2,
 * with its charts redrawn from the folders' CSVs.
 *
 * Writes `--out` (default report.md) and, in `<name>-files/` beside it, one
 * SVG per chart named after its run folder (report-files/exp2-full-accuracy.svg).
 * Every folder is read and checked and the whole report built before
 * anything is written, so a bad input leaves no partial report.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { defineFlags, flag, UsageError } from "../lib/runtime/flags.ts";
import { quote } from "../lib/runtime/quote.ts";
import { userPath } from "../lib/runtime/env.ts";
import { runMain } from "../lib/runtime/main.ts";
import { writeFileAtomic } from "../lib/runtime/files.ts";
import { readRunFolder, type RunFolder } from "../lib/report/run_folder.ts";
import { renderReport } from "../lib/report/render_report.ts";

const cli = defineFlags("deno task report RUN_DIR... [--out report.md]", {
  out: flag.path("the Markdown report; charts go to its folder, in <name>-files/", {
    default: "report.md",
    placeholder: "FILE",
  }),
}, {
  description: "The lab report over run folders written by deno task exp1 and deno task exp2.",
  positionals: "RUN_DIR...",
  examples: [
    "deno task report runs/exp1-lr runs/exp1-epochs runs/exp2-full",
    "deno task report runs/* --out results/report.md",
  ],
});

async function main(): Promise<void> {
  const { values, positionals } = cli.parse(Deno.args);
  if (values.help) return console.log(cli.help());
  if (positionals.length === 0) {
    throw new UsageError(
      `Expected one or more run folders, got none: usage: deno task report RUN_DIR... [--out report.md]`,
    );
  }
  const out = values.out;
  if (out === "" || out.endsWith("/")) throw new UsageError(`--out must name a file, got "${out}"`);
  // Only a Markdown name: anything else could be a run's CSV or weights.
  if (!/\.md$/i.test(out)) throw new UsageError(`--out must name a .md file, got ${quote(out)}`);
  const filesDir = `${basename(out).replace(/\.md$/i, "")}-files`;

  const folders: RunFolder[] = [];
  for (const dir of positionals) folders.push(await readRunFolder(userPath(dir)));
  const report = renderReport(folders, { filesDir, generated: new Date().toISOString() });

  for (const c of report.charts) await writeFileAtomic(join(dirname(out), c.path), c.svg);
  await writeFileAtomic(out, report.markdown);
  console.error(
    `report: wrote ${out} and ${report.charts.length} charts in ${join(dirname(out), filesDir)}/`,
  );
}

export { cli };

if (import.meta.main) await runMain(main);

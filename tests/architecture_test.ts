/**
 * The one rule of ARCHITECTURE.md, checked on the source: `lib/` folders
 * import only from folders earlier in the data flow, backend plugins
 * (`lib/native/`, `lib/webgpu/`) only from `lib/ops/`, and only the backend
 * chooser (`lib/runtime/backend.ts`) imports a plugin.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { REPO } from "./helpers.ts";

/** What each `lib/` folder may import besides itself: folders, or single files of `runtime/`. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  data: ["runtime/files.ts", "runtime/env.ts", "runtime/quote.ts"],
  formats: ["data", "runtime/quote.ts"],
  ops: [],
  models: ["data", "formats", "ops", "runtime/quote.ts"],
  train: [
    "data",
    "formats",
    "ops",
    "models",
    "runtime/flags.ts",
    "runtime/files.ts",
    "runtime/env.ts",
    "runtime/quote.ts",
  ],
  report: ["data", "formats", "train", "runtime/files.ts"],
  runtime: ["data", "formats", "ops", "models", "train", "report"],
  native: ["ops", "runtime/env.ts"],
  webgpu: ["ops", "runtime/env.ts"],
};
const PLUGINS = ["native", "webgpu"];
const CHOOSER = "lib/runtime/backend.ts";

/** Every `.ts` file under `dir` (repository-relative), vendored code excluded. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(REPO, dir))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory && e.name !== "vendor") out.push(...sources(path));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** The repository-relative targets of `file`'s static and dynamic relative imports (comments skipped). */
function importsOf(file: string, source = Deno.readTextFileSync(join(REPO, file))): string[] {
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  const specs = [
    ...code.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g),
  ].map((m) => m[1]);
  return specs.map((s) => relative(REPO, normalize(join(REPO, dirname(file), s))));
}

/** `lib/<folder>/...` -> folder; null outside lib. */
function folderOf(path: string): string | null {
  const m = path.match(/^lib\/([^/]+)\//);
  return m ? m[1] : null;
}

Deno.test("architecture: lib/ folders import only what comes before them in the data flow", () => {
  const bad: string[] = [];
  for (const file of sources("lib")) {
    const from = folderOf(file)!;
    assert.ok(from in MAY_IMPORT, `${file}: lib/${from}/ is not in the architecture's list of folders`);
    for (const target of importsOf(file)) {
      const to = folderOf(target);
      if (to === null || to === from) continue;
      if (file === CHOOSER && PLUGINS.includes(to)) continue;
      const file_ = target.replace(/^lib\//, "");
      if (!MAY_IMPORT[from].includes(to) && !MAY_IMPORT[from].includes(file_)) {
        bad.push(`${file} -> ${target}`);
      }
    }
  }
  assert.deepEqual(bad, [], "import edges against the rule of ARCHITECTURE.md");
});

Deno.test("architecture: only the backend chooser imports a backend plugin; models, train and ops never", () => {
  const bad: string[] = [];
  for (const file of [...sources("lib"), ...sources("labs")]) {
    if (file === CHOOSER || PLUGINS.includes(folderOf(file) ?? "")) continue;
    for (const target of importsOf(file)) {
      if (PLUGINS.includes(folderOf(target) ?? "")) bad.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(bad, []);
  // The chooser does import them (lazily), so the rule is not vacuous.
  assert.ok(importsOf(CHOOSER).includes("lib/native/mod.ts"));
});

Deno.test("architecture: the import scan sees static, dynamic and re-export edges but not comments", () => {
  const source = [
    `import { a } from "../models/mlp.ts";`,
    `export { b } from "./residual.ts";`,
    `const c = await import("../native/mod.ts");`,
    `/** import { d } from "../train/sgd.ts"; */`,
    `// import { e } from "../report/csv.ts";`,
  ].join("\n");
  assert.deepEqual(importsOf("lib/ops/probe.ts", source), [
    "lib/models/mlp.ts",
    "lib/ops/residual.ts",
    "lib/native/mod.ts",
  ]);
});

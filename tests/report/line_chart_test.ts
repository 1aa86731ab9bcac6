import assert from "node:assert/strict";
// Until deno.json maps "fast-xml-parser" (then import the bare name).
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { type ChartSpec, lineChart, niceTicks, runColor } from "../../lib/report/line_chart.ts";

type Node = Record<string, unknown>;
const asList = (v: unknown): Node[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]) as Node[];

/** Checks that `svg` is well-formed XML and returns its root `<svg>` element. */
function parseSvg(svg: string): Node {
  const valid = XMLValidator.validate(svg);
  assert.equal(valid, true, JSON.stringify(valid));
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(svg);
  assert.ok(doc.svg, "no <svg> root");
  return doc.svg as Node;
}

const texts = (root: Node) => asList(root.text).map((t) => String(t["#text"] ?? ""));
const paths = (root: Node) => asList(root.path).map((p) => String(p.d));
const numbersIn = (d: string) => (d.match(/-?[\d.]+(e-?\d+)?|NaN|Infinity/g) ?? []).map(Number);

const spec = (over: Partial<ChartSpec> = {}): ChartSpec => ({
  title: "Loss",
  xLabel: "epoch",
  yLabel: "MSE",
  series: [
    { name: "train", x: [1, 2, 3, 4], y: [4, 3, 2, 1] },
    { name: "test", x: [1, 2, 3, 4], y: [5, 4, 3, 2.5], dashed: true },
  ],
  ...over,
});

Deno.test("lineChart() returns a well-formed SVG document with title and axis labels", () => {
  const svg = lineChart(spec());
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  const root = parseSvg(svg);
  assert.equal(root.width, "720");
  assert.equal(root.height, "420");
  const t = texts(root);
  assert.ok(t.includes("Loss"));
  assert.ok(t.includes("epoch"));
  assert.ok(t.includes("MSE"));
  assert.equal(paths(root).length, 2);
  for (const d of paths(root)) assert.ok(numbersIn(d).every(Number.isFinite), d);
});

Deno.test("lineChart() draws a legend entry per series, beside the plot, never over it", () => {
  const names = ["true f(x)", "e100-lr0.01", "e1000-lr0.01", "e10000-lr0.01", "e50000-lr0.01"];
  const series = names.map((name, k) => ({ name, x: [0, 1, 2], y: [k, k + 1, k * 2] }));
  const root = parseSvg(lineChart(spec({ series })));
  const frame = asList(root.rect).find((r) => r.stroke === "#333")!;
  const plotRight = Number(frame.x) + Number(frame.width);
  for (const name of names) {
    const entry = asList(root.text).find((t) => t["#text"] === name);
    assert.ok(entry, `no legend entry for ${name}`);
    assert.ok(
      Number(entry.x) > plotRight,
      `legend ${name} at x=${entry.x} overlaps the plot (right edge ${plotRight})`,
    );
  }
  assert.equal(paths(root).length, names.length);
  // Distinct colours for the first series.
  const strokes = asList(root.path).map((p) => p.stroke);
  assert.equal(new Set(strokes).size, names.length);
});

Deno.test("lineChart() dashes the series marked dashed", () => {
  const root = parseSvg(lineChart(spec()));
  const [train, test] = asList(root.path);
  assert.equal(train["stroke-dasharray"], undefined);
  assert.equal(test["stroke-dasharray"], "6 4");
});

Deno.test("lineChart() with logY leaves out non-positive values and breaks the line there", () => {
  const series = [{ name: "loss", x: [1, 2, 3, 4, 5, 6], y: [100, 10, 0, -1, 1, 0.1], dots: true }];
  const svg = lineChart(spec({ series, logY: true }));
  const root = parseSvg(svg);
  const [d] = paths(root);
  assert.equal(d.match(/M/g)?.length, 2, d);
  assert.equal(d.match(/L/g)?.length, 2, d);
  assert.ok(numbersIn(d).every(Number.isFinite), d);
  assert.equal(asList(root.circle).length, 4);
  assert.doesNotMatch(svg, /NaN|Infinity/);
  const t = texts(root);
  for (const label of ["0.1", "1", "10", "100"]) assert.ok(t.includes(label), `no tick ${label} in ${t}`);
  assert.ok(t.includes("MSE (log scale)"));
});

Deno.test("lineChart() breaks the line at NaN values without throwing", () => {
  const series = [{ name: "s", x: [0, 1, 2, 3], y: [1, NaN, 3, 4], dots: true }];
  const svg = lineChart(spec({ series }));
  const root = parseSvg(svg);
  const [d] = paths(root);
  assert.equal(d.match(/M/g)?.length, 2, d);
  assert.equal(d.match(/L/g)?.length, 1, d);
  assert.equal(asList(root.circle).length, 3);
  assert.doesNotMatch(svg, /NaN/);
  // All NaN, empty, or no series at all: still a valid chart.
  parseSvg(lineChart(spec({ series: [{ name: "nan", x: [0, 1], y: [NaN, NaN] }] })));
  parseSvg(lineChart(spec({ series: [{ name: "diverged", x: [0, 1, 2], y: [] }] })));
  parseSvg(lineChart(spec({ series: [] })));
  parseSvg(lineChart(spec({ series: [{ name: "flat", x: [2, 2], y: [3, 3] }] })));
});

Deno.test("lineChart() leaves out points whose x is not finite", () => {
  const series = [{ name: "s", x: [0, NaN, 2, Infinity], y: [1, 2, 3, 4], dots: true }];
  const svg = lineChart(spec({ series }));
  assert.doesNotMatch(svg, /NaN|Infinity/);
  const root = parseSvg(svg);
  assert.equal(asList(root.circle).length, 2);
});

Deno.test("lineChart() draws markers inside the x range with their labels", () => {
  const markers = [{ x: 2, label: "lr 0.01" }, { x: 99, label: "outside" }];
  const root = parseSvg(lineChart(spec({ markers })));
  const dotted = asList(root.line).filter((l) => l["stroke-dasharray"] === "2 3");
  assert.equal(dotted.length, 1);
  const t = texts(root);
  assert.ok(t.includes("lr 0.01"));
  assert.ok(!t.includes("outside"));
  const frame = asList(root.rect).find((r) => r.stroke === "#333")!;
  const x = Number(dotted[0].x1);
  // x = 2 on an axis over [1, 4].
  const expected = Number(frame.x) + (2 - 1) / 3 * Number(frame.width);
  assert.ok(Math.abs(x - expected) < 0.06, `marker at ${x}, expected ${expected}`);
});

Deno.test("lineChart() honours yRange for the y ticks", () => {
  const series = [{ name: "acc", x: [1, 2, 3], y: [0.3, 0.6, 0.9] }];
  const t = texts(parseSvg(lineChart(spec({ series, yRange: [0, 1] }))));
  assert.ok(t.includes("0") && t.includes("1"), `${t}`);
});

Deno.test("lineChart() escapes text for XML", () => {
  const title = `f(x) = x<2 & x>0 ? "a" : 'b'`;
  const svg = lineChart(spec({
    title,
    xLabel: "x & y",
    series: [{ name: "<script>", x: [0, 1], y: [0, 1] }],
    markers: [{ x: 0.5, label: "a<b" }],
  }));
  assert.doesNotMatch(svg, /<script>/);
  const t = texts(parseSvg(svg));
  for (const s of [title, "x & y", "<script>", "a<b"]) assert.ok(t.includes(s), `${s} not in ${t}`);
});

Deno.test("lineChart() output renders with rsvg-convert", {
  ignore: !hasCommand("rsvg-convert"),
}, async () => {
  const svg = lineChart(spec({ logY: true, markers: [{ x: 2, label: "m" }] }));
  const child = new Deno.Command("rsvg-convert", {
    args: ["-f", "png"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(svg));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual([...out.stdout.subarray(1, 4)], [..."PNG"].map((c) => c.charCodeAt(0)));
});

function hasCommand(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test("niceTicks() matches its documented example", () => {
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
});

Deno.test("niceTicks() hits round boundaries exactly", () => {
  assert.deepEqual(niceTicks(0, 1, 6), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(-5, 5, 6), [-4, -2, 0, 2, 4]);
  assert.deepEqual(niceTicks(0, 100, 3), [0, 50, 100]);
});

Deno.test("niceTicks() gives increasing round steps of 1, 2 or 5 times a power of ten inside the range", () => {
  const ranges: [number, number][] = [
    [-5, 5],
    [0.001, 0.0123],
    [1, 1e6],
    [-1e-3, 2e-3],
    [1000, 1001],
    [0, 9],
    [3, 4.5],
  ];
  for (const [lo, hi] of ranges) {
    const t = niceTicks(lo, hi, 6);
    assert.ok(t.length >= 2, `${lo}..${hi}: ${t}`);
    const step = t[1] - t[0];
    const m = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
    assert.ok([1, 2, 5].some((k) => Math.abs(m - k) < 1e-6), `${lo}..${hi}: step ${step}`);
    for (let i = 1; i < t.length; i++) {
      assert.ok(Math.abs(t[i] - t[i - 1] - step) < step * 1e-6, `${lo}..${hi}: ${t}`);
    }
    assert.ok(t[0] >= lo - step && t.at(-1)! <= hi + step * 1e-6, `${lo}..${hi}: ${t}`);
    // Round numbers, not 0.30000000000000004.
    for (const v of t) assert.ok(String(v).length <= 12, `${lo}..${hi}: ${v}`);
  }
});

/** Runs `call(...args)` of lib/report/line_chart.ts in a worker; "timeout" when it does not return within 3 s. */
async function inWorker(call: "niceTicks" | "lineChart", args: unknown[]): Promise<unknown> {
  const chart = new URL("../../lib/report/line_chart.ts", import.meta.url).href;
  const code =
    `import * as chart from "${chart}";\nself.onmessage = (e) => self.postMessage(chart[e.data.call](...e.data.args));`;
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve("timeout"), 3000);
      worker.onmessage = (e) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      worker.postMessage({ call, args });
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}

Deno.test("niceTicks() returns for an empty range", () => {
  assert.ok(Array.isArray(niceTicks(5, 5, 5)));
});

Deno.test("niceTicks() and lineChart() return when the step is below the float spacing", async () => {
  // 1e20 and 1e20 + 16384 are adjacent doubles: a step of 5000 never advances `t += step`.
  // Run in a worker so that an endless loop fails the test instead of hanging it.
  const ticks = await inWorker("niceTicks", [1e20, 1e20 + 16384, 6]);
  assert.notEqual(ticks, "timeout", "niceTicks(1e20, 1e20 + 16384, 6) did not return within 3 s");
  assert.ok(Array.isArray(ticks) && ticks.length < 100, `${ticks}`);
  const svg = await inWorker("lineChart", [
    spec({ series: [{ name: "big", x: [0, 1], y: [1e20, 1e20 + 16384] }] }),
  ]);
  assert.notEqual(svg, "timeout", "lineChart() of y = [1e20, 1e20 + 16384] did not return within 3 s");
  parseSvg(svg as string);
});

Deno.test("lineChart() with integerX and xRange labels whole epochs over the whole range", () => {
  const root = parseSvg(lineChart(spec({
    series: [{ name: "test", x: [1, 2, 3], y: [0.4, 0.5, 0.6] }],
    xRange: [1, 10],
    integerX: true,
  })));
  // The x tick labels sit below the plot; take every label that is a number.
  const ticks = texts(root).map(Number).filter((v) => Number.isFinite(v));
  const xTicks = ticks.filter((v) => v >= 1 && Number.isInteger(v));
  assert.ok(xTicks.includes(10), `no tick at the end of the range: ${ticks}`);
  // y from 10 to 20, so every fractional label would be an x tick.
  const short = parseSvg(
    lineChart(spec({ series: [{ name: "a", x: [1, 2], y: [10, 20] }], integerX: true })),
  );
  const labels = texts(short);
  assert.ok(!labels.includes("1.5") && !labels.includes("1.2"), `fractional epoch ticks: ${labels}`);
});

Deno.test("lineChart() with tooltips titles each curve and each dot with its values", () => {
  const series = [{ name: "test <acc>", x: [1, 2], y: [50, 78.12000000000001], dots: true }];
  const svg = lineChart(spec({ series, yLabel: "accuracy (%)", tooltips: true }));
  const root = parseSvg(svg);
  assert.deepEqual(asList(root.path).map((p) => p.title), ["test <acc>"]);
  assert.deepEqual(asList(root.circle).map((c) => c.title), [
    "test <acc>: epoch 1, accuracy (%) 50",
    "test <acc>: epoch 2, accuracy (%) 78.12",
  ]);
  assert.ok(!lineChart(spec({ series })).includes("<title>"));
});

Deno.test("lineChart() names its clip path as asked, so several charts can share a page", () => {
  const svg = lineChart(spec({ clipId: "run1-loss" }));
  assert.ok(svg.includes(`<clipPath id="run1-loss">`));
  assert.ok(!svg.includes("url(#plot)"));
  assert.equal(svg.match(/clip-path="url\(#run1-loss\)"/g)?.length, 2);
});

Deno.test("lineChart() draws a series in its own colour and notes under the legend", () => {
  const svg = lineChart({
    title: "Loss",
    xLabel: "epoch",
    yLabel: "MSE",
    series: [
      { name: "a", x: [1, 2], y: [2, 1], color: runColor(2) },
      { name: "b", x: [1, 2], y: [3, 2] },
    ],
    notes: ["c: diverged at epoch 1, no fit"],
  });
  const root = parseSvg(svg);
  assert.ok(svg.includes(`stroke="${runColor(2)}"`));
  assert.ok(texts(root).includes("c: diverged at epoch 1, no fit"));
  assert.equal(paths(root).length, 2);
  assert.notEqual(runColor(0), runColor(1));
  assert.equal(runColor(8), runColor(0));
});

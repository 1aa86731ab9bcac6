import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { barChart, type BarChartSpec } from "../../lib/report/bar_chart.ts";

type Node = Record<string, unknown>;
const asList = (v: unknown): Node[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]) as Node[];

function parseSvg(svg: string): Node {
  assert.equal(XMLValidator.validate(svg), true);
  return new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(svg).svg as Node;
}
const texts = (root: Node) => asList(root.text).map((t) => String(t["#text"] ?? ""));
/** The filled bars (the frame and background are not blue). */
const bars = (root: Node) => asList(root.rect).filter((r) => r.fill === "#0072B2");

const spec = (over: Partial<BarChartSpec> = {}): BarChartSpec => ({
  title: "Test accuracy per class",
  valueLabel: "accuracy (%)",
  range: [0, 100],
  bars: [{ label: "cat", value: 25 }, { label: "dog", value: 100 }, { label: "ship", value: 0 }],
  ...over,
});

Deno.test("barChart() returns a well-formed SVG with title, value axis label and one bar per label", () => {
  const root = parseSvg(barChart(spec()));
  const t = texts(root);
  for (const s of ["Test accuracy per class", "accuracy (%)", "cat", "dog", "ship", "25", "100", "0"]) {
    assert.ok(t.includes(s), s);
  }
  assert.equal(bars(root).length, 3);
  assert.equal(root.width, "720");
});

Deno.test("barChart() scales bars to the range and keeps labels and values inside the picture", () => {
  const root = parseSvg(barChart(spec()));
  const [cat, dog, ship] = bars(root).map((r) => Number(r.width));
  assert.ok(Math.abs(cat / dog - 0.25) < 1e-2, `${cat} / ${dog}`);
  assert.equal(ship, 0);
  const frame = asList(root.rect).find((r) => r.stroke === "#333")!;
  const right = Number(frame.x) + Number(frame.width);
  assert.ok(Number(root.width) - right >= 40, "room for the value past the longest bar");
  for (const t of asList(root.text)) assert.ok(Number(t.x) >= 0 && Number(t.x) <= Number(root.width));
});

Deno.test("barChart() grows in height with the number of bars", () => {
  const few = Number(parseSvg(barChart(spec())).height);
  const many = spec({ bars: Array.from({ length: 10 }, (_, i) => ({ label: `c${i}`, value: i })) });
  assert.ok(Number(parseSvg(barChart(many)).height) > few);
});

Deno.test("barChart() formats values and ticks, escapes labels and skips non-finite values", () => {
  const svg = barChart(spec({
    bars: [{ label: "a<b & c", value: 61.25 }, { label: "none", value: NaN }],
    format: (v) => `${v.toFixed(1)}%`,
    tickFormat: (v) => `${v}`,
  }));
  const root = parseSvg(svg);
  const t = texts(root);
  assert.ok(svg.includes("a&lt;b &amp; c"));
  assert.ok(t.includes("61.3%") || t.includes("61.2%"));
  assert.ok(t.includes("20") && !t.includes("20.0%"));
  assert.equal(bars(root).length, 1);
});

Deno.test("barChart() without a range spans zero to the largest value on round ticks", () => {
  const root = parseSvg(barChart(spec({ range: undefined, bars: [{ label: "a", value: 7 }] })));
  const t = texts(root);
  assert.ok(t.includes("0") && t.includes("8"), t.join());
});

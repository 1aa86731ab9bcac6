/**
 * Horizontal bar charts as standalone SVG text, for lab reports (e.g. test
 * accuracy per class): one labelled bar per category, its value printed at
 * the bar's end, round ticks on the value axis. Same look as
 * {@linkcode lineChart}. Pure: data in, string out.
 *
 * @module
 */
import { plotFrame, xGridLine } from "./plot_frame.ts";
import { coord, escapeXml, FONT, svgHead } from "./svg.ts";
import { niceTicks } from "./line_chart.ts";

/** One bar. */
export interface Bar {
  /** The category, written left of the bar. */
  label: string;
  /** The bar's length on the value axis; a non-finite value draws no bar. */
  value: number;
}

/** What to draw. */
export interface BarChartSpec {
  /** Written above the chart. */
  title: string;
  /** Names the value axis, with its unit, e.g. "test accuracy (%)". */
  valueLabel: string;
  /** One per category, drawn top to bottom. */
  bars: Bar[];
  /** Fixed value range, e.g. [0, 100] for percentages. Default: 0 to the data's maximum. */
  range?: [number, number];
  /** Text of a value at a bar's end. @default {4 significant digits} */
  format?: (value: number) => string;
  /** Text of a tick on the value axis. @default {4 significant digits} */
  tickFormat?: (value: number) => string;
  /** Width in pixels. @default {720} */
  width?: number;
}

const BAR_COLOR = "#0072B2"; // Okabe-Ito blue, as in lineChart's palette
const ROW = 26; // pixels per bar, bar plus gap

/**
 * Renders `spec` as an SVG document; its height grows with the number of bars.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { barChart } from "./bar_chart.ts";
 * const svg = barChart({
 *   title: "Test accuracy per class", valueLabel: "accuracy (%)", range: [0, 100],
 *   bars: [{ label: "cat", value: 61.5 }, { label: "dog", value: 70.2 }],
 * });
 * assert.match(svg, /^<svg /);
 * assert.equal(svg.match(/<rect [^>]*fill="#0072B2"/g)?.length, 2); // one bar each
 * assert.match(svg, />70.2<\/text>/); // the value at the bar's end
 * ```
 */
export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 720;
  const format = spec.format ?? fmt;
  const tickFormat = spec.tickFormat ?? fmt;
  const longest = Math.max(4, ...spec.bars.map((b) => b.label.length));
  const plot = {
    left: Math.min(260, 24 + 7 * longest),
    top: 44,
    right: width - 64, // room for the value printed past the longest bar
    bottom: 44 + Math.max(1, spec.bars.length) * ROW + 8,
  };
  const height = plot.bottom + 52;
  const finite = spec.bars.map((b) => b.value).filter(Number.isFinite);
  let [v0, v1] = spec.range ?? [Math.min(0, ...finite), Math.max(0, ...finite)];
  if (v1 === v0) v1 = v0 + 1;
  const ticks = niceTicks(v0, v1, 6);
  if (!spec.range) {
    // End the axis on a round tick at or past the longest bar.
    const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
    if (ticks.at(-1)! < v1) ticks.push(Number((ticks.at(-1)! + step).toPrecision(12)));
    [v0, v1] = [Math.min(v0, ticks[0]), ticks.at(-1)!];
  }
  const px = (v: number) =>
    plot.left + (Math.min(Math.max(v, v0), v1) - v0) / (v1 - v0) * (plot.right - plot.left);

  const out: string[] = [
    ...svgHead(width, height, spec.title),
  ];
  for (const t of ticks) {
    if (t < v0 - 1e-9 || t > v1 + 1e-9) continue;
    out.push(...xGridLine(plot, px(t), tickFormat(t)));
  }
  spec.bars.forEach((b, k) => {
    const mid = plot.top + 4 + k * ROW + ROW / 2;
    out.push(
      `<text x="${plot.left - 8}" y="${coord(mid + 4)}" text-anchor="end" font-size="12" ${FONT}>${
        escapeXml(b.label)
      }</text>`,
    );
    if (!Number.isFinite(b.value)) return;
    const x0 = px(Math.max(v0, 0));
    const x1 = px(b.value);
    out.push(
      `<rect x="${coord(Math.min(x0, x1))}" y="${coord(mid - ROW * 0.35)}" width="${
        coord(Math.abs(x1 - x0))
      }" height="${coord(ROW * 0.7)}" fill="${BAR_COLOR}"/>`,
      `<text x="${coord(Math.max(x0, x1) + 5)}" y="${coord(mid + 4)}" font-size="12" ${FONT}>${
        escapeXml(format(b.value))
      }</text>`,
    );
  });
  out.push(...plotFrame(plot, height, { x: spec.valueLabel }), `</svg>`);
  return out.join("\n") + "\n";
}

function fmt(v: number): string {
  return String(Number(v.toPrecision(4)));
}

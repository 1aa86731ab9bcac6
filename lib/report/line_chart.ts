/**
 * Line charts as standalone SVG text, for lab reports: title, labelled axes
 * with round ticks, a legend beside the plot (never over the curves), optional
 * log-scaled y and vertical markers (e.g. where the learning rate changes).
 * Pure: data in, string out.
 *
 * @module
 */
import { plotFrame, xGridLine, yGridLine } from "./plot_frame.ts";
import { coord, escapeXml, FONT, svgHead } from "./svg.ts";

/** One curve. */
export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** Draw dashed (e.g. the true function under fitted ones). @default {false} */
  dashed?: boolean;
  /** Draw a dot at each point (few points, e.g. per-epoch accuracy). @default {false} */
  dots?: boolean;
  /**
   * The curve's colour, e.g. {@linkcode runColor} of the run's index, so that a
   * run keeps its colour across the charts of a study. @default {by position}
   */
  color?: string;
}

/** A vertical line at `x` with a label, e.g. a learning-rate change. */
export interface Marker {
  x: number;
  label: string;
}

/** What to draw. */
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic y axis; non-positive values are left out. @default {false} */
  logY?: boolean;
  markers?: Marker[];
  /** Fixed y range, e.g. [0, 1] for accuracy. Default: the data's range. */
  yRange?: [number, number];
  /** Fixed x range, e.g. every epoch of a schedule. Default: the data's range. */
  xRange?: [number, number];
  /** Only whole-number x ticks (epochs). @default {false} */
  integerX?: boolean;
  /**
   * Lines of grey text under the legend, e.g. for a run with nothing to
   * draw ("lr-1: diverged at epoch 3, no curve"). @default {[]}
   */
  notes?: string[];
  /**
   * Hover text for a browser: each curve carries a `<title>` with its name and
   * each dot one with its series, x and y. @default {false}
   */
  tooltips?: boolean;
  /**
   * Id of the plot's clip path; give each chart its own when several are
   * inlined in one HTML page, where ids are shared. @default {"plot"}
   */
  clipId?: string;
  /** @default {720} */
  width?: number;
  /** @default {420} */
  height?: number;
}

// Colour-blind-safe palette (Okabe-Ito), black first for the reference curve.
const COLORS = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442"];
// The same palette for the runs of a study, most distinct first: blue, vermillion, green, purple...
const RUN_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

/**
 * The colour of run `index` of a study (0-based), the same in every chart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runColor } from "./line_chart.ts";
 * assert.equal(runColor(0), "#0072B2");
 * assert.notEqual(runColor(1), runColor(0));
 * ```
 */
export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length];
}

/**
 * Renders `spec` as an SVG document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineChart } from "./line_chart.ts";
 * const svg = lineChart({
 *   title: "Loss", xLabel: "epoch", yLabel: "MSE", logY: true, integerX: true,
 *   series: [{ name: "train", x: [1, 2, 3], y: [3, 2, 1] }],
 *   markers: [{ x: 2, label: "lr 0.01" }],
 * });
 * assert.match(svg, /^<svg /);
 * assert.match(svg, />train<\/text>/); // the legend
 * assert.match(svg, />lr 0.01<\/text>/); // the marker
 * assert.match(svg, /MSE \(log scale\)/);
 * ```
 */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 720;
  const height = spec.height ?? 420;
  const legendWidth = Math.min(
    220,
    40 +
      7 *
        Math.max(
          ...spec.series.map((s) => s.name.length),
          ...(spec.notes ?? []).map((n) => n.length - 6),
          4,
        ),
  );
  const plot = { left: 72, top: 44, right: width - legendWidth - 16, bottom: height - 56 };
  const ty = (v: number) => (spec.logY ? Math.log10(v) : v);
  const usable = (v: number) => Number.isFinite(v) && (!spec.logY || v > 0);

  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of spec.series) {
    for (let i = 0; i < s.x.length; i++) {
      if (!usable(s.y[i]) || !Number.isFinite(s.x[i])) continue;
      x0 = Math.min(x0, s.x[i]);
      x1 = Math.max(x1, s.x[i]);
      y0 = Math.min(y0, ty(s.y[i]));
      y1 = Math.max(y1, ty(s.y[i]));
    }
  }
  if (!Number.isFinite(x0)) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (spec.yRange) [y0, y1] = spec.yRange.map(ty) as [number, number];
  if (spec.xRange) [x0, x1] = spec.xRange;
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
  const xTicks = spec.integerX
    ? niceTicks(x0, x1, 6).filter(Number.isInteger).concat(x1 - x0 < 2 ? [Math.ceil(x0), Math.floor(x1)] : [])
      .filter((t, i, all) => all.indexOf(t) === i && t >= x0 && t <= x1).sort((a, b) => a - b)
    : niceTicks(x0, x1, 6);
  const yTicks = spec.logY ? logTicks(y0, y1) : niceTicks(y0, y1, 6);
  if (!spec.yRange && !spec.logY) [y0, y1] = [Math.min(y0, yTicks[0]), Math.max(y1, yTicks.at(-1)!)];
  const px = (v: number) => plot.left + (v - x0) / (x1 - x0) * (plot.right - plot.left);
  const py = (v: number) => plot.bottom - (v - y0) / (y1 - y0) * (plot.bottom - plot.top);

  const out: string[] = [];
  out.push(
    ...svgHead(width, height, spec.title),
  );
  for (const t of xTicks) out.push(...xGridLine(plot, px(t), fmt(t)));
  for (const t of yTicks) {
    if (t < y0 - 1e-9 || t > y1 + 1e-9) continue;
    out.push(...yGridLine(plot, py(t), spec.logY ? fmt(10 ** t) : fmt(t)));
  }
  out.push(
    ...plotFrame(plot, height, { x: spec.xLabel, y: spec.yLabel + (spec.logY ? " (log scale)" : "") }),
  );
  for (const m of spec.markers ?? []) {
    if (m.x < x0 || m.x > x1) continue;
    const x = coord(px(m.x));
    out.push(
      `<line x1="${x}" y1="${plot.top}" x2="${x}" y2="${plot.bottom}" stroke="#888" stroke-dasharray="2 3"/>`,
      `<text x="${x}" y="${plot.top - 6}" text-anchor="middle" font-size="11" fill="#555" ${FONT}>${
        escapeXml(m.label)
      }</text>`,
    );
  }
  const clipId = escapeXml(spec.clipId ?? "plot");
  out.push(
    `<clipPath id="${clipId}"><rect x="${plot.left}" y="${plot.top}" width="${
      plot.right - plot.left
    }" height="${plot.bottom - plot.top}"/></clipPath>`,
  );
  spec.series.forEach((s, k) => {
    const color = s.color ?? COLORS[k % COLORS.length];
    const path: string[] = [];
    let pen = "M";
    for (let i = 0; i < s.x.length; i++) {
      if (!usable(s.y[i]) || !Number.isFinite(s.x[i])) {
        pen = "M";
        continue;
      }
      path.push(`${pen}${coord(px(s.x[i]))},${coord(py(ty(s.y[i])))}`);
      pen = "L";
    }
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const name = escapeXml(s.name);
    const attrs = `d="${path.join("")}" fill="none" stroke="${color}" stroke-width="${
      s.dashed ? 2.5 : 1.8
    }"${dash} clip-path="url(#${clipId})"`;
    out.push(spec.tooltips ? `<path ${attrs}><title>${name}</title></path>` : `<path ${attrs}/>`);
    if (s.dots) {
      for (let i = 0; i < s.x.length; i++) {
        if (usable(s.y[i]) && Number.isFinite(s.x[i])) {
          const dot = `<circle cx="${coord(px(s.x[i]))}" cy="${coord(py(ty(s.y[i])))}" r="3" fill="${color}"`;
          out.push(
            spec.tooltips
              ? `${dot}><title>${name}: ${escapeXml(spec.xLabel)} ${exact(s.x[i])}, ${
                escapeXml(spec.yLabel)
              } ${exact(s.y[i])}</title></circle>`
              : `${dot}/>`,
          );
        }
      }
    }
    const ly = plot.top + 10 + k * 20;
    out.push(
      `<line x1="${plot.right + 14}" y1="${ly}" x2="${
        plot.right + 40
      }" y2="${ly}" stroke="${color}" stroke-width="2.5"${dash}/>`,
      `<text x="${plot.right + 46}" y="${ly + 4}" font-size="12" ${FONT}>${escapeXml(s.name)}</text>`,
    );
  });
  (spec.notes ?? []).forEach((note, i) => {
    const ny = plot.top + 14 + (spec.series.length + i) * 20;
    out.push(
      `<text x="${plot.right + 14}" y="${ny}" font-size="11" fill="#666" ${FONT}>${escapeXml(note)}</text>`,
    );
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/**
 * About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5
 * times a power of ten).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { niceTicks } from "./line_chart.ts";
 * assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
 * assert.deepEqual(niceTicks(0.013, 0.048, 4), [0.02, 0.03, 0.04]); // not 0.030000000000000002
 * ```
 */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // No round step fits (empty range, or a step below the float spacing).
  if (!(step > 0) || !Number.isFinite(step) || lo + step === lo || hi - step === hi) return [];
  const ticks: number[] = [];
  const first = Math.floor(lo / step);
  for (let i = 0; (first + i) * step <= hi + step * 1e-9 && i <= 1000; i++) {
    ticks.push(Number(((first + i) * step).toPrecision(12)));
  }
  if (ticks[0] < lo - step * 1e-9 && ticks.length > 2) ticks.shift();
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let t = Math.ceil(lo); t <= Math.floor(hi); t++) ticks.push(t);
  return ticks.length >= 2 ? ticks : niceTicks(lo, hi, 4);
}

/** A data value for hover text: 6 significant digits, without float noise (78.12, not 78.12000000000001). */
function exact(v: number): string {
  return String(Number(v.toPrecision(6)));
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/**
 * The frame around a chart's plot area, the same in every chart kind: grid
 * lines with their tick labels, the plot's border and the axis labels.
 * Pure: pixel positions and text in, SVG lines out.
 *
 * @module
 */
import { coord, escapeXml, FONT } from "./svg.ts";

/** The plot area's edges in pixels (y grows downwards). */
export interface PlotArea {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * A vertical grid line at pixel `x` and its tick `label` (SVG text, not
 * escaped) under the plot.
 *
 * @example
 * ```ts
 * import { xGridLine } from "./plot_frame.ts";
 * const [line, text] = xGridLine({ left: 40, top: 40, right: 360, bottom: 260 }, 100, "0.5");
 * console.assert(line.startsWith(`<line x1="100.0"`) && text.endsWith(">0.5</text>"));
 * ```
 */
export function xGridLine(plot: PlotArea, x: number, label: string): string[] {
  const at = coord(x);
  return [
    `<line x1="${at}" y1="${plot.top}" x2="${at}" y2="${plot.bottom}" stroke="#e5e5e5"/>`,
    `<text x="${at}" y="${plot.bottom + 18}" text-anchor="middle" font-size="12" ${FONT}>${label}</text>`,
  ];
}

/**
 * A horizontal grid line at pixel `y` and its tick `label` (SVG text, not
 * escaped) left of the plot.
 *
 * @example
 * ```ts
 * import { yGridLine } from "./plot_frame.ts";
 * const [line, text] = yGridLine({ left: 40, top: 40, right: 360, bottom: 260 }, 100, "2");
 * console.assert(line.includes(`y1="100.0"`) && text.includes(`text-anchor="end"`));
 * ```
 */
export function yGridLine(plot: PlotArea, y: number, label: string): string[] {
  return [
    `<line x1="${plot.left}" y1="${coord(y)}" x2="${plot.right}" y2="${coord(y)}" stroke="#e5e5e5"/>`,
    `<text x="${plot.left - 6}" y="${coord(y + 4)}" text-anchor="end" font-size="12" ${FONT}>${label}</text>`,
  ];
}

/** The axis labels of {@linkcode plotFrame}. */
export interface AxisLabels {
  /** Centred under the plot, 14 px above the chart's bottom edge. */
  x: string;
  /** Written upwards left of the plot; none when left out. */
  y?: string;
}

/**
 * The plot's border and its axis labels (escaped here), for a chart
 * `height` pixels tall.
 *
 * @example
 * ```ts
 * import { plotFrame } from "./plot_frame.ts";
 * const [border, x, y] = plotFrame({ left: 40, top: 40, right: 360, bottom: 260 }, 300, { x: "epoch", y: "loss" });
 * console.assert(border.startsWith("<rect") && x.includes(">epoch<") && y.includes("rotate(-90)"));
 * ```
 */
export function plotFrame(plot: PlotArea, height: number, labels: AxisLabels): string[] {
  const lines = [
    `<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${
      plot.bottom - plot.top
    }" fill="none" stroke="#333"/>`,
    `<text x="${(plot.left + plot.right) / 2}" y="${
      height - 14
    }" text-anchor="middle" font-size="13" ${FONT}>${escapeXml(labels.x)}</text>`,
  ];
  if (labels.y !== undefined) {
    lines.push(
      `<text transform="translate(18 ${
        (plot.top + plot.bottom) / 2
      }) rotate(-90)" text-anchor="middle" font-size="13" ${FONT}>${escapeXml(labels.y)}</text>`,
    );
  }
  return lines;
}

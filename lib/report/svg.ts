/**
 * The pieces every chart's SVG shares: the document head (white page and a
 * bold centred title), the font, XML escaping and coordinate formatting.
 * Pure: strings in, strings out.
 *
 * @module
 */

/** Font attribute used by every chart's text. */
export const FONT = `font-family="Helvetica, Arial, sans-serif"`;

/**
 * Escapes text for SVG content and attribute values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeXml } from "./svg.ts";
 * assert.equal(escapeXml(`lr < 0.1 & "fast"`), "lr &lt; 0.1 &amp; &quot;fast&quot;");
 * ```
 */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * A coordinate with one decimal, enough for screen and print.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { coord } from "./svg.ts";
 * assert.equal(coord(12.345), "12.3");
 * assert.equal(coord(40), "40.0");
 * ```
 */
export function coord(v: number): string {
  return v.toFixed(1);
}

/**
 * The opening lines of a chart: the `<svg>` element, a white background and
 * the title. Close with `</svg>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { svgHead } from "./svg.ts";
 * const svg = [...svgHead(400, 300, "Loss"), "</svg>"].join("\n");
 * assert.match(svg, /^<svg [^>]*width="400" height="300"/);
 * assert.match(svg, />Loss<\/text>/);
 * ```
 */
export function svgHead(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${
      escapeXml(title)
    }</text>`,
  ];
}

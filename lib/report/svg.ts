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
 * import { escapeXml } from "./svg.ts";
 * console.assert(escapeXml("a < b") === "a &lt; b");
 * ```
 */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A coordinate with one decimal, enough for screen and print. */
export function coord(v: number): string {
  return v.toFixed(1);
}

/**
 * The opening lines of a chart: the `<svg>` element, a white background and
 * the title. Close with `</svg>`.
 *
 * @example
 * ```ts
 * import { svgHead } from "./svg.ts";
 * const lines = [...svgHead(400, 300, "Loss"), "</svg>"];
 * console.assert(lines[0].startsWith("<svg"));
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

import assert from "node:assert/strict";
import { FONT } from "../../lib/report/svg.ts";
import { plotFrame, xGridLine, yGridLine } from "../../lib/report/plot_frame.ts";

const PLOT = { left: 40, top: 30, right: 360, bottom: 250 };

Deno.test("xGridLine() draws a vertical grid line and its tick label under the plot", () => {
  assert.deepEqual(xGridLine(PLOT, 100.25, "0.5"), [
    `<line x1="100.3" y1="30" x2="100.3" y2="250" stroke="#e5e5e5"/>`,
    `<text x="100.3" y="268" text-anchor="middle" font-size="12" ${FONT}>0.5</text>`,
  ]);
});

Deno.test("yGridLine() draws a horizontal grid line and its tick label left of the plot", () => {
  assert.deepEqual(yGridLine(PLOT, 99.96, "2"), [
    `<line x1="40" y1="100.0" x2="360" y2="100.0" stroke="#e5e5e5"/>`,
    `<text x="34" y="104.0" text-anchor="end" font-size="12" ${FONT}>2</text>`,
  ]);
});

Deno.test("plotFrame() draws the border and escaped axis labels, the y label only when given", () => {
  const border = `<rect x="40" y="30" width="320" height="220" fill="none" stroke="#333"/>`;
  const x = `<text x="200" y="286" text-anchor="middle" font-size="13" ${FONT}>epoch &lt;n&gt;</text>`;
  assert.deepEqual(plotFrame(PLOT, 300, { x: "epoch <n>" }), [border, x]);
  assert.deepEqual(plotFrame(PLOT, 300, { x: "epoch <n>", y: "loss & co" }), [
    border,
    x,
    `<text transform="translate(18 140) rotate(-90)" text-anchor="middle" font-size="13" ${FONT}>loss &amp; co</text>`,
  ]);
});

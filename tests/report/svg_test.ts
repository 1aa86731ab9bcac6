import assert from "node:assert/strict";
import { coord, escapeXml, FONT, svgHead } from "../../lib/report/svg.ts";

Deno.test("escapeXml() escapes the characters that break SVG text and attributes", () => {
  assert.equal(escapeXml(`a<b & "c">d`), "a&lt;b &amp; &quot;c&quot;&gt;d");
  assert.equal(escapeXml("plain"), "plain");
});

Deno.test("coord() writes one decimal", () => {
  assert.equal(coord(1), "1.0");
  assert.equal(coord(2.345), "2.3");
});

Deno.test("svgHead() opens a white, titled document of the given size", () => {
  const [svg, rect, title] = svgHead(400, 300, "f(x) < 1");
  assert.match(
    svg,
    /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="400" height="300" viewBox="0 0 400 300">$/,
  );
  assert.equal(rect, `<rect width="100%" height="100%" fill="white"/>`);
  assert.ok(title.includes(FONT) && title.includes("f(x) &lt; 1") && title.includes(`x="200"`));
});

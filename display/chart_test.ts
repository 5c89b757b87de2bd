import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { resetAssets } from "./assets.ts";
import {
  chart,
  isVegaLiteSpec,
  VEGALITE_MIME,
  vegaLiteToMimeBundle,
  vegaLiteToSvg,
} from "./chart.ts";
import { JUPYTER_DISPLAY } from "./mime.ts";
import { hasChromium, notebookPage, withPage } from "./browser.ts";

const BAR = {
  mark: "bar",
  encoding: { x: { field: "a", type: "nominal" }, y: { field: "b", type: "quantitative" } },
};

Deno.test("a chart of rows has the Vega-Lite spec, self-contained HTML and a static SVG", async () => {
  resetAssets();
  const b = await chart([{ a: "x", b: 1 }, { a: "y", b: 3 }], BAR).toMimeBundle();
  const spec = b.data[VEGALITE_MIME] as { data: { values: unknown[] }; $schema: string };
  assert.deepEqual(spec.data.values, [{ a: "x", b: 1 }, { a: "y", b: 3 }]);
  assert.match(spec.$schema, /vega-lite/);
  const svg = String(b.data["image/svg+xml"]);
  assert.match(svg, /^<svg/);
  assert.equal(
    (svg.match(/<path[^>]*role="graphics-symbol"|class="mark-rect/g) ?? []).length > 0,
    true,
  );
  const html = String(b.data["text/html"]);
  assert.match(html, /__fusedVega/);
  assert.doesNotMatch(html, /<script[^>]+src=/);
  assert.doesNotMatch(html, /cdn\.jsdelivr|unpkg\.com/);
  assert.ok(html.length > 500_000, "the vega libraries are inlined");
  // The static SVG sits in the HTML as a data-URI image, which sanitizers keep (not as <svg>).
  const img = html.match(/<img src="data:image\/svg\+xml;base64,([^"]+)" alt="([^"]+)">/);
  assert.ok(img, "the HTML holds the static chart as an image");
  assert.equal(atob(img[1]), svg);
  assert.equal(img[2], "Vega-Lite chart (bar mark)");
  assert.doesNotMatch(html, /<svg/);
});

Deno.test("a chart of an Arrow table inlines its rows, BigInt as numbers", async () => {
  const t = arrow.tableFromArrays({ a: ["x", "y"], b: BigInt64Array.from([5n, 7n]) });
  const c = chart(t, BAR);
  assert.deepEqual((c.spec.data as { values: unknown[] }).values, [{ a: "x", b: 5 }, {
    a: "y",
    b: 7,
  }]);
  const data = await c[JUPYTER_DISPLAY]();
  assert.match(String(data["image/svg+xml"]), /^<svg/);
});

Deno.test("chart data is capped with a visible subtitle", () => {
  const rows = Array.from({ length: 50 }, (_, i) => ({ a: String(i), b: i }));
  const c = chart(rows, { ...BAR, title: "T" }, { maxRows: 10 });
  assert.equal((c.spec.data as { values: unknown[] }).values.length, 10);
  assert.deepEqual(c.spec.title, {
    text: "T",
    subtitle: "Showing the first 10 of 50 rows (chart data is capped; pass maxRows to change)",
  });
});

Deno.test("only the first chart of a session carries the vega libraries in once mode", async () => {
  resetAssets();
  const first = await vegaLiteToMimeBundle({ ...BAR, data: { values: [] } }, { svg: false });
  const second = await vegaLiteToMimeBundle({ ...BAR, data: { values: [] } }, { svg: false });
  const inline = await vegaLiteToMimeBundle({ ...BAR, data: { values: [] } }, {
    svg: false,
    assets: "inline",
  });
  assert.ok(String(first.data["text/html"]).length > 500_000);
  assert.ok(String(second.data["text/html"]).length < 5_000);
  assert.match(String(second.data["text/html"]), /__fusedVegaQueue/);
  assert.ok(String(inline.data["text/html"]).length > 500_000);
});

Deno.test("a spec's text cannot close the script element it is embedded in", async () => {
  const b = await vegaLiteToMimeBundle(
    { ...BAR, data: { values: [{ a: "</script><img src=x onerror=alert(1)>", b: 1 }] } },
    { svg: false, assets: "once" },
  );
  const html = String(b.data["text/html"]);
  assert.doesNotMatch(html, /<\/script><img/);
});

Deno.test("raw Vega-Lite specs are recognised by their $schema", () => {
  assert.equal(
    isVegaLiteSpec({ $schema: "https://vega.github.io/schema/vega-lite/v5.json" }),
    true,
  );
  assert.equal(isVegaLiteSpec({ $schema: "https://vega.github.io/schema/vega/v5.json" }), false);
  assert.equal(isVegaLiteSpec({ mark: "bar" }), false);
});

Deno.test("an invalid spec is refused with a clear error", async () => {
  await assert.rejects(
    () => vegaLiteToSvg({ mark: "nonsense-mark" }),
    /Vega-Lite spec is not valid|nonsense/,
  );
});

Deno.test({
  name: "two charts render offline in headless Chromium from one inlined copy of vega",
  ignore: !hasChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    resetAssets();
    const a = await chart([{ a: "x", b: 1 }, { a: "y", b: 3 }], BAR).toMimeBundle();
    const b = await chart([{ a: "z", b: 2 }], BAR).toMimeBundle();
    await withPage(
      notebookPage([String(a.data["text/html"]), String(b.data["text/html"])]),
      async ({ page, blocked, errors }) => {
        await page.waitForFunction(
          () =>
            // deno-lint-ignore no-explicit-any
            (globalThis as any).document.querySelectorAll(".fused-chart[data-rendered=true]")
              .length === 2,
          null,
          { timeout: 30_000 },
        );
        const marks = await page.locator(".fused-chart .mark-rect path").count();
        assert.equal(marks, 3);
        await page.locator(".fused-chart").first().screenshot({
          path: "tests/artifacts/chart.png",
        });
        assert.deepEqual(blocked, []);
        assert.deepEqual(errors, []);
      },
    );
  },
});

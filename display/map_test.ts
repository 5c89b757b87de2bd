import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { Buffer } from "node:buffer";
import { ipcToTable } from "../client/formats/arrow.ts";
import { tableFromGeoJSON } from "../client/formats/geo.ts";
import { rasterToPNG } from "../client/formats/png.ts";
import { Raster } from "../client/formats/raster.ts";
import type { GeoJsonFeatureCollection } from "../client/formats/geo.ts";
import { feature } from "topojson-client";
import { decode } from "fast-png";
import { packageFile, resetAssets } from "./assets.ts";
import {
  isGeoJson,
  isGeoTable,
  isTileTemplate,
  mapToMimeBundle,
  mapToSvg,
  prepareMap,
} from "./map.ts";
import { hasChromium, notebookPage, screenshotColours, waitForMap, withPage } from "./browser.ts";

const FEATURES: GeoJsonFeatureCollection = {
  type: "FeatureCollection",
  features: [
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [2.35, 48.86] },
      properties: { name: "Paris", pop: 2.1 },
    },
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [13.4, 52.52] },
      properties: { name: "Berlin", pop: 3.6 },
    },
    {
      type: "Feature",
      geometry: { type: "LineString", coordinates: [[2.35, 48.86], [13.4, 52.52]] },
      properties: { name: "route", pop: 0 },
    },
    {
      type: "Feature",
      geometry: {
        type: "Polygon",
        coordinates: [[[5, 45], [10, 45], [10, 47.5], [5, 47.5], [5, 45]]],
      },
      properties: { name: "<b>alps</b>", pop: 1 },
    },
  ],
};

function mapId(bundle: { metadata?: Record<string, unknown> }): string {
  return (bundle.metadata?.["text/html"] as Record<string, { id: string }>)["fused:map"].id;
}

function randomPoints(n: number): arrow.Table {
  const lon = new Float64Array(n), lat = new Float64Array(n), v = new Float64Array(n);
  let seed = 42;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < n; i++) {
    lon[i] = -10 + rnd() * 40;
    lat[i] = 35 + rnd() * 25;
    v[i] = lon[i];
  }
  return arrow.tableFromArrays({ lon, lat, v });
}

Deno.test("a geo table splits into points (typed columns) and shapes (WKB) with fitted bounds", () => {
  const p = prepareMap(tableFromGeoJSON(FEATURES));
  assert.equal(p.pointCount, 2);
  assert.equal(p.shapeCount, 2);
  assert.deepEqual(p.bounds, [2.35, 45, 13.4, 52.52]);
  const points = ipcToTable(p.points!);
  assert.deepEqual([...points.getChild("__x")!.toArray()], [2.35, 13.4]);
  assert.deepEqual(points.schema.fields.map((f) => f.name).sort(), [
    "__rgba",
    "__x",
    "__y",
    "name",
    "pop",
  ]);
  const shapes = ipcToTable(p.shapes!);
  assert.deepEqual(shapes.getChild("name")!.toArray(), ["route", "<b>alps</b>"]);
  assert.equal(shapes.getChild("__wkb")!.get(0)![0], 1);
});

Deno.test("lon/lat columns make a point map", () => {
  const p = prepareMap(randomPoints(100));
  assert.equal(p.pointCount, 100);
  assert.equal(p.shapeCount, 0);
  assert.ok(p.bounds[0] >= -10 && p.bounds[2] <= 30);
});

Deno.test("colouring by a numeric column uses a ramp and a legend with its range", () => {
  const p = prepareMap(tableFromGeoJSON(FEATURES), { color: "pop" });
  assert.match(p.legend!, /<b>pop<\/b>/);
  assert.match(p.legend!, /<span>0<\/span><span>3\.6<\/span>/);
  const rgba = ipcToTable(p.points!).getChild("__rgba")!.toArray() as Uint32Array;
  assert.notEqual(rgba[0], rgba[1]);
});

Deno.test("colouring by a text column uses a palette with escaped legend entries", () => {
  const p = prepareMap(tableFromGeoJSON(FEATURES), { color: "name" });
  assert.match(p.legend!, /&lt;b&gt;alps&lt;\/b&gt;/);
  const colours = ipcToTable(p.shapes!).getChild("__color")!.toArray();
  assert.notEqual(colours[0], colours[1]);
});

Deno.test("colouring by a missing column names the columns there are", () => {
  assert.throws(
    () => prepareMap(tableFromGeoJSON(FEATURES), { color: "nope" }),
    /no such column.*name, pop/,
  );
});

Deno.test("embedded data is capped with a note saying what was cut", () => {
  const b = mapToMimeBundle(randomPoints(1000), { maxFeatures: 100, assets: "once", svg: false });
  assert.match(String(b.data["text/html"]), /Showing 100 of 1,000 features/);
  assert.match(String(b.data["text/plain"]), /Showing 100 of 1,000 features/);
  const meta =
    (b.metadata?.["text/html"] as Record<string, { embeddedFeatures: number; truncated: boolean }>)[
      "fused:map"
    ];
  assert.equal(meta.embeddedFeatures, 100);
  assert.equal(meta.truncated, true);
});

Deno.test("the byte cap also limits embedded features", () => {
  const p = prepareMap(randomPoints(10_000), { maxBytes: 24 * 1000 });
  assert.ok(p.embeddedFeatures <= 1000 && p.embeddedFeatures > 0, `${p.embeddedFeatures}`);
  assert.match(p.note!, /capped/);
});

Deno.test("GeoJSON, tile templates and geo tables are recognised", () => {
  assert.equal(isGeoJson(FEATURES), true);
  assert.equal(isGeoJson({ type: "Point", coordinates: [0, 0] }), true);
  assert.equal(isGeoJson({ type: "Point" }), false);
  assert.equal(isTileTemplate("http://127.0.0.1:1/t/{z}/{x}/{y}.png"), true);
  assert.equal(isTileTemplate("http://127.0.0.1:1/t.png"), false);
  assert.equal(isGeoTable(tableFromGeoJSON(FEATURES)), true);
  assert.equal(isGeoTable(arrow.tableFromArrays({ a: Int32Array.from([1]) })), false);
});

Deno.test("a table without geometry is refused with a clear error", () => {
  assert.throws(
    () => prepareMap(arrow.tableFromArrays({ a: Int32Array.from([1]) })),
    /The table has no geometry: add a WKB column/,
  );
});

Deno.test("the static SVG draws land, shapes and points", () => {
  const svg = mapToSvg(prepareMap(tableFromGeoJSON(FEATURES)));
  assert.match(svg, /^<svg xmlns/);
  assert.match(svg, /fill="#f4f2ee"/); // land
  assert.equal((svg.match(/<circle/g) ?? []).length, 2);
  assert.equal((svg.match(/<path/g) ?? []).length, 3); // land + line + polygon
});

Deno.test("the map bundle has html, svg and text, and only the first map carries MapLibre", () => {
  resetAssets();
  const first = mapToMimeBundle(FEATURES);
  const second = mapToMimeBundle(FEATURES);
  const html1 = String(first.data["text/html"]);
  const html2 = String(second.data["text/html"]);
  assert.ok(html1.length > 1_500_000, "MapLibre is inlined in the first map");
  assert.ok(html2.length < 200_000, `the second map is small (${html2.length})`);
  assert.match(String(first.data["image/svg+xml"]), /^<svg/);
  assert.match(String(first.data["text/plain"]), /2 points, 2 line\/polygon features/);
  for (const html of [html1, html2]) {
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/);
    assert.doesNotMatch(
      html,
      /demotiles|api\.maptiler|tiles\.openfreemap|unpkg\.com|cdn\.jsdelivr/,
    );
  }
});

Deno.test("a tile URL template makes a tile layer map", () => {
  const b = mapToMimeBundle("http://127.0.0.1:9/run/tiles/{z}/{x}/{y}.png", {
    assets: "once",
    svg: false,
  });
  assert.match(
    String(b.data["text/plain"]),
    /tiles http:\/\/127\.0\.0\.1:9\/run\/tiles\/\{z\}\/\{x\}\/\{y\}\.png/,
  );
  assert.throws(
    () => mapToMimeBundle(undefined, { tiles: "http://127.0.0.1:9/tile.png" }),
    /no \{z\}, \{x\} and \{y\}/,
  );
});

const browser = { ignore: !hasChromium(), sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "a geo table map renders offline in headless Chromium with no outside request",
  ...browser,
  fn: async () => {
    resetAssets();
    const b = mapToMimeBundle(tableFromGeoJSON(FEATURES), { color: "name" });
    const id = mapId(b);
    await withPage(
      notebookPage([String(b.data["text/html"])]),
      async ({ page, blocked, errors }) => {
        const state = await waitForMap(page, id);
        assert.equal(state.error, null);
        assert.equal(state.loaded, true);
        assert.equal(state.pointCount, 2);
        assert.equal(state.shapeCount, 2);
        const shot = await screenshotColours(
          page,
          `#${id} .fused-map-canvas canvas`,
          "tests/artifacts/map_geo.png",
        );
        assert.ok(shot.colours.size > 10, `canvas has ${shot.colours.size} colours`);
        assert.deepEqual(blocked, []);
        assert.deepEqual(errors, []);
      },
    );
  },
});

Deno.test({
  name: "clicking a point shows a popup with its columns",
  ...browser,
  fn: async () => {
    const b = mapToMimeBundle(tableFromGeoJSON(FEATURES), { assets: "inline" });
    const id = mapId(b);
    await withPage(notebookPage([String(b.data["text/html"])]), async ({ page }) => {
      await waitForMap(page, id);
      const xy = await page.evaluate((mapId: string) => {
        // deno-lint-ignore no-explicit-any
        const m = (globalThis as any).__fusedMaps[mapId].map;
        const p = m.project([13.4, 52.52]);
        return { x: p.x, y: p.y };
      }, id);
      const box = (await page.locator(`#${id} .fused-map-canvas`).boundingBox())!;
      await page.mouse.click(box.x + xy.x, box.y + xy.y);
      const popup = page.locator(".fused-map-popup");
      await popup.waitFor({ timeout: 10_000 });
      const text = await popup.textContent();
      assert.match(text ?? "", /nameBerlin/);
      assert.match(text ?? "", /pop3\.6/);
    });
  },
});

Deno.test({
  name: "two maps on one page evaluate MapLibre once, whether inlined once or in every output",
  ...browser,
  fn: async () => {
    for (const assets of ["once", "inline"] as const) {
      resetAssets();
      const a = mapToMimeBundle(FEATURES, { assets });
      const b = mapToMimeBundle(randomPoints(500), { assets, color: "v" });
      if (assets === "once") assert.ok(String(b.data["text/html"]).length < 200_000);
      const page = notebookPage([String(a.data["text/html"]), String(b.data["text/html"])]);
      await withPage(page, async ({ page, blocked }) => {
        const [sa, sb] = [await waitForMap(page, mapId(a)), await waitForMap(page, mapId(b))];
        assert.equal(
          sa.loaded && sb.loaded,
          true,
          `${assets}: ${sa.error ?? ""} ${sb.error ?? ""}`,
        );
        // deno-lint-ignore no-explicit-any
        const evaluated = await page.evaluate(() => (globalThis as any).__fusedMapAssetsEvaluated);
        assert.equal(evaluated, 1, assets);
        const shot = await screenshotColours(
          page,
          `#${mapId(b)} .fused-map-canvas canvas`,
          `tests/artifacts/map_points_${assets}.png`,
        );
        assert.ok(shot.colours.size > 10);
        assert.deepEqual(blocked, []);
      });
    }
  },
});

Deno.test({
  name: "a tile layer asks the local service for tiles and draws them",
  ...browser,
  fn: async () => {
    const tile = rasterToPNG(Raster.from(new Uint8Array(256 * 256 * 3).fill(200), [3, 256, 256]));
    const asked: string[] = [];
    let id = "";
    await withPage(
      (port) => {
        const b = mapToMimeBundle(`http://127.0.0.1:${port}/tiles/{z}/{x}/{y}.png`, {
          assets: "inline",
          tiles: {
            url: `http://127.0.0.1:${port}/tiles/{z}/{x}/{y}.png`,
            bounds: [-20, 30, 40, 60],
          },
        });
        id = mapId(b);
        return notebookPage([String(b.data["text/html"])]);
      },
      async ({ page, blocked }) => {
        const state = await waitForMap(page, id);
        assert.equal(state.loaded, true);
        assert.ok(asked.length > 0, "no tile was requested");
        assert.ok(asked.every((p) => /^\/tiles\/\d+\/\d+\/\d+\.png$/.test(p)), asked.join(" "));
        const shot = await screenshotColours(
          page,
          `#${id} .fused-map-canvas canvas`,
          "tests/artifacts/map_tiles.png",
        );
        const grey = (200 << 16) | (200 << 8) | 200;
        assert.ok((shot.colours.get(grey) ?? 0) > 1000, "the tile's grey is on the canvas");
        assert.deepEqual(blocked, []);
      },
      {
        routes: (url) => {
          if (!url.pathname.startsWith("/tiles/")) return undefined;
          asked.push(url.pathname);
          return new Response(tile as Uint8Array<ArrayBuffer>, {
            headers: { "content-type": "image/png" },
          });
        },
      },
    );
  },
});

Deno.test("the embedded IPC is valid base64 of the prepared points", () => {
  const b = mapToMimeBundle(tableFromGeoJSON(FEATURES), { assets: "once", svg: false });
  const m = String(b.data["text/html"]).match(/"points":"([A-Za-z0-9+/=]+)"/);
  assert.ok(m, "points are embedded");
  const t = ipcToTable(new Uint8Array(Buffer.from(m[1], "base64")));
  assert.equal(t.numRows, 2);
});

/** The world-atlas countries (Natural Earth 1:110m) as GeoJSON, as the quick-start notebook has them. */
function worldCountries(): GeoJsonFeatureCollection {
  // deno-lint-ignore no-explicit-any
  const atlas = JSON.parse(packageFile("world-atlas", "countries-110m.json")) as any;
  return feature(atlas, atlas.objects.countries) as unknown as GeoJsonFeatureCollection;
}

/** The longest horizontal step of any path in an SVG, in pixels (M/L commands, absolute). */
function widestSvgStep(svg: string): number {
  let widest = 0;
  for (const [, d] of svg.matchAll(/<path d="([^"]*)"/g)) {
    let prev: number | undefined;
    for (const [, cmd, x] of d.matchAll(/([MLZ])(-?[\d.]+)?(?:,-?[\d.]+)?/g)) {
      if (cmd === "Z") {
        prev = undefined;
        continue;
      }
      const at = Number(x);
      if (cmd === "L" && prev !== undefined) widest = Math.max(widest, Math.abs(at - prev));
      prev = at;
    }
  }
  return widest;
}

Deno.test("the static SVG of Russia has no path segment across half the map", () => {
  const russia = worldCountries().features.filter((f) => f.properties?.name === "Russia");
  const svg = mapToSvg(prepareMap({ type: "FeatureCollection", features: russia }), {
    width: 800,
  });
  assert.match(svg, /fill-rule="evenodd"/); // Russia is drawn
  const widest = widestSvgStep(svg);
  assert.ok(widest > 0 && widest < 400, `widest step ${widest}px of 800`);
});

Deno.test({
  name: "world countries crossing the antimeridian leave the open ocean uncoloured in Chromium",
  ...browser,
  fn: async () => {
    resetAssets();
    const b = mapToMimeBundle(worldCountries(), { preserveDrawingBuffer: true });
    const id = mapId(b);
    await withPage(
      notebookPage([String(b.data["text/html"])]),
      async ({ page, errors }) => {
        const state = await waitForMap(page, id);
        assert.equal(state.error, null);
        assert.equal(state.shapeCount, 177);
        const shot = await screenshotColours(
          page,
          `#${id} .fused-map-canvas canvas`,
          "tests/artifacts/map_antimeridian.png",
        );
        const img = decode(shot.png);
        const probe = async (lon: number, lat: number): Promise<number[]> => {
          const xy = await page.evaluate(([mapId, x, y]) => {
            // deno-lint-ignore no-explicit-any
            const p = (globalThis as any).__fusedMaps[mapId].map.project([x, y]);
            return [Math.round(p.x), Math.round(p.y)];
          }, [id, lon, lat] as [string, number, number]);
          const at = (xy[1] * img.width + xy[0]) * img.channels;
          return Array.from(img.data.subarray(at, at + 3));
        };
        // Ocean is bluish (#d4e3ef); countries (#e4572e at 0.6) and land (#f4f2ee) are not.
        const isOcean = ([r, , b]: number[]) => b > r;
        const ocean: [number, number][] = [];
        for (let lat = 45; lat <= 62; lat++) ocean.push([-25, lat]); // North Atlantic (Russia's streak)
        for (let lat = 30; lat <= 55; lat++) ocean.push([-150, lat]); // North Pacific
        for (let lon = -150; lon <= -130; lon += 2) ocean.push([lon, -16.3]); // Fiji's streak
        const land: [number, number][] = [[170, 67], [-179.5, 67], [179.5, 67]]; // Chukotka
        for (let lon = -170; lon <= 170; lon += 20) land.push([lon, -84]); // Antarctica
        const wrong: string[] = [];
        for (const [lon, lat] of ocean) {
          const rgb = await probe(lon, lat);
          if (!isOcean(rgb)) wrong.push(`ocean at ${lon},${lat} is ${rgb}`);
        }
        for (const [lon, lat] of land) {
          const rgb = await probe(lon, lat);
          if (isOcean(rgb)) wrong.push(`country at ${lon},${lat} is ${rgb}`);
        }
        assert.deepEqual(wrong, []);
        assert.deepEqual(errors, []);
      },
      { timeoutMs: 60_000 },
    );
  },
});

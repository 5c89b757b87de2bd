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
import { packageFile } from "./assets.ts";
import {
  isGeoJson,
  isGeoTable,
  isTileTemplate,
  mapToMimeBundle,
  mapToSvg,
  type PointPayload,
  prepareMap,
  spatialSample,
} from "./map.ts";
import { radixOrder } from "./map_data.ts";
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

/** Decodes a point payload as the browser does (display/_map_client.js): lon/lat per point. */
function decodePoints(p: PointPayload): { lon: number[]; lat: number[]; color: string[] } {
  const n = p.count, b = p.bytes, box = p.box;
  const lon: number[] = [], lat: number[] = [], color: string[] = [];
  let qy = 0;
  for (let i = 0; i < n; i++) {
    const qx = b[i] | (b[n + i] << 8) | (b[2 * n + i] << 16);
    qy += b[3 * n + i] | (b[4 * n + i] << 8) | (b[5 * n + i] << 16);
    const mx = box[0] + (qx * (box[2] - box[0])) / 0xffffff;
    const my = box[1] + (qy * (box[3] - box[1])) / 0xffffff;
    lon.push(mx * 360 - 180);
    lat.push((Math.atan(Math.sinh(Math.PI * (1 - 2 * my))) * 180) / Math.PI);
    color.push(p.palette[b[6 * n + i]]);
  }
  return { lon, lat, color };
}

Deno.test("a geo table splits into binary points and WKB shapes with fitted bounds", () => {
  const p = prepareMap(tableFromGeoJSON(FEATURES));
  assert.equal(p.pointCount, 2);
  assert.equal(p.shapeCount, 2);
  assert.deepEqual(p.bounds, [2.35, 45, 13.4, 52.52]);
  assert.equal(p.points!.bytes.length, 2 * 7);
  const points = decodePoints(p.points!);
  assert.deepEqual(points.lon.map((v) => +v.toFixed(6)), [13.4, 2.35]); // sorted north first
  assert.deepEqual(points.lat.map((v) => +v.toFixed(6)), [52.52, 48.86]);
  const attributes = ipcToTable(p.points!.attributes!);
  assert.deepEqual(attributes.getChild("name")!.toArray(), ["Berlin", "Paris"]);
  const shapes = ipcToTable(p.shapes!);
  assert.deepEqual(shapes.getChild("name")!.toArray(), ["route", "<b>alps</b>"]);
  assert.equal(shapes.getChild("__wkb")!.get(0)![0], 1);
});

Deno.test("24-bit coordinates of 100,000 points over Europe are within 0.5 m", () => {
  const table = randomPoints(100_000);
  const p = prepareMap(table);
  const got = decodePoints(p.points!);
  const lon = table.getChild("lon")!.toArray() as Float64Array;
  const lat = table.getChild("lat")!.toArray() as Float64Array;
  // Points are sorted by y; match them back by their attribute v (= lon, unique here).
  const v = ipcToTable(p.points!.attributes!).getChild("v")!.toArray() as Float64Array;
  const row = new Map(Array.from(lon, (x, i) => [x, i]));
  let worst = 0;
  for (let i = 0; i < got.lon.length; i++) {
    const r = row.get(v[i])!;
    const dx = (got.lon[i] - lon[r]) * 111_320 * Math.cos((lat[r] * Math.PI) / 180);
    const dy = (got.lat[i] - lat[r]) * 110_540;
    worst = Math.max(worst, Math.hypot(dx, dy));
  }
  assert.ok(worst < 0.5, `worst error ${worst.toFixed(3)} m`);
});

Deno.test("points are ordered by quantised y, equal ys keeping their input order", () => {
  // Two 12-bit digits: keys that differ only in the high one, only in the low one, and ties.
  const keys = Uint32Array.from([0xfff000, 5, 0x001fff, 5, 0, 0xffffff, 0x001000, 5]);
  assert.deepEqual(Array.from(radixOrder(keys)), [4, 1, 3, 7, 6, 2, 0, 5]);
  assert.deepEqual(Array.from(radixOrder(new Uint32Array(0))), []);
});

Deno.test("colour indices follow their points through the sort by y", () => {
  // value = row, so a point's colour index must rise with its row, whatever the y order.
  const n = 255;
  const lat = Float64Array.from({ length: n }, (_, i) => 60 - ((i * 37) % n) * 0.1);
  const lon = Float64Array.from({ length: n }, (_, i) => i * 0.1);
  const value = Float64Array.from({ length: n }, (_, i) => i);
  const p = prepareMap(arrow.tableFromArrays({ lon, lat, value }), { color: "value" });
  const got = decodePoints(p.points!);
  const index = p.points!.bytes.subarray(6 * n);
  for (let k = 0; k < n; k++) {
    const row = Math.round(got.lon[k] / 0.1);
    assert.equal(index[k], row, `point ${k} (row ${row})`);
  }
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
  const { color } = decodePoints(p.points!);
  assert.notEqual(color[0], color[1]);
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

Deno.test("above the cap a spatial sample is embedded, with a note saying so", async () => {
  const b = await mapToMimeBundle(randomPoints(1000), { maxFeatures: 100, fallback: false });
  assert.match(String(b.data["text/html"]), /Showing a spatial sample of 100 of 1,000 features/);
  assert.match(String(b.data["text/plain"]), /spatial sample of 100 of 1,000 features/);
  const meta =
    (b.metadata?.["text/html"] as Record<string, { embeddedFeatures: number; truncated: boolean }>)[
      "fused:map"
    ];
  assert.ok(
    meta.embeddedFeatures >= 100 && meta.embeddedFeatures < 120,
    `${meta.embeddedFeatures}`,
  );
  assert.equal(meta.truncated, true);
});

Deno.test("the spatial sample keeps a sparse area whole and thins the dense one", () => {
  // 100,000 points in a small dense square, 50 scattered far away.
  const n = 100_050;
  const x = new Float64Array(n), y = new Float64Array(n);
  let seed = 3;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < n; i++) {
    const sparse = i % 2001 === 0 && i / 2001 < 50;
    x[i] = sparse ? -100 + rnd() * 200 : rnd();
    y[i] = sparse ? -60 + rnd() * 120 : rnd();
  }
  const kept = spatialSample(x, y, 1000);
  assert.equal(kept.length, 1000);
  const sparseKept = Array.from(kept).filter((i) => i % 2001 === 0 && i / 2001 < 50).length;
  assert.equal(sparseKept, 50);
  // Not the first rows: the kept rows spread over the whole table.
  assert.ok(kept[kept.length - 1] > n * 0.9);
});

Deno.test("the byte cap also limits embedded features", () => {
  const p = prepareMap(randomPoints(10_000), { maxBytes: 7 * 1000 });
  assert.equal(p.embeddedFeatures, 1000);
  assert.match(p.note!, /capped/);
});

Deno.test("point attributes over their budget stay behind, and popups say so", () => {
  const p = prepareMap(randomPoints(1000), { maxAttributeBytes: 1000 });
  assert.equal(p.points!.attributes, undefined);
  assert.match(p.popupNote!, /Attributes not embedded: .* over the 1000 B budget|over the/);
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

const LONG_TILES =
  "http://127.0.0.1:43567/api/v1/realtime-shared/fsh_4b1d6c0e2f7a4c29a3e1d0b5c6f7e8a9/run/tiles/{z}/{x}/{y}?dtype_out_raster=png&cache_max_age=0";

Deno.test("a long tile-layer caption wraps inside the static image instead of running off it", () => {
  const svg = mapToSvg(prepareMap(LONG_TILES, { tiles: { url: LONG_TILES } }));
  const lines = [...svg.matchAll(/<text x="(\d+)" y="(\d+)"[^>]*>([^<]*)<\/text>/g)];
  assert.ok(lines.length >= 2, `${lines.length} caption line(s)`);
  // 6.6 px a character is wider than the average of DejaVu Sans at 11 px (measured 6.1 px).
  for (const [, x, , text] of lines) assert.ok(Number(x) + text.length * 6.6 <= 800, text);
  const ys = lines.map(([, , y]) => Number(y));
  assert.ok(ys.every((y, i) => i === 0 || y > ys[i - 1]) && ys.at(-1)! <= 450, ys.join(" "));
  assert.equal(
    lines.map(([, , , text]) => text).join("").replace(/ /g, ""),
    `Tile layer ${LONG_TILES.replaceAll("&", "&amp;")} (interactive view only)`.replace(/ /g, ""),
  );
});

Deno.test("the note under the static image sits outside the map's fixed-height box", async () => {
  const b = await mapToMimeBundle(LONG_TILES);
  const html = String(b.data["text/html"]);
  const start = html.indexOf('class="fused-map" style="height:450px">');
  const box = html.slice(start, html.indexOf('<div class="fused-map-canvas">', start));
  assert.ok(start > 0 && box.includes("<img"), "the map's box with its static image");
  // An untrusted classic Notebook drops the CSS that hides the note; inside the fixed-height box
  // it overflows and the output area clips it.
  assert.doesNotMatch(box, /fused-map-static-note/);
  assert.match(html, /<div class="fused-map-static-note">Static image of the map:/);
  assert.match(html, /\.fused-map-static-note\{display:none\}/);
});

Deno.test("every map bundle carries MapLibre, a PNG inside its HTML and as image/png", async () => {
  const first = await mapToMimeBundle(FEATURES);
  const second = await mapToMimeBundle(FEATURES);
  for (const b of [first, second]) {
    const html = String(b.data["text/html"]);
    assert.ok(html.length > 500_000, "MapLibre is packed into every map output");
    assert.ok(html.length < 1_800_000, `compressed (${html.length})`);
    assert.match(html, /<img src="data:image\/png;base64,iVBOR/);
    assert.equal(b.data["image/svg+xml"], undefined);
    const png = decode(Buffer.from(String(b.data["image/png"]), "base64"));
    assert.equal(png.width, 800);
    assert.match(String(b.data["text/plain"]), /2 points, 2 line\/polygon features/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/);
    assert.doesNotMatch(
      html,
      /demotiles|api\.maptiler|tiles\.openfreemap|unpkg\.com|cdn\.jsdelivr/,
    );
  }
});

Deno.test("a tile URL template makes a tile layer map", async () => {
  const b = await mapToMimeBundle("http://127.0.0.1:9/run/tiles/{z}/{x}/{y}.png", {
    fallback: false,
  });
  assert.match(
    String(b.data["text/plain"]),
    /tiles http:\/\/127\.0\.0\.1:9\/run\/tiles\/\{z\}\/\{x\}\/\{y\}\.png/,
  );
  await assert.rejects(
    () => mapToMimeBundle(undefined, { tiles: "http://127.0.0.1:9/tile.png" }),
    /no \{z\}, \{x\} and \{y\}/,
  );
});

const browser = { ignore: !hasChromium(), sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "a geo table map renders offline in headless Chromium with no outside request",
  ...browser,
  fn: async () => {
    const b = await mapToMimeBundle(tableFromGeoJSON(FEATURES), { color: "name" });
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
  name: "points are drawn where they are, and drawn again where the view moves them",
  ...browser,
  fn: async () => {
    // Two points, big, on a white map: their pixels are the default colour #e4572e at the
    // points' alpha (230/255) over white, #e76742; between them is white.
    const b = await mapToMimeBundle(
      arrow.tableFromArrays({ lon: [2.35, 13.4], lat: [48.86, 52.52] }),
      { basemap: "none", pointRadius: 8, preserveDrawingBuffer: true, fallback: false },
    );
    const id = mapId(b);
    await withPage(notebookPage([String(b.data["text/html"])]), async ({ page, errors }) => {
      const pixelsAt = async (lonLats: number[][]) =>
        await page.evaluate(({ mapId, lonLats }) => {
          // deno-lint-ignore no-explicit-any
          const g = globalThis as any;
          const m = g.__fusedMaps[mapId].map;
          const canvas = m.getCanvas(), dpr = g.devicePixelRatio || 1;
          const copy = g.document.createElement("canvas");
          copy.width = canvas.width;
          copy.height = canvas.height;
          const ctx = copy.getContext("2d");
          ctx.drawImage(canvas, 0, 0);
          return lonLats.map(([lon, lat]) => {
            const p = m.project([lon, lat]);
            const d = ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data;
            return "#" + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
          });
        }, { mapId: id, lonLats });
      const idle = () =>
        page.evaluate((mapId: string) =>
          new Promise<void>((ok) => {
            // deno-lint-ignore no-explicit-any
            const m = (globalThis as any).__fusedMaps[mapId].map;
            m.once("idle", () => ok());
            m.triggerRepaint();
          }), id);
      assert.equal((await waitForMap(page, id)).loaded, true);
      // Between the two points (no point there) stays white.
      assert.deepEqual(await pixelsAt([[2.35, 48.86], [13.4, 52.52], [7.9, 50.7]]), [
        "#e76742",
        "#e76742",
        "#ffffff",
      ]);
      // Another view: the points are drawn at their new places, not left where they were.
      const before = await page.evaluate((mapId: string) => {
        // deno-lint-ignore no-explicit-any
        const m = (globalThis as any).__fusedMaps[mapId].map;
        const p = m.project([2.35, 48.86]);
        m.jumpTo({ zoom: m.getZoom() - 1 }); // both points move towards the centre
        return [p.x, p.y];
      }, id);
      await idle();
      const old = await page.evaluate(({ mapId, xy }) => {
        // deno-lint-ignore no-explicit-any
        const m = (globalThis as any).__fusedMaps[mapId].map;
        const ll = m.unproject(xy);
        return [ll.lng, ll.lat];
      }, { mapId: id, xy: before });
      assert.deepEqual(await pixelsAt([[2.35, 48.86], [13.4, 52.52], old]), [
        "#e76742",
        "#e76742",
        "#ffffff",
      ]);
      assert.deepEqual(errors, []);
    });
  },
});

Deno.test({
  name: "clicking a point shows a popup with its columns",
  ...browser,
  fn: async () => {
    const b = await mapToMimeBundle(tableFromGeoJSON(FEATURES));
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
  name: "two maps on one page unpack MapLibre once, and either one alone still draws",
  ...browser,
  fn: async () => {
    const a = await mapToMimeBundle(FEATURES);
    const b = await mapToMimeBundle(randomPoints(500), { color: "v" });
    const both = notebookPage([String(a.data["text/html"]), String(b.data["text/html"])]);
    await withPage(both, async ({ page, blocked }) => {
      const [sa, sb] = [await waitForMap(page, mapId(a)), await waitForMap(page, mapId(b))];
      assert.equal(sa.loaded && sb.loaded, true, `${sa.error ?? ""} ${sb.error ?? ""}`);
      // deno-lint-ignore no-explicit-any
      const evaluated = await page.evaluate(() => (globalThis as any).__fusedMapAssetsEvaluated);
      assert.equal(evaluated, 1);
      assert.deepEqual(blocked, []);
    });
    // The second output alone (the first cleared or deleted) carries all it needs.
    await withPage(notebookPage([String(b.data["text/html"])]), async ({ page }) => {
      const state = await waitForMap(page, mapId(b));
      assert.equal(state.loaded, true, String(state.error));
      const shot = await screenshotColours(
        page,
        `#${mapId(b)} .fused-map-canvas canvas`,
        "tests/artifacts/map_points_alone.png",
      );
      assert.ok(shot.colours.size > 10);
    });
  },
});

/**
 * The tile layer's notice on a page whose tile URL points at `tileOrigin` (given the page's own
 * port); `routes` answers the page server's other paths.
 */
async function tileNotice(
  tileOrigin: (pagePort: number) => string,
  routes?: (url: URL) => Response | undefined,
): Promise<string> {
  let id = "";
  return await withPage(
    async (port) => {
      const b = await mapToMimeBundle(null, {
        tiles: `${tileOrigin(port)}/tiles/{z}/{x}/{y}.png`,
        fallback: false,
      });
      id = mapId(b);
      return notebookPage([String(b.data["text/html"])]);
    },
    async ({ page }) => {
      const note = page.locator(`#${id} .fused-map-error`).first();
      await note.waitFor({ timeout: 60_000 });
      return (await note.textContent()) ?? "";
    },
    { routes },
  );
}

Deno.test({
  name: "a tile server's error is shown in the map, with the server's own detail",
  ...browser,
  fn: async () => {
    const text = await tileNotice(
      (port) => `http://127.0.0.1:${port}`,
      (url) =>
        url.pathname.startsWith("/tiles/")
          ? Response.json({ detail: "The UDF returned text, which is not a tile" }, {
            status: 422,
            headers: { "access-control-allow-origin": "*" },
          })
          : undefined,
    );
    assert.match(text, /tile layer cannot be drawn: the tile server answered 422/);
    assert.match(text, /The UDF returned text, which is not a tile/);
  },
});

Deno.test({
  name: "a tile layer whose service is gone says the service is not running",
  ...browser,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const origin = `http://127.0.0.1:${listener.addr.port}`;
    listener.close();
    const text = await tileNotice(() => origin);
    assert.match(text, new RegExp(`the service at ${origin} is not running`));
    assert.match(text, /%fused serve/);
    assert.doesNotMatch(text, /CORS/);
  },
});

Deno.test({
  name: "a tile server that answers without CORS headers is named as a CORS refusal",
  ...browser,
  fn: async () => {
    // Another origin (its own port) that answers every request, with no CORS header.
    const other = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () => new Response("tile", { headers: { "content-type": "image/png" } }),
    );
    try {
      const origin = `http://127.0.0.1:${other.addr.port}`;
      const text = await tileNotice(() => origin);
      assert.match(text, new RegExp(`the tile server at ${origin} answers, but does not allow`));
      assert.match(text, /\(CORS\)/);
    } finally {
      await other.shutdown();
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
      async (port) => {
        const b = await mapToMimeBundle(`http://127.0.0.1:${port}/tiles/{z}/{x}/{y}.png`, {
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
    const b = await mapToMimeBundle(worldCountries(), { preserveDrawingBuffer: true });
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

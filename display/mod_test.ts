import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { UdfRuntimeError } from "../client/errors.ts";
import { tableFromGeoJSON } from "../client/formats/geo.ts";
import { Raster } from "../client/formats/raster.ts";
import { udf } from "../client/udf.ts";
import {
  chart,
  displayable,
  hasRichDisplay,
  html,
  JUPYTER_DISPLAY,
  looksLikeHtml,
  resetAssets,
  toMimeBundle,
} from "./mod.ts";

const POINT = { type: "Point", coordinates: [1, 2] };

Deno.test("each kind of value gets its renderer", async () => {
  resetAssets();
  const table = await toMimeBundle(arrow.tableFromArrays({ x: Int32Array.from([1]) }));
  assert.ok("application/vnd.dataresource+json" in table.data);
  const raster = await toMimeBundle(Raster.from(new Uint8Array(4), [2, 2]));
  assert.ok("image/png" in raster.data);
  const spec = await toMimeBundle({
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    data: { values: [{ a: 1 }] },
    mark: "point",
    encoding: { x: { field: "a", type: "quantitative" } },
  });
  assert.ok("application/vnd.vegalite.v5+json" in spec.data);
  const geo = await toMimeBundle(POINT);
  assert.match(String(geo.data["text/plain"]), /^Map: 1 point/);
  const u = await toMimeBundle(udf("export default function udf() { return 1 }", { name: "u" }));
  assert.match(String(u.data["text/plain"]), /^Udf "u"/);
  const err = await toMimeBundle(
    new UdfRuntimeError("u", {
      message: "m",
      exceptionClass: "Error",
      logs: { stdout: "", stderr: "" },
    }),
  );
  assert.match(String(err.data["text/html"]), /fused-error/);
  const files = await toMimeBundle([{ url: "fd://b/x", size: 1 }]);
  assert.match(String(files.data["text/plain"]), /1 entry/);
});

Deno.test("a geo table shows as a table unless a map is asked for", async () => {
  const t = tableFromGeoJSON({
    type: "FeatureCollection",
    features: [{ type: "Feature", geometry: POINT, properties: { a: 1 } }],
  });
  assert.ok("application/vnd.dataresource+json" in (await toMimeBundle(t)).data);
  assert.match(
    String((await toMimeBundle(t, { asMap: true, map: { fallback: false } })).data["text/plain"]),
    /^Map/,
  );
});

Deno.test("HTML strings render as HTML and other strings as text", async () => {
  const h = await toMimeBundle("<div><b>bold</b></div>");
  assert.equal(h.data["text/html"], "<div><b>bold</b></div>");
  const t = await toMimeBundle("a < b and c > d");
  assert.deepEqual(Object.keys(t.data), ["text/plain"]);
  assert.equal(looksLikeHtml("<!DOCTYPE html><html></html>"), true);
  assert.equal(looksLikeHtml("x <b>y</b>"), false);
});

Deno.test("anything else falls back to text/plain", async () => {
  const b = await toMimeBundle({ a: 1, b: [1, 2] });
  assert.deepEqual(Object.keys(b.data), ["text/plain"]);
  assert.match(String(b.data["text/plain"]), /a: 1/);
  assert.equal((await toMimeBundle(undefined)).data["text/plain"], "undefined");
});

Deno.test("objects with the Jupyter.display hook keep their own bundle", async () => {
  const own = { [JUPYTER_DISPLAY]: () => ({ "text/markdown": "**hi**" }) };
  assert.deepEqual((await toMimeBundle(own)).data, { "text/markdown": "**hi**" });
  const c = chart([{ a: 1 }], {
    mark: "point",
    encoding: { x: { field: "a", type: "quantitative" } },
  }, { svg: false });
  assert.ok("application/vnd.vegalite.v5+json" in (await toMimeBundle(c)).data);
});

Deno.test("displayable() and html() give the kernel hook a MIME data record", async () => {
  const d = await displayable(arrow.tableFromArrays({ x: Int32Array.from([1, 2]) }))
    [JUPYTER_DISPLAY]();
  assert.match(String(d["text/html"]), /2 rows × 1 column/);
  assert.deepEqual(await html("<i>x</i>")[JUPYTER_DISPLAY](), {
    "text/html": "<i>x</i>",
    "text/plain": "<i>x</i>",
  });
});

Deno.test("a bare square typed array shows as a square image", async () => {
  const bytes = await toMimeBundle(new Uint8Array(256 * 256));
  assert.ok("image/png" in bytes.data);
  const meta = bytes.metadata?.["image/png"] as { width: number; height: number };
  assert.deepEqual([meta.width, meta.height], [256, 256]);
  assert.match(String(bytes.data["text/plain"]), /^Uint8Array of 65536 values as a 256×256 image/);
  const floats = await toMimeBundle(new Float32Array(64 * 64).map((_, i) => i));
  assert.ok("image/png" in floats.data);
  assert.ok(hasRichDisplay(new Float32Array(64 * 64)));
});

Deno.test("a { data, shape } value shows as an image", async () => {
  const value = { data: new Float32Array(6).map((_, i) => i), shape: [2, 3] };
  assert.ok(hasRichDisplay(value));
  const b = await toMimeBundle(value);
  assert.ok("image/png" in b.data);
  assert.equal(b.data["text/plain"], "Raster 2×3 float32, range [0, 5]");
});

Deno.test("a non-square, tiny or huge typed array stays text, with a note when it could be an image", async () => {
  const oblong = await toMimeBundle(new Float32Array(300));
  assert.deepEqual(Object.keys(oblong.data), ["text/plain"]);
  assert.match(String(oblong.data["text/plain"]), /^Float32Array\(300\) \[/);
  assert.match(String(oblong.data["text/plain"]), /not square: show it as an image with/);
  // Bytes that are not square are a file's bytes more likely than a picture: no note.
  const bytes = await toMimeBundle(new Uint8Array(1000));
  assert.deepEqual(Object.keys(bytes.data), ["text/plain"]);
  assert.doesNotMatch(String(bytes.data["text/plain"]), /image/);
  const tiny = await toMimeBundle(new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual(Object.keys(tiny.data), ["text/plain"]);
  assert.doesNotMatch(String(tiny.data["text/plain"]), /image/);
  const huge = await toMimeBundle(new Uint8Array(4097 * 4097));
  assert.deepEqual(Object.keys(huge.data), ["text/plain"]);
  assert.match(String(huge.data["text/plain"]), /too large to show as an image/);
  const wrong = await toMimeBundle({ data: new Float32Array(5), shape: [2, 3] });
  assert.deepEqual(Object.keys(wrong.data), ["text/plain"]);
  assert.match(String(wrong.data["text/plain"]), /needs 6 values but the data has 5/);
});

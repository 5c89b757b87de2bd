import assert from "node:assert/strict";
import type * as arrow from "apache-arrow";
import { unzipSync, zipSync } from "fflate";
import { NotSupportedError, ValidationError } from "../errors.ts";
import { CorruptDataError, UnsupportedResultError } from "./errors.ts";
import { tableFromGeoJSON } from "./geo.ts";
import { hasParquetMagic } from "./parquet.ts";
import { Raster } from "./raster.ts";
import {
  decodeResult,
  encodeResult,
  multiOutputToZip,
  type ResultFormat,
  zipToMultiOutput,
} from "./result.ts";
import { isTable } from "./types.ts";

const geoTable = () =>
  tableFromGeoJSON({
    type: "FeatureCollection",
    features: [
      {
        type: "Feature",
        geometry: { type: "Point", coordinates: [1, 2] },
        properties: { name: "a" },
      },
      {
        type: "Feature",
        geometry: { type: "Point", coordinates: [3, 4] },
        properties: { name: "b" },
      },
    ],
  });

async function roundTrip(value: unknown, format?: ResultFormat) {
  const encoded = await encodeResult(value, { format });
  return {
    encoded,
    back: await decodeResult(encoded.bytes, encoded.contentType, { metadata: encoded.metadata }),
  };
}

Deno.test("a table is sent as Parquet with application/octet-stream by default", async () => {
  const { encoded, back } = await roundTrip(geoTable());
  assert.equal(encoded.contentType, "application/octet-stream");
  assert.equal(encoded.extension, "parquet");
  assert.ok(hasParquetMagic(encoded.bytes));
  assert.ok(isTable(back));
  assert.deepEqual((back as arrow.Table).getChild("name")!.toArray(), ["a", "b"]);
  assert.ok((back as arrow.Table).schema.metadata.has("geo"));
});

Deno.test("a table can be sent as Arrow IPC, CSV, GeoJSON or JSON rows", async () => {
  const arrowOut = await roundTrip(geoTable(), "arrow");
  assert.equal(arrowOut.encoded.contentType, "application/vnd.apache.arrow.stream");
  assert.equal((arrowOut.back as arrow.Table).numRows, 2);
  const csv = await roundTrip(geoTable(), "csv");
  assert.equal(csv.encoded.contentType, "text/csv; charset=utf-8");
  assert.equal(csv.back, "name,geometry\r\na,POINT(1 2)\r\nb,POINT(3 4)\r\n");
  const geojson = await roundTrip(geoTable(), "geojson");
  assert.equal(geojson.encoded.contentType, "application/geo+json");
  assert.deepEqual((geojson.back as arrow.Table).getChild("name")!.toArray(), ["a", "b"]);
  const rows = await roundTrip(geoTable(), "json");
  assert.deepEqual(rows.back, [
    { name: "a", geometry: { type: "Point", coordinates: [1, 2] } },
    { name: "b", geometry: { type: "Point", coordinates: [3, 4] } },
  ]);
});

Deno.test("a raster is sent as npy with its bounds in metadata, or as PNG", async () => {
  const r = Raster.from(Float32Array.from([1, 2, 3, 4]), [2, 2], { bounds: [0, 0, 1, 1] });
  const npy = await roundTrip(r);
  assert.equal(npy.encoded.contentType, "application/x-numpy-data");
  assert.deepEqual(npy.encoded.metadata, { bounds: [0, 0, 1, 1] });
  assert.ok(npy.back instanceof Raster);
  assert.deepEqual([...(npy.back as Raster).data], [1, 2, 3, 4]);
  assert.deepEqual((npy.back as Raster).bounds, [0, 0, 1, 1]);
  const png = await roundTrip(Raster.from(Uint8Array.from([1, 2, 3, 4]), [2, 2]), "png");
  assert.equal(png.encoded.contentType, "image/png");
  assert.deepEqual([...(png.back as Raster).data], [1, 2, 3, 4]);
});

Deno.test("writing a raster as TIFF is refused with NotSupportedError naming the alternatives", async () => {
  await assert.rejects(
    () => encodeResult(Raster.from(new Uint8Array(1), [1, 1]), { format: "tiff" }),
    (e: Error) => e instanceof NotSupportedError && /use format "npy".*or "png"/.test(e.message),
  );
});

Deno.test("JSON values, strings and bytes get their own content types", async () => {
  const json = await roundTrip({ a: [1, 2, { b: null }], c: true });
  assert.equal(json.encoded.contentType, "application/json");
  assert.deepEqual(json.back, { a: [1, 2, { b: null }], c: true });
  const num = await roundTrip(42);
  assert.equal(num.back, 42);
  const html = await roundTrip("<div><b>hi</b></div>");
  assert.equal(html.encoded.contentType, "text/html; charset=utf-8");
  assert.equal(html.back, "<div><b>hi</b></div>");
  const text = await roundTrip("a < b but not html");
  assert.equal(text.encoded.contentType, "text/plain; charset=utf-8");
  assert.equal(text.back, "a < b but not html");
  const quoted = await roundTrip("plain", "json");
  assert.equal(new TextDecoder().decode(quoted.encoded.bytes), '"plain"');
  const bytes = await roundTrip(Uint8Array.from([0, 1, 2]));
  assert.equal(bytes.encoded.contentType, "application/x-fused-bytes");
  assert.deepEqual(bytes.back, Uint8Array.from([0, 1, 2]));
});

Deno.test("null is an empty body and an empty body is null", async () => {
  const { encoded, back } = await roundTrip(null);
  assert.equal(encoded.bytes.byteLength, 0);
  assert.equal(back, null);
  assert.equal(await decodeResult(new Uint8Array(0), "application/octet-stream"), null);
});

Deno.test("a format that does not fit the value is refused with the ones that do", async () => {
  await assert.rejects(
    () => encodeResult({ a: 1 }, { format: "parquet" }),
    (e: Error) =>
      e instanceof ValidationError && /json result as "parquet": use "json"/.test(e.message),
  );
  await assert.rejects(
    () => encodeResult(geoTable(), { format: "png" }),
    /use "parquet", "arrow", "csv", "geojson", "json"/,
  );
  await assert.rejects(() => encodeResult(new Map() as unknown), UnsupportedResultError);
});

Deno.test("decoding follows Fused's content types, with parameters and case ignored", async () => {
  const enc = new TextEncoder();
  assert.deepEqual(await decodeResult(enc.encode('{"x":1}'), "Application/JSON; charset=utf-8"), {
    x: 1,
  });
  assert.equal(await decodeResult(enc.encode("<p>x</p>"), "text/html"), "<p>x</p>");
  const parquet = (await encodeResult(geoTable())).bytes;
  assert.ok(isTable(await decodeResult(parquet, "application/vnd.apache.parquet")));
  assert.ok(isTable(await decodeResult(parquet, null)), "unknown type falls back to Parquet");
  await assert.rejects(
    () => decodeResult(enc.encode("{oops"), "application/json"),
    CorruptDataError,
  );
  await assert.rejects(
    () => decodeResult(enc.encode("not parquet"), "application/octet-stream"),
    CorruptDataError,
  );
});

Deno.test("a record holding a table is sent as a zip with Fused's meta.json", async () => {
  const record = {
    points: geoTable(),
    img: Raster.from(new Uint8Array(4), [2, 2], { bounds: [1, 2, 3, 4] }),
    info: { n: 2 },
    note: "ok",
  };
  const encoded = await encodeResult(record);
  assert.equal(encoded.contentType, "application/zip");
  const files = unzipSync(encoded.bytes);
  const meta = JSON.parse(new TextDecoder().decode(files["meta.json"]));
  assert.deepEqual(meta.files.points, { content_type: "application/octet-stream" });
  assert.equal(meta.files.img.content_type, "application/x-numpy-data");
  assert.deepEqual(meta.files.info, { content_type: "application/json" });
  assert.deepEqual(meta.files.note, { content_type: "text/plain; charset=utf-8" });
  const back = await decodeResult(encoded.bytes, encoded.contentType) as Record<string, unknown>;
  assert.deepEqual((back.points as arrow.Table).getChild("name")!.toArray(), ["a", "b"]);
  assert.deepEqual((back.img as Raster).bounds, [1, 2, 3, 4]);
  assert.deepEqual(back.info, { n: 2 });
  assert.equal(back.note, "ok");
});

Deno.test("a zip as Fused writes it (meta.json with content types only) decodes", async () => {
  const enc = new TextEncoder();
  const zip = zipSync({
    "meta.json": enc.encode(
      JSON.stringify({
        files: { a: { content_type: "application/json" }, b: { content_type: "text/html" } },
      }),
    ),
    a: enc.encode("[1,2]"),
    b: enc.encode("<i>x</i>"),
  });
  assert.deepEqual(await zipToMultiOutput(zip), { a: [1, 2], b: "<i>x</i>" });
});

Deno.test("nested records become nested zips", async () => {
  const zip = await multiOutputToZip({ outer: { inner: Uint8Array.from([7]) } });
  const back = await zipToMultiOutput(zip);
  assert.deepEqual(back, { outer: { inner: Uint8Array.from([7]) } });
});

Deno.test("a damaged zip or one without meta.json raises CorruptDataError", async () => {
  const enc = new TextEncoder();
  await assert.rejects(() => zipToMultiOutput(zipSync({ a: enc.encode("1") })), /no meta\.json/);
  await assert.rejects(
    () =>
      zipToMultiOutput(
        zipSync({
          "meta.json": enc.encode('{"files":{"gone":{"content_type":"application/json"}}}'),
        }),
      ),
    /lists "gone" but the zip has no such file/,
  );
  await assert.rejects(() => zipToMultiOutput(enc.encode("PK not a zip")), CorruptDataError);
  await assert.rejects(() => multiOutputToZip({ "meta.json": Uint8Array.from([1]) }), /reserved/);
});

Deno.test("{ data, shape } is encoded as a raster: npy by default, PNG on request", async () => {
  const value = { data: Uint8Array.from({ length: 16 }, (_, i) => i * 16), shape: [4, 4] };
  const npy = await encodeResult(value);
  assert.equal(npy.extension, "npy");
  const back = await decodeResult(npy.bytes, npy.contentType, { metadata: npy.metadata });
  assert.ok(back instanceof Raster);
  assert.deepEqual(back.shape, [4, 4]);
  const png = await encodeResult(value, { format: "png" });
  assert.equal(png.contentType, "image/png");
});

Deno.test("a GeoJSON object is geodata: GeoJSON, Parquet, Arrow or CSV on request, JSON by default", async () => {
  const feature = {
    type: "Feature",
    geometry: { type: "Point", coordinates: [2.35, 48.86] },
    properties: { name: "Paris" },
  };
  const plain = await encodeResult(feature);
  assert.equal(plain.contentType, "application/json");
  const geojson = await encodeResult(feature, { format: "geojson" });
  assert.equal(geojson.contentType, "application/geo+json");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(geojson.bytes)), {
    type: "FeatureCollection",
    features: [feature],
  });
  for (const format of ["parquet", "arrow"] as ResultFormat[]) {
    const encoded = await encodeResult(feature, { format });
    const table = await decodeResult(encoded.bytes, encoded.contentType) as arrow.Table;
    assert.equal(table.getChild("name")?.get(0), "Paris");
    assert.ok(table.getChild("geometry"));
  }
  const geometry = { type: "Point", coordinates: [1, 2] };
  const csv = await encodeResult(geometry, { format: "csv" });
  assert.match(new TextDecoder().decode(csv.bytes), /^geometry/);
  await assert.rejects(
    encodeResult(geometry, { format: "png" }),
    /Cannot encode a GeoJSON result as "png": use "json", "geojson", "parquet", "arrow", "csv"/,
  );
});

import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DuckDBInstance } from "@duckdb/node-api";
import * as pq from "parquet-wasm";
import { ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import {
  type GeoJsonFeatureCollection,
  geoMetadata,
  tableFromGeoJSON,
  withSchemaMetadata,
} from "./geo.ts";
import { parquetToTable, tableToParquet } from "./parquet.ts";

const cities: GeoJsonFeatureCollection = {
  type: "FeatureCollection",
  features: [
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [2.35, 48.86] },
      properties: { name: "Paris", pop: 2102650 },
    },
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [-0.13, 51.51] },
      properties: { name: "London", pop: 8866180 },
    },
    {
      type: "Feature",
      geometry: {
        type: "Polygon",
        coordinates: [[[13.0, 52.3], [13.8, 52.3], [13.8, 52.7], [13.0, 52.3]]],
      },
      properties: { name: "Berlin", pop: 3677472 },
    },
  ],
};

function assertGeoJsonMetadata(text: string | undefined): void {
  assert.ok(text, "the file has a geo key-value entry");
  const geo = JSON.parse(text);
  assert.equal(geo.version, "1.1.0");
  assert.equal(geo.primary_column, "geometry");
  assert.equal(geo.columns.geometry.encoding, "WKB");
  assert.deepEqual(geo.columns.geometry.geometry_types, ["Point", "Polygon"]);
  assert.deepEqual(geo.columns.geometry.bbox, [-0.13, 48.86, 13.8, 52.7]);
}

Deno.test("a table round-trips through Parquet with types, values and geo metadata", () => {
  const t = tableFromGeoJSON(cities);
  const back = parquetToTable(tableToParquet(t));
  assert.deepEqual(
    back.schema.fields.map((f) => `${f.name}:${f.type}`),
    t.schema.fields.map((f) => `${f.name}:${f.type}`),
  );
  assert.deepEqual(back.getChild("name")!.toArray(), ["Paris", "London", "Berlin"]);
  assert.deepEqual([...back.getChild("pop")!.toArray()], [2102650, 8866180, 3677472]);
  assert.deepEqual(back.getChild("geometry")!.get(2), t.getChild("geometry")!.get(2));
  assertGeoJsonMetadata(back.schema.metadata.get("geo"));
});

Deno.test("hyparquet, another Parquet reader, reads our GeoParquet with the same rows and geo metadata", async () => {
  const bytes = tableToParquet(tableFromGeoJSON(cities));
  const file = bytes.slice().buffer;
  const kv = parquetMetadata(file).key_value_metadata ?? [];
  assertGeoJsonMetadata(kv.find((e) => e.key === "geo")?.value);
  const rows = await parquetReadObjects({ file, compressors });
  assert.deepEqual(rows.map((r) => [r.name, r.pop]), [["Paris", 2102650], ["London", 8866180], [
    "Berlin",
    3677472,
  ]]);
  // hyparquet decodes WKB geometry columns named in `geo` metadata to GeoJSON.
  assert.deepEqual(rows.map((r) => r.geometry), cities.features.map((f) => f.geometry));
});

Deno.test("DuckDB reads our GeoParquet: count(*) and the geo key-value metadata", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/cities.parquet`;
  await Deno.writeFile(path, tableToParquet(tableFromGeoJSON(cities)));
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  try {
    const count = await con.runAndReadAll(
      `SELECT count(*)::INTEGER AS n, sum(pop)::BIGINT AS s FROM read_parquet('${path}')`,
    );
    assert.deepEqual(count.getRowObjectsJson(), [{ n: 3, s: String(2102650 + 8866180 + 3677472) }]);
    const kv = await con.runAndReadAll(
      `SELECT decode(value) AS v FROM parquet_kv_metadata('${path}') WHERE decode(key) = 'geo'`,
    );
    assertGeoJsonMetadata(kv.getRowObjectsJson()[0]?.v as string);
  } finally {
    con.closeSync();
    instance.closeSync();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("geo metadata written by another tool only as a key-value entry is readable from the schema", () => {
  // Simulates GeoPandas/DuckDB output: `geo` in the Parquet footer but not in the Arrow schema.
  const plain = arrow.tableFromArrays({ x: Float64Array.from([1, 2]) });
  const props = new pq.WriterPropertiesBuilder()
    .setKeyValueMetadata(
      new Map([["geo", '{"version":"1.0.0","primary_column":"geometry","columns":{}}']]),
    )
    .build();
  const bytes = pq.writeParquet(pq.Table.fromIPCStream(arrow.tableToIPC(plain, "stream")), props);
  const back = parquetToTable(bytes);
  assert.equal(geoMetadata(back)?.version, "1.0.0");
});

Deno.test("a table without geometry gets no geo metadata, and geo: false turns it off", () => {
  const plain = arrow.tableFromArrays({ id: Int32Array.from([1, 2, 3]), cat: ["a", "b", "a"] });
  const back = parquetToTable(tableToParquet(plain));
  assert.equal(back.schema.metadata.has("geo"), false);
  assert.deepEqual(back.getChild("cat")!.toArray(), ["a", "b", "a"]);
  const geoTable = tableFromGeoJSON(cities);
  const noGeo = withSchemaMetadata(geoTable, new Map()); // WKB column named geometry, no geo
  assert.equal(
    parquetToTable(tableToParquet(noGeo, { geo: false })).schema.metadata.has("geo"),
    false,
  );
  assert.ok(
    parquetToTable(tableToParquet(noGeo)).schema.metadata.has("geo"),
    "auto-detected from the column name",
  );
});

Deno.test("every offered codec writes a file that reads back", () => {
  const t = arrow.tableFromArrays({ v: Float64Array.from({ length: 1000 }, (_, i) => i * 0.5) });
  for (
    const compression of ["zstd", "snappy", "lz4_raw", "gzip", "brotli", "uncompressed"] as const
  ) {
    const back = parquetToTable(tableToParquet(t, { compression }));
    assert.equal(back.numRows, 1000, compression);
    assert.equal(back.getChild("v")!.get(999), 499.5);
  }
  assert.throws(() => tableToParquet(t, { compression: "lzo" as never }), ValidationError);
});

Deno.test("a geometry option naming a non-binary column is refused", () => {
  const t = arrow.tableFromArrays({ geometry: Float64Array.from([1]) });
  assert.throws(() => tableToParquet(t, { geo: "geometry" }), /must hold WKB bytes/);
  assert.throws(() => tableToParquet(t, { geo: "nope" }), /has no column "nope"/);
});

Deno.test("corrupt or truncated Parquet raises CorruptDataError", () => {
  const bytes = tableToParquet(tableFromGeoJSON(cities));
  assert.throws(
    () => parquetToTable(bytes.subarray(0, bytes.length - 10)),
    (e: Error) => e instanceof CorruptDataError && /truncated or in another format/.test(e.message),
  );
  const damaged = bytes.slice();
  damaged.fill(0xff, bytes.length - 60, bytes.length - 8); // footer garbage, magic intact
  assert.throws(() => parquetToTable(damaged), CorruptDataError);
  assert.throws(
    () => parquetToTable(new TextEncoder().encode("PAR1 nonsense PAR1")),
    CorruptDataError,
  );
});

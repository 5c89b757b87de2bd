import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { unzipSync, zipSync } from "fflate";
import { geojson as flatgeobuf } from "flatgeobuf";
import { NotSupportedError, ValidationError } from "../client/errors.ts";
import {
  type GeoJsonFeatureCollection,
  geometryFromWKB,
  tableFromGeoJSON,
  tableToParquet,
} from "../client/formats/mod.ts";
import { options } from "../client/options.ts";
import { formatOfName, readInput, sniffFormat } from "./read.ts";
import { testTempDir } from "../tests/_helpers.ts";

const NODE_MODULES = new URL("../node_modules/", import.meta.url);
const AIRPORTS = new URL("vega-datasets/data/airports.csv", NODE_MODULES);
const EARTHQUAKES = new URL("vega-datasets/data/earthquakes.json", NODE_MODULES);
const COUNTRIES_ZIP = new URL("../tests/fixtures/ingest/countries.zip", import.meta.url);

const POINTS: GeoJsonFeatureCollection = {
  type: "FeatureCollection",
  features: [
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [1, 2] },
      properties: { name: "a", n: 1 },
    },
    {
      type: "Feature",
      geometry: { type: "Point", coordinates: [3, 4] },
      properties: { name: "b", n: 2 },
    },
  ],
};

function point(table: arrow.Table, row: number): unknown {
  return geometryFromWKB(table.getChild("geometry")!.get(row));
}

Deno.test("a GeoJSON file is read with its properties and a WKB geometry column", async () => {
  const dir = await testTempDir();
  await Deno.writeTextFile(`${dir}/p.geojson`, JSON.stringify(POINTS));
  const { table, geometryColumn, sources } = await readInput(`${dir}/p.geojson`);
  assert.equal(geometryColumn, "geometry");
  assert.deepEqual(sources, [`${dir}/p.geojson`]);
  assert.equal(table.numRows, 2);
  assert.equal(table.getChild("name")!.get(1), "b");
  assert.deepEqual(point(table, 1), { type: "Point", coordinates: [3, 4] });
  assert.equal(table.schema.metadata.size, 0, "input metadata is not carried over");
});

Deno.test("real GeoJSON with 3D points (USGS earthquakes) is read", async () => {
  const { table } = await readInput(EARTHQUAKES);
  const raw = JSON.parse(await Deno.readTextFile(EARTHQUAKES));
  assert.equal(table.numRows, raw.features.length);
  assert.deepEqual(
    (point(table, 0) as { coordinates: number[] }).coordinates,
    raw.features[0].geometry.coordinates,
  );
});

Deno.test("a CSV file gets points from its longitude and latitude columns (real airports)", async () => {
  const { table } = await readInput(AIRPORTS);
  const text = await Deno.readTextFile(AIRPORTS);
  const lines = text.trim().split("\n");
  assert.equal(table.numRows, lines.length - 1);
  const [iata, , , , , lat, lon] = lines[1].split(",");
  assert.equal(table.getChild("iata")!.get(0), iata);
  assert.deepEqual(point(table, 0), { type: "Point", coordinates: [Number(lon), Number(lat)] });
  assert.equal(String(table.getChild("latitude")!.type), "Float64");
});

Deno.test("CSV codes with leading zeros stay text and lonlatCols picks the columns", async () => {
  const dir = await testTempDir();
  await Deno.writeTextFile(
    `${dir}/z.csv`,
    "zip,east,north\n00501,-73.04,40.81\n10001,-73.99,40.75\n",
  );
  const { table } = await readInput(`${dir}/z.csv`, { lonlatCols: ["east", "north"] });
  assert.equal(table.getChild("zip")!.get(0), "00501");
  assert.deepEqual(point(table, 1), { type: "Point", coordinates: [-73.99, 40.75] });
});

Deno.test("a CSV file with a WKT geometry column is read", async () => {
  const dir = await testTempDir();
  await Deno.writeTextFile(
    `${dir}/w.csv`,
    'id,geometry\n1,"LINESTRING (0 0, 1 1)"\n2,POINT (5 6)\n',
  );
  const { table } = await readInput(`${dir}/w.csv`);
  assert.deepEqual(point(table, 0), { type: "LineString", coordinates: [[0, 0], [1, 1]] });
  assert.deepEqual(point(table, 1), { type: "Point", coordinates: [5, 6] });
});

Deno.test("Parquet with longitude/latitude columns is read with lonlatCols", async () => {
  const dir = await testTempDir();
  const t = arrow.tableFromArrays({
    px: Float64Array.from([10, 20, NaN]),
    py: Float64Array.from([1, 2, 3]),
    id: Int32Array.from([7, 8, 9]),
  });
  await Deno.writeFile(`${dir}/p.parquet`, tableToParquet(t));
  const { table } = await readInput(`${dir}/p.parquet`, { lonlatCols: ["px", "py"] });
  assert.deepEqual(point(table, 1), { type: "Point", coordinates: [20, 2] });
  assert.equal(table.getChild("geometry")!.get(2), null, "a NaN coordinate gives a null geometry");
  assert.equal(table.getChild("id")!.get(2), 9);
});

Deno.test("GeoParquet with a WKB column named geom is read into geometry", async () => {
  const dir = await testTempDir();
  const gp = tableFromGeoJSON(POINTS);
  const renamed = new arrow.Table({
    name: gp.getChild("name")!,
    geom: gp.getChild("geometry")!,
  });
  await Deno.writeFile(`${dir}/g.parquet`, tableToParquet(renamed, { geo: "geom" }));
  const { table } = await readInput(`${dir}/g.parquet`);
  assert.deepEqual(table.schema.fields.map((f) => f.name), ["name", "geometry"]);
  assert.deepEqual(point(table, 0), { type: "Point", coordinates: [1, 2] });
});

Deno.test("GeoParquet in a projected CRS is refused", async () => {
  const dir = await testTempDir();
  const gp = tableFromGeoJSON(POINTS);
  const geo = JSON.parse(gp.schema.metadata.get("geo")!);
  geo.columns.geometry.crs = {
    type: "ProjectedCRS",
    name: "WGS 84 / UTM zone 31N",
    id: { authority: "EPSG", code: 32631 },
  };
  const meta = new Map([["geo", JSON.stringify(geo)]]);
  const t = new arrow.Table(
    new arrow.Schema(gp.schema.fields, meta),
    gp.batches.map((b) => new arrow.RecordBatch(new arrow.Schema(gp.schema.fields, meta), b.data)),
  );
  await Deno.writeFile(`${dir}/utm.parquet`, tableToParquet(t));
  await assert.rejects(readInput(`${dir}/utm.parquet`), (e: Error) => {
    assert.ok(e instanceof NotSupportedError);
    assert.match(e.message, /UTM zone 31N.*reproject it first/);
    return true;
  });
});

Deno.test("a zipped Shapefile (Natural Earth countries) is read with its attributes", async () => {
  const { table } = await readInput(COUNTRIES_ZIP);
  assert.equal(table.numRows, 12);
  const names = [...table.getChild("name")!];
  assert.ok(names.includes("Canada") && names.includes("Kazakhstan"));
  const canada = names.indexOf("Canada");
  assert.equal((geometryFromWKB(table.getChild("geometry")!.get(canada))).type, "MultiPolygon");
});

Deno.test("a loose .shp is read with its .dbf beside it", async () => {
  const dir = await testTempDir();
  for (const [name, bytes] of Object.entries(unzipSync(await Deno.readFile(COUNTRIES_ZIP)))) {
    await Deno.writeFile(`${dir}/${name}`, bytes);
  }
  const { table, sources } = await readInput(dir); // a folder: the .shp, its sidecars skipped
  assert.deepEqual(sources, [`${dir}/countries.shp`]);
  assert.equal(table.numRows, 12);
  assert.equal(table.getChild("rank")!.get(3), 3);
});

Deno.test("a zipped Shapefile with a projected .prj is refused", async () => {
  const files = unzipSync(await Deno.readFile(COUNTRIES_ZIP));
  files["countries.prj"] = new TextEncoder().encode(
    'PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984"]]',
  );
  const dir = await testTempDir();
  await Deno.writeFile(`${dir}/m.zip`, zipSync(files));
  await assert.rejects(readInput(`${dir}/m.zip`), /Web_Mercator.*reproject it first/);
});

Deno.test("a zip without a Shapefile is refused", async () => {
  const dir = await testTempDir();
  await Deno.writeFile(`${dir}/x.zip`, zipSync({ "a.txt": new Uint8Array([1]) }));
  await assert.rejects(readInput(`${dir}/x.zip`), /holds no \.shp file/);
});

Deno.test("a FlatGeobuf file is read", async () => {
  const dir = await testTempDir();
  await Deno.writeFile(`${dir}/p.fgb`, flatgeobuf.serialize(POINTS as never));
  const { table } = await readInput(`${dir}/p.fgb`);
  assert.equal(table.numRows, 2);
  assert.equal(table.getChild("name")!.get(0), "a");
  assert.deepEqual(point(table, 0), { type: "Point", coordinates: [1, 2] });
});

Deno.test("an Arrow table and a GeoJSON object are accepted as input", async () => {
  const fromTable = await readInput(tableFromGeoJSON(POINTS));
  assert.equal(fromTable.table.numRows, 2);
  const fromObject = await readInput(POINTS.features[1]);
  assert.equal(fromObject.table.numRows, 1);
  assert.deepEqual(point(fromObject.table, 0), { type: "Point", coordinates: [3, 4] });
});

Deno.test("a folder is read file by file, filtered by fileSuffix, skipping _ files", async () => {
  const dir = await testTempDir();
  await Deno.writeTextFile(`${dir}/a.geojson`, JSON.stringify(POINTS));
  await Deno.writeTextFile(
    `${dir}/b.geojson`,
    JSON.stringify({ ...POINTS, features: [POINTS.features[0]] }),
  );
  await Deno.writeTextFile(`${dir}/c.csv`, "lon,lat\n1,1\n");
  await Deno.writeTextFile(`${dir}/_sample`, "not data");
  const { table, sources } = await readInput(dir, { fileSuffix: ".geojson" });
  assert.deepEqual(sources, [`${dir}/a.geojson`, `${dir}/b.geojson`]);
  assert.equal(table.numRows, 3);
  await assert.rejects(readInput(dir), /differ from/); // CSV columns differ from GeoJSON ones
});

Deno.test("fd:// inputs resolve under the fd root", async () => {
  const root = await testTempDir();
  options.fdPrefix = root;
  try {
    await Deno.mkdir(`${root}/bucket`);
    await Deno.writeTextFile(`${root}/bucket/p.json`, JSON.stringify(POINTS));
    const { table } = await readInput("fd://bucket/p.json");
    assert.equal(table.numRows, 2);
  } finally {
    options.reset();
  }
});

Deno.test("http inputs are downloaded, and a download over the limit is refused", async () => {
  const body = await Deno.readFile(AIRPORTS);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/data/airports.csv`;
    const { table } = await readInput(url);
    assert.equal(table.numRows, new TextDecoder().decode(body).trim().split("\n").length - 1);
    await assert.rejects(
      readInput(url, { maxDownloadBytes: 1000 }),
      /over 1000 bytes.*raise maxDownloadBytes/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("loadColumns and removeCols select columns and keep the geometry", async () => {
  const { table } = await readInput(AIRPORTS, { loadColumns: ["iata", "state"] });
  assert.deepEqual(table.schema.fields.map((f) => f.name), ["iata", "state", "geometry"]);
  const removed = await readInput(AIRPORTS, { removeCols: ["name", "city"] });
  assert.deepEqual(removed.table.schema.fields.map((f) => f.name), [
    "iata",
    "state",
    "country",
    "latitude",
    "longitude",
    "geometry",
  ]);
  await assert.rejects(
    readInput(AIRPORTS, { loadColumns: ["nope"] }),
    /loadColumns names "nope", which is not a column/,
  );
});

Deno.test("formats are known by extension and by magic bytes", () => {
  assert.equal(formatOfName("a/b.GeoJSON"), "geojson");
  assert.equal(formatOfName("https://x.org/t.parquet?x=1"), "parquet");
  assert.equal(formatOfName("a.gpkg"), undefined);
  assert.equal(sniffFormat(zipSync({ a: new Uint8Array(1) })), "zip");
  assert.equal(sniffFormat(flatgeobuf.serialize(POINTS as never)), "flatgeobuf");
  assert.equal(sniffFormat(new TextEncoder().encode('  {"type":')), "geojson");
});

Deno.test("bad inputs are refused with clear errors", async () => {
  const dir = await testTempDir();
  await Deno.writeTextFile(`${dir}/x.gpkg`, "SQLite format 3");
  await assert.rejects(readInput(`${dir}/x.gpkg`), /Cannot tell the format of .*x\.gpkg/);
  await Deno.writeTextFile(`${dir}/nolonlat.csv`, "a,b\n1,2\n");
  await assert.rejects(readInput(`${dir}/nolonlat.csv`), (e: Error) => {
    assert.ok(e instanceof ValidationError);
    assert.match(
      e.message,
      /no geometry column and no longitude\/latitude columns \(its columns are a, b\): pass lonlatCols/,
    );
    return true;
  });
  await assert.rejects(
    readInput(`${dir}/nolonlat.csv`, { lonlatCols: ["a", "c"] }),
    /lonlatCols names "c"/,
  );
  await Deno.writeTextFile(
    `${dir}/empty.geojson`,
    JSON.stringify({ type: "FeatureCollection", features: [] }),
  );
  await assert.rejects(readInput(`${dir}/empty.geojson`), /The input has no rows/);
  await Deno.writeTextFile(`${dir}/empty.csv`, "");
  await assert.rejects(readInput(`${dir}/empty.csv`), /is empty/);
  await assert.rejects(readInput(`${dir}/missing.csv`), /does not exist/);
  await assert.rejects(readInput([]), /input list is empty/);
  await assert.rejects(
    readInput("s3://bucket/x.parquet"),
    /s3:\/\/ storage is not available locally/,
  );
  await assert.rejects(readInput(42 as never), /Cannot ingest a number/);
  await assert.rejects(
    readInput({ type: "Point", coordinates: [0, 0] } as never),
    /wrap geometries in a Feature/,
  );
  await Deno.writeTextFile(`${dir}/bad.csv`, "lon,lat\nabc,1\n");
  await assert.rejects(
    readInput(`${dir}/bad.csv`, { lonlatCols: ["lon", "lat"] }),
    /holds "abc", which is not a number/,
  );
});

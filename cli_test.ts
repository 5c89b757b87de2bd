import assert from "node:assert/strict";
import { main } from "./cli.ts";
import * as fused from "./mod.ts";

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; errors: string[] }> {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    return { value: await fn(), errors };
  } finally {
    console.error = original;
  }
}

Deno.test("fused run writes a table result as CSV and JSON values as JSON", async () => {
  const dir = await Deno.makeTempDir();
  fused.options.cacheDirectory = dir;
  try {
    assert.equal(
      await main(["run", "examples/countries.ts", "prefix=Ger", "--out", `${dir}/out.csv`]),
      0,
    );
    const csv = await Deno.readTextFile(`${dir}/out.csv`);
    assert.match(csv, /^name,lon,lat,vertices\r\nGermany,/); // RFC 4180 line ends
    await Deno.writeTextFile(
      `${dir}/add.ts`,
      "export default ({ a = 1, b = 2 }) => ({ sum: a + b })",
    );
    assert.equal(
      await main(["run", `${dir}/add.ts`, "a=40", "b=2", "--no-cache", "--out", `${dir}/o.json`]),
      0,
    );
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/o.json`)), { sum: 42 });
  } finally {
    fused.options.cacheDirectory = null;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad command lines get an error that names the fix", async () => {
  const bad = await quiet(() => main(["run", "examples/countries.ts", "prefix"]));
  assert.equal(bad.value, 1);
  assert.match(bad.errors.join("\n"), /write key=value/);
  const tile = await quiet(() => main(["run", "examples/countries.ts", "--tile", "1-2-3"]));
  assert.equal(tile.value, 1);
  assert.match(tile.errors.join("\n"), /write Z\/X\/Y/);
  const unknown = await quiet(() => main(["frobnicate"]));
  assert.equal(unknown.value, 2);
  assert.match(unknown.errors.join("\n"), /Unknown command "frobnicate"/);
  const noUdf = await quiet(() => main(["run"]));
  assert.equal(noUdf.value, 1);
  assert.match(noUdf.errors.join("\n"), /needs a UDF/);
});

Deno.test("fused ingest partitions a GeoJSON file into chunked GeoParquet", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const features = Array.from({ length: 500 }, (_, i) => ({
      type: "Feature",
      properties: { i },
      geometry: { type: "Point", coordinates: [(i % 50) - 25, Math.floor(i / 50) - 5] },
    }));
    await Deno.writeTextFile(
      `${dir}/points.geojson`,
      JSON.stringify({ type: "FeatureCollection", features }),
    );
    const logs: string[] = [];
    const original = console.log;
    console.log = (...a: unknown[]) => logs.push(a.join(" "));
    try {
      assert.equal(
        await main([
          "ingest",
          `${dir}/points.geojson`,
          "--output",
          `${dir}/table`,
          "--target-chunks",
          "10",
        ]),
        0,
      );
    } finally {
      console.log = original;
    }
    assert.match(logs.join("\n"), /Wrote 500 rows into \d+ files and \d+ chunks/);
    const chunks = await fused.getChunksMetadata(`${dir}/table`);
    assert.ok(chunks.numRows >= 2);
    const bad = await quiet(() => main(["ingest", `${dir}/points.geojson`]));
    assert.equal(bad.value, 1);
    assert.match(bad.errors.join("\n"), /needs --output DIR/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

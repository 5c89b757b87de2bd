import assert from "node:assert/strict";
import {
  needsAssets,
  offlineBasemap,
  packageFile,
  resetAssets,
  vegaAssetsScript,
} from "./assets.ts";

Deno.test("once mode sends the libraries with the first output only, until reset", () => {
  resetAssets();
  assert.equal(needsAssets("maplibre"), true);
  assert.equal(needsAssets("maplibre"), false);
  assert.equal(needsAssets("vega"), true);
  assert.equal(needsAssets("maplibre", "inline"), true);
  resetAssets();
  assert.equal(needsAssets("maplibre"), true);
  assert.throws(() => needsAssets("vega", "sometimes" as never), /Unknown assets mode "sometimes"/);
});

Deno.test("package files are read from the pinned npm packages", () => {
  assert.match(packageFile("maplibre-gl", "dist/maplibre-gl.css"), /\.maplibregl-map/);
  assert.throws(() => packageFile("maplibre-gl", "dist/missing.js"), /run `deno install`/);
  assert.throws(
    () => packageFile("no-such-package-xyz", "a.js"),
    /Cannot find the npm package "no-such-package-xyz"/,
  );
});

Deno.test("the offline basemap has Natural Earth land and borders as GeoJSON", () => {
  const b = offlineBasemap() as {
    land: { type: string; features: unknown[] };
    borders: { type: string };
  };
  assert.equal(b.land.type, "FeatureCollection");
  assert.ok(b.land.features.length > 0);
  assert.equal(b.borders.type, "MultiLineString");
});

Deno.test("the chart asset script inlines everything and guards against a second evaluation", () => {
  const vega = vegaAssetsScript();
  assert.match(vega, /if\(w\.__fusedVega\)return;/);
  assert.equal((vega.match(/<\/script>/g) ?? []).length, 1);
});

Deno.test("the offline basemap is cut at the antimeridian: no edge runs across the map", () => {
  const b = offlineBasemap() as {
    land: { features: { geometry: { coordinates: unknown } }[] };
    borders: { coordinates: unknown };
  };
  let widest = 0, positions = 0;
  const walk = (c: unknown): void => {
    const list = c as number[][];
    if (typeof list[0]?.[0] === "number") {
      positions += list.length;
      for (let i = 1; i < list.length; i++) {
        widest = Math.max(widest, Math.abs(list[i][0] - list[i - 1][0]));
      }
      return;
    }
    for (const x of c as unknown[]) walk(x);
  };
  for (const f of b.land.features) walk(f.geometry.coordinates);
  walk(b.borders.coordinates);
  assert.ok(positions > 5_000, `${positions} positions`);
  assert.ok(widest <= 180, `an edge spans ${widest}° of longitude`);
});

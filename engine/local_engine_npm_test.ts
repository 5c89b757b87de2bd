import assert from "node:assert/strict";
import { ValidationError } from "../client/errors.ts";
import { NPM_LOCK_METADATA_KEY, Udf } from "../client/udf.ts";
import { LOCAL_POLICY } from "../client/engine_types.ts";
import { localCaller } from "./_local_host.ts";
import { LocalEngine } from "./mod.ts";
import { runtimeError, ts, withEngine } from "./_engine_test_util.ts";

// A UDF's own npm packages: installed by the host from the npm registry into Deno's cache (the
// real DENO_DIR) and the UDF's module folder, then run by the sandboxed process offline.

function callerWith(engine: LocalEngine, npm: { allow?: string[]; deny?: string[] }) {
  return { ...localCaller(engine), policy: { ...LOCAL_POLICY, npm } };
}

Deno.test("a UDF imports npm packages the project does not list: h3-js, @turf/turf, proj4", async () => {
  await withEngine({}, async (engine) => {
    const h3 = ts(`import { latLngToCell } from "npm:h3-js@4.1.0";
export default function udf({ lat = 37.7749, lng = -122.4194, res = 7 }) {
  return latLngToCell(lat, lng, res);
}`);
    assert.equal((await engine.run({ udf: h3 })).value, "872830828ffffff");
    const turf = ts(`import * as turf from "npm:@turf/turf";
export default function udf() {
  const square = turf.polygon([[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]);
  return [turf.area(square), turf.distance([-122.4194, 37.7749], [-118.2437, 34.0522])];
}`);
    const [area, km] = (await engine.run({ udf: turf })).value as number[];
    assert.ok(Math.abs(area / 12_363_718_145 - 1) < 1e-3, `area ${area}`);
    assert.ok(Math.abs(km - 559.1) < 1, `distance ${km}`);
    const proj = ts(`import proj4 from "npm:proj4@^2";
export default function udf() { return proj4("EPSG:4326", "EPSG:3857", [-122.4194, 37.7749]); }`);
    const [x, y] = (await engine.run({ udf: proj })).value as number[];
    const r = 6378137;
    const rad = Math.PI / 180;
    assert.ok(Math.abs(x - r * -122.4194 * rad) < 0.01, `x ${x}`);
    assert.ok(
      Math.abs(y - r * Math.log(Math.tan(Math.PI / 4 + 37.7749 * rad / 2))) < 0.01,
      `y ${y}`,
    );
    assert.equal(Math.round(x), -13627665);
    assert.equal(Math.round(y), 4547675);
  });
});

Deno.test("an unversioned import is pinned: the saved UDF carries the pin and runs it without installing", async () => {
  await withEngine({}, async (engine, dataDir) => {
    const u = ts(`import proj4 from "npm:proj4";
export default function udf() { return proj4.defs("EPSG:3857") ? "ok" : "none"; }`);
    assert.equal((await engine.run({ udf: u })).value, "ok");
    assert.equal(engine.stats.npmInstalls, 1);
    const json = u.toJSON();
    const pins = json.metadata?.[NPM_LOCK_METADATA_KEY] as { specifiers: Record<string, string> };
    assert.match(pins.specifiers["npm:proj4@*"], /^2\.\d+\.\d+$/);
    assert.match(u.toFiles()["meta.json"], /"npm:proj4@\*": "2\.\d+\.\d+"/);
    // A second run, a copy from the saved JSON, and another engine on the same data folder
    // (another service process) install nothing.
    await engine.run({ udf: u });
    await engine.run({ udf: Udf.fromJSON(JSON.stringify(json)) });
    assert.equal(engine.stats.npmInstalls, 1);
    const other = new LocalEngine({ dataDir });
    try {
      assert.equal((await other.run({ udf: Udf.fromJSON(json) })).value, "ok");
      assert.equal(other.stats.npmInstalls, 0);
    } finally {
      await other.close();
    }
  });
});

Deno.test("pin installs and pins a UDF's packages without running it", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`import { latLngToCell } from "npm:h3-js@4.1.0";\nexport default () => 1;`);
    await engine.pin(u);
    assert.equal(engine.stats.started, 0);
    const pins = u.metadata?.[NPM_LOCK_METADATA_KEY] as { specifiers: Record<string, string> };
    assert.equal(pins.specifiers["npm:h3-js@4.1.0"], "4.1.0");
  });
});

Deno.test("a package the caller's policy denies is refused with its name, before anything runs", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`import { latLngToCell } from "npm:h3-js@4.1.0";\nexport default () => 1;`);
    await assert.rejects(
      engine.run({ udf: u, caller: callerWith(engine, { deny: ["h3-js"] }) }),
      (err: Error) =>
        err instanceof ValidationError &&
        err.message.includes("npm:h3-js@4.1.0 is not allowed on this service") &&
        err.message.includes("its operator denies h3-js"),
    );
    await assert.rejects(
      engine.run({ udf: u, caller: callerWith(engine, { allow: ["@turf/*"] }) }),
      /its operator allows only @turf\/\*/,
    );
    assert.equal(engine.stats.started, 0);
    assert.equal(engine.stats.npmInstalls, 0);
    assert.equal((await engine.run({ udf: u })).value, 1);
  });
});

Deno.test("jsr: and https: imports are refused, naming the specifier", async () => {
  await withEngine({}, async (engine) => {
    const u = ts(`import { join } from "jsr:@std/path@1";\nexport default () => join("a", "b");`);
    await assert.rejects(engine.run({ udf: u }), /imports jsr:@std\/path@1, but a UDF's modules/);
  });
});

Deno.test("an npm import the host cannot see, or a bare package name, fails with a hint naming npm: specifiers", async () => {
  await withEngine({}, async (engine) => {
    const computed = ts(`export default async function udf() {
  const name = ["npm:left-pad", "1.3.0"].join("@");
  return (await import(name)).default("x", 3);
}`);
    const bare = ts(`import leftPad from "left-pad";\nexport default () => leftPad("x", 3);`);
    for (const [u, named] of [[computed, /npm:left-pad@1\.3\.0/], [bare, /"left-pad"/]] as const) {
      const err = await runtimeError(engine.run({ udf: u }));
      assert.match(err.message, named);
      assert.match(err.message, /any other npm package by an npm: specifier written in its code/);
      assert.doesNotMatch(err.message, /deno add|deno install|deno\.json/);
    }
  });
});

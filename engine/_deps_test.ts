import assert from "node:assert/strict";
import { join } from "node:path";
import { ValidationError } from "../client/errors.ts";
import { NPM_LOCK_METADATA_KEY, Udf, udf } from "../client/udf.ts";
import { checkNpmImports, npmImports, type NpmLock, UdfModules } from "./_deps.ts";

// These tests install real packages from the npm registry into Deno's own cache (DENO_DIR), as a
// host does: a package already there is linked without a download.

const H3 = `import { latLngToCell } from "npm:h3-js@4";
export default function udf() { return latLngToCell(37.7749, -122.4194, 7); }`;

/** h3-js 4.1.0 as Deno locks it: older than what `npm:h3-js@4` resolves to today. */
const H3_410_LOCK: NpmLock = {
  version: "5",
  specifiers: { "npm:h3-js@4": "4.1.0" },
  npm: {
    "h3-js@4.1.0": {
      integrity:
        "sha512-LQhmMl1dRQQjMXPzJc7MpZ/CqPOWWuAvVEoVJM9n/s7vHypj+c3Pd5rLQCkAsOgAoAYKbNCsYFE++LF7MvSfCQ==",
    },
  },
};

async function withModules(
  fn: (modules: UdfModules, dataDir: string) => Promise<void>,
  maxBytes?: number,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "deps_test_" });
  try {
    await fn(new UdfModules({ dataDir, maxBytes }), dataDir);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function refusal(prepare: () => unknown): Promise<string> {
  try {
    await prepare();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${err}`);
    return err.message;
  }
  throw new Error("it was not refused");
}

async function installedVersion(folder: string, name: string): Promise<string> {
  const text = await Deno.readTextFile(join(folder, "node_modules", name, "package.json"));
  return JSON.parse(text).version;
}

function withHeader(code: string, header: string): Udf {
  return udf(code, { name: "t", headers: { helper: header } });
}

Deno.test("npm imports are found in the UDF and its headers, not the SDK's own packages", () => {
  const files = {
    "t.ts": `import { z } from "npm:zod@4.6.7";
import * as arrow from "npm:apache-arrow@21.2.0/Arrow.node";
import { latLngToCell } from "npm:h3-js@4";
const turf = await import("npm:@turf/turf");
import type { Feature } from "npm:@types/geojson";`,
    "helper.ts": `export { default as proj4 } from "npm:/proj4@2.22.0/dist/proj4.js";`,
  };
  assert.deepEqual(
    npmImports("t", files).map((i) => [i.name, i.requirement]),
    [
      ["h3-js", "npm:h3-js@4"],
      ["@turf/turf", "npm:@turf/turf"],
      ["@types/geojson", "npm:@types/geojson"],
      ["proj4", "npm:proj4@2.22.0"],
    ],
  );
});

Deno.test("jsr: and http(s): imports are refused, naming the specifier", () => {
  for (const specifier of ["jsr:@std/path@1", "https://esm.sh/h3-js@4", "http://x.test/m.ts"]) {
    assert.throws(
      () => npmImports("t", { "t.ts": `import "${specifier}";` }),
      (err: Error) =>
        err instanceof ValidationError && err.message.includes(specifier) &&
        err.message.includes("npm registry only"),
    );
  }
});

Deno.test("the deny list wins, @scope/* covers a scope, and without allow any other package passes", () => {
  const imports = npmImports("t", {
    "t.ts": `import "npm:h3-js@4"; import "npm:@turf/area@7";`,
  });
  checkNpmImports("t", imports, {});
  checkNpmImports("t", imports, { deny: ["left-pad"] });
  checkNpmImports("t", imports, { allow: ["h3-js", "@turf/*"] });
  assert.throws(
    () => checkNpmImports("t", imports, { allow: ["h3-js", "@turf/*"], deny: ["@turf/*"] }),
    /npm:@turf\/area@7 is not allowed on this service \(its operator denies @turf\/\*\)/,
  );
  assert.throws(
    () => checkNpmImports("t", imports, { allow: ["h3-js"] }),
    /npm:@turf\/area@7 is not allowed on this service \(its operator allows only h3-js\): remove the import, or ask the operator to allow @turf\/area/,
  );
  assert.throws(() => checkNpmImports("t", imports, { deny: ["*"] }), /denies \*/);
});

Deno.test("a UDF's packages are installed in its folder and pinned in its metadata", async () => {
  await withModules(async (modules) => {
    const u = udf(H3, { name: "h3" });
    const module = await modules.prepare(u, {});
    assert.equal(modules.installs, 1);
    assert.match(await module.written, /h3\.ts$/);
    const pins = u.metadata?.[NPM_LOCK_METADATA_KEY] as NpmLock;
    const version = pins.specifiers["npm:h3-js@4"];
    assert.match(version, /^4\.\d+\.\d+$/);
    assert.equal(await installedVersion(module.folder, "h3-js"), version);
    assert.deepEqual(pins, module.lock);
  });
});

Deno.test("concurrent first runs share one install, and later ones start none", async () => {
  await withModules(async (modules) => {
    const [a, b] = await Promise.all([
      modules.prepare(udf(H3, { name: "h3" }), {}),
      modules.prepare(udf(H3, { name: "h3" }), {}),
    ]);
    assert.equal(a.folder, b.folder);
    const pinned = udf(H3, { name: "h3" });
    await modules.prepare(pinned, {});
    // Known now: returned at once, so the engine queues the run in call order.
    assert.ok(!(modules.prepare(pinned, {}) instanceof Promise));
    assert.equal(modules.installs, 1);
  });
});

Deno.test("a saved lock installs its versions, and its folder on disk is reused without a subprocess", async () => {
  await withModules(async (modules, dataDir) => {
    const u = udf(H3, { name: "h3", metadata: { [NPM_LOCK_METADATA_KEY]: H3_410_LOCK } });
    const module = await modules.prepare(u, {});
    assert.equal(await installedVersion(module.folder, "h3-js"), "4.1.0");
    assert.deepEqual(u.metadata?.[NPM_LOCK_METADATA_KEY], H3_410_LOCK);
    // Another engine (another service process) on the same data folder.
    const again = new UdfModules({ dataDir });
    const loaded = Udf.fromJSON(JSON.parse(JSON.stringify(u)));
    assert.equal((await again.prepare(loaded, {})).folder, module.folder);
    assert.equal(again.installs, 0);
  });
});

Deno.test("an import added since the lock was saved extends it", async () => {
  await withModules(async (modules) => {
    const code = `${H3}\nexport { default as proj4 } from "npm:proj4@2.22.0";`;
    const u = udf(code, { name: "h3", metadata: { [NPM_LOCK_METADATA_KEY]: H3_410_LOCK } });
    const module = await modules.prepare(u, {});
    assert.equal(await installedVersion(module.folder, "h3-js"), "4.1.0");
    assert.equal(module.lock?.specifiers["npm:proj4@2.22.0"], "2.22.0");
  });
});

Deno.test("a denied dependency is refused with the import that brings it, and nothing stays installed", async () => {
  await withModules(async (modules, dataDir) => {
    const u = udf(`import proj4 from "npm:proj4@2.22.0";\nexport default () => 1;`, { name: "p" });
    const message = await refusal(() => modules.prepare(u, { deny: ["mgrs"] }));
    assert.match(
      message,
      /npm:proj4@2\.22\.0 depends on mgrs@1\.0\.0, which is not allowed on this service \(its operator denies mgrs\)/,
    );
    assert.deepEqual([...Deno.readDirSync(join(dataDir, "udfs"))], []);
    assert.equal(u.metadata, null);
    // An allow list covers what the UDF imports, not what those packages depend on.
    await modules.prepare(u, { allow: ["proj4"] });
  });
});

Deno.test("packages over the size cap are refused with their size and the largest ones", async () => {
  await withModules(async (modules) => {
    const message = await refusal(() => modules.prepare(udf(H3, { name: "h3" }), {}));
    assert.match(message, /its npm packages take \d+\.\d MB unpacked \(1 package; largest h3-js@/);
    assert.match(message, /over this host's cap of 1 MB/);
  }, 2 ** 20);
});

Deno.test("one package at two versions in a UDF and its header is refused", async () => {
  await withModules(async (modules) => {
    const u = withHeader(
      `import proj4 from "npm:proj4@2.21.0";\nexport default () => 1;`,
      `export { default } from "npm:proj4@2.22.0";`,
    );
    const message = await refusal(() => modules.prepare(u, {}));
    assert.match(message, /imports proj4 at 2 versions \(2\.21\.0, 2\.22\.0\)/);
  });
});

Deno.test("a package that does not exist is named in the error", async () => {
  await withModules(async (modules) => {
    const u = udf(`import "npm:fused-ts-no-such-package-3f9a@1";\nexport default () => 1;`);
    const message = await refusal(() => modules.prepare(u, {}));
    assert.match(message, /npm:fused-ts-no-such-package-3f9a@1/);
    assert.match(message, /does not exist/);
  });
});

Deno.test("invalid pins in the metadata are refused, naming the key", async () => {
  await withModules(async (modules) => {
    const u = udf(H3, { name: "h3", metadata: { [NPM_LOCK_METADATA_KEY]: { specifiers: 1 } } });
    assert.match(
      await refusal(() => modules.prepare(u, {})),
      /invalid "fused:npm" in its metadata/,
    );
  });
});

Deno.test("a UDF without npm packages of its own starts no install", async () => {
  await withModules(async (modules) => {
    const u = udf(`import { z } from "zod";
import * as arrow from "npm:apache-arrow@21.2.0";
export default () => [typeof z, typeof arrow];`);
    const module = await modules.prepare(u, { allow: [] });
    await module.written;
    assert.equal(module.lock, undefined);
    assert.equal(modules.installs, 0);
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { options } from "../client/options.ts";
import { cachingLocalEngine, installEngine } from "../client/run.ts";
import { udf } from "../client/udf.ts";
import { defaultEngine } from "../engine/mod.ts";
import { JUPYTER_DISPLAY } from "../display/mime.ts";
import { parseLine } from "./args.ts";
import { fusedCell } from "./fused_cell.ts";
import { fusedLine } from "./fused_line.ts";
import { FUSED_CELL, FUSED_LINE } from "./spec.ts";
import { type TestContext, testContext } from "./_test_context.ts";
import { embeddedService } from "./_common.ts";
import { notebookJson } from "../tests/_helpers.ts";

installEngine("local", cachingLocalEngine(defaultEngine()));
options.cacheDirectory = await Deno.makeTempDir({ prefix: "fused-magics-cache-" });

async function line(text: string, ctx: TestContext = testContext()) {
  const value = await fusedLine(await parseLine(FUSED_LINE, text, { evaluate: ctx.evaluate }), ctx);
  return { ctx, value };
}

async function bundleOf(value: unknown): Promise<Record<string, unknown>> {
  return await (value as { [JUPYTER_DISPLAY](): Promise<Record<string, unknown>> })
    [JUPYTER_DISPLAY]();
}

const DOUBLE = udf("export default function udf({ n = 1 }) {\n  return n * 2;\n}\n", {
  name: "double",
});

Deno.test("%fused options shows every option with its value", async () => {
  const { ctx } = await line("options");
  assert.match(ctx.stdout, /^FusedOptions \{/);
  assert.match(ctx.stdout, /runTimeout: \d+/);
});

Deno.test("%fused options KEY VALUE sets an option from JSON text and shows it", async () => {
  const before = options.runTimeout;
  try {
    const { ctx } = await line("options runTimeout 61");
    assert.equal(options.runTimeout, 61);
    assert.equal(ctx.stdout, "runTimeout: 61  (set)\n");
  } finally {
    options.runTimeout = before;
  }
});

Deno.test("%fused options with a misspelt key suggests the right one", async () => {
  await assert.rejects(
    line("options runTimout"),
    /Unknown option "runTimout": did you mean "runTimeout"\?/,
  );
});

Deno.test("%fused run runs a Udf bound in the notebook, with --out", async () => {
  const ctx = testContext({ double: DOUBLE });
  const { value } = await line("run double n=4 --out eight --no-cache", ctx);
  assert.equal(value, 8);
  assert.equal(ctx.scope.eight, 8);
});

Deno.test("%fused run takes a Udf value through {expr}", async () => {
  const ctx = testContext({ udfs: { d: DOUBLE } });
  const { value } = await line("run {udfs.d} n=1 --no-cache", ctx);
  assert.equal(value, 2);
});

Deno.test("%fused run loads a .ts file path", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "triple.ts");
  await Deno.writeTextFile(path, "export default function udf({ n = 1 }) {\n  return n * 3;\n}\n");
  const { value } = await line(`run ${path} n=3 --no-cache`);
  assert.equal(value, 9);
});

Deno.test("%fused load --as binds the loaded Udf and shows its card", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "hello.ts");
  await Deno.writeTextFile(path, "export default function udf() {\n  return 'hi';\n}\n");
  const { ctx, value } = await line(`load "${path}" --as hello`);
  assert.equal((ctx.scope.hello as { code: string }).code.includes("'hi'"), true);
  assert.match(String((await bundleOf(value))["text/plain"]), /^Udf "/);
});

Deno.test("%fused alone and %fused help run print help", async () => {
  assert.match((await line("")).ctx.stdout, /^Usage: %fused SUBCOMMAND/);
  assert.match((await line("help run")).ctx.stdout, /^Usage: %fused run NAME_OR_PATH/);
  assert.match((await line("logs?")).ctx.stdout, /^Usage: %fused logs JOB_ID \[--follow\]/);
  await assert.rejects(line("help rnu"), /did you mean "run"/);
});

Deno.test("%fused serve starts the embedded service; files, save, share and map work through it", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "fused-magics-server-" });
  const previousBaseUrl = options.baseUrl;
  const ctx = testContext();
  await line(`serve --port 0 --data-dir ${dataDir}`, ctx);
  try {
    assert.match(ctx.stdout, /^Embedded Fused service at http:\/\/127\.0\.0\.1:\d+\/v1/);
    assert.notEqual(options.baseUrl, previousBaseUrl);
    ctx.stdout = "";
    await line("serve", ctx);
    assert.match(ctx.stdout, /^Kept the running service\. Embedded Fused service at/);

    ctx.stdout = "";
    await line("whoami", ctx);
    assert.match(ctx.stdout, /^admin@localhost/);

    const local = join(dataDir, "..", `${crypto.randomUUID()}.txt`);
    await Deno.writeTextFile(local, "hello fd");
    await line(`cp ${local} fd://notes/hello.txt`, ctx);
    const { value: listing } = await line("ls fd://notes/", ctx);
    assert.match(String((await bundleOf(listing))["text/plain"]), /hello\.txt/);

    ctx.stdout = "";
    await line("sign fd://notes/hello.txt --expiration 60", ctx);
    const signed = ctx.stdout.trim();
    assert.equal(await (await fetch(signed)).text(), "hello fd");

    const back = `${local}.back`;
    await line(`cp fd://notes/hello.txt ${back}`, ctx);
    assert.equal(await Deno.readTextFile(back), "hello fd");

    ctx.stdout = "";
    await line("rm fd://notes/hello.txt", ctx);
    assert.equal(ctx.stdout, "Deleted fd://notes/hello.txt\n");

    // %%fused --share saves the UDF and prints token URLs that run it on the service.
    const cellCtx = testContext();
    const parsed = await parseLine(FUSED_CELL, "shared_double --share");
    await fusedCell(
      parsed,
      "export default function udf({ n = 1 }) {\n  return n * 2;\n}\n",
      cellCtx,
    );
    const run = cellCtx.stdout.match(/run: +(\S+)/)?.[1];
    assert.ok(run, cellCtx.stdout);
    assert.match(cellCtx.stdout, /^Saved UDF shared_double as shared_double/);
    assert.match(cellCtx.stdout, /tiles: +\S+\/run\/tiles\/\{z\}\/\{x\}\/\{y\}/);
    const answer = await fetch(`${run}?format=json&n=5`);
    assert.equal(answer.status, 200);
    assert.equal(await answer.json(), 10);

    // A UDF that takes bounds becomes a live tile layer served by the service.
    const mapCtx = testContext();
    const tiled = await parseLine(FUSED_CELL, "dots --map --no-cache");
    await fusedCell(
      tiled,
      'import * as arrow from "apache-arrow";\n' +
        "export default function udf({ bounds }: { bounds: number[] }) {\n" +
        "  const [w, s, e, n] = bounds;\n" +
        "  const wkb = new DataView(new ArrayBuffer(21));\n" +
        "  wkb.setUint8(0, 1);\n  wkb.setUint32(1, 1, true);\n" +
        "  wkb.setFloat64(5, (w + e) / 2, true);\n  wkb.setFloat64(13, (s + n) / 2, true);\n" +
        "  const geometry = arrow.vectorFromArray([new Uint8Array(wkb.buffer)], new arrow.Binary());\n" +
        "  return new arrow.Table({ geometry });\n}\n",
      mapCtx,
    );
    assert.equal(mapCtx.displays.length, 1);
    const map = await bundleOf(mapCtx.displays[0]);
    assert.match(
      String(map["text/plain"]),
      /tiles http:\/\/127\.0\.0\.1:\d+\/.*\/run\/tiles\/\{z\}\/\{x\}\/\{y\}\?format=mvt/,
    );
    const tileUrl = String(map["text/plain"]).match(/tiles (\S+)/)![1]
      .replace("{z}", "1").replace("{x}", "0").replace("{y}", "0");
    const tile = await fetch(tileUrl);
    assert.equal(tile.status, 200);
    assert.ok((await tile.arrayBuffer()).byteLength > 0);
  } finally {
    ctx.stdout = "";
    await line("serve --stop", ctx);
  }
  assert.match(ctx.stdout, /^Stopped the embedded service/);
  assert.equal(options.baseUrl, previousBaseUrl);
});

Deno.test("%fused ingest partitions a GeoJSON file and binds the result with --out", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const features = Array.from({ length: 200 }, (_, i) => ({
      type: "Feature",
      properties: { i },
      geometry: { type: "Point", coordinates: [(i % 20) - 10, Math.floor(i / 20) - 5] },
    }));
    await Deno.writeTextFile(
      join(dir, "p.geojson"),
      JSON.stringify({ type: "FeatureCollection", features }),
    );
    const { ctx } = await line(
      `ingest ${join(dir, "p.geojson")} --output ${join(dir, "t")} --target-chunks 8 --out info`,
    );
    assert.match(ctx.stdout, /Wrote 200 rows into \d+ files and \d+ chunks/);
    assert.equal((ctx.scope.info as { rows: number }).rows, 200);
    await assert.rejects(() => line(`ingest ${join(dir, "p.geojson")}`), /needs --output DIR/);
    await assert.rejects(
      () => line(`ingest ${join(dir, "p.geojson")} --output ${join(dir, "u")} --method volume`),
      /volume/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs `fn` with an embedded service started by `%fused serve --port 0`, then stops it. */
async function withService(fn: (ctx: TestContext) => Promise<void>): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "fused-magics-server-" });
  const ctx = testContext();
  await line(`serve --port 0 --data-dir ${dataDir}`, ctx);
  try {
    await fn(ctx);
  } finally {
    await line("serve --stop", ctx);
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("--map of a UDF that declares x, y, z is a live tile layer whose tiles get x, y, z", async () => {
  await withService(async () => {
    const mapCtx = testContext();
    await fusedCell(
      await parseLine(FUSED_CELL, "xyz_dots --map --no-cache"),
      'import * as arrow from "apache-arrow";\n' +
        "export default function udf({ x, y, z }: { x: number; y: number; z: number }) {\n" +
        "  const n = 2 ** z;\n" +
        "  const lon = ((x + 0.5) / n) * 360 - 180;\n" +
        "  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (y + 0.5)) / n))) * 180) / Math.PI;\n" +
        "  const wkb = new DataView(new ArrayBuffer(21));\n" +
        "  wkb.setUint8(0, 1);\n  wkb.setUint32(1, 1, true);\n" +
        "  wkb.setFloat64(5, lon, true);\n  wkb.setFloat64(13, lat, true);\n" +
        "  const geometry = arrow.vectorFromArray([new Uint8Array(wkb.buffer)], new arrow.Binary());\n" +
        "  return new arrow.Table({ geometry });\n}\n",
      mapCtx,
    );
    assert.equal(mapCtx.displays.length, 1);
    const map = await bundleOf(mapCtx.displays[0]);
    assert.match(
      String(map["text/plain"]),
      /tiles http:\S+\/run\/tiles\/\{z\}\/\{x\}\/\{y\}\?format=mvt/,
    );
    const tileUrl = String(map["text/plain"]).match(/tiles (\S+)/)![1]
      .replace("{z}", "2").replace("{x}", "1").replace("{y}", "2");
    const tile = await fetch(tileUrl);
    assert.equal(tile.status, 200);
    assert.ok((await tile.arrayBuffer()).byteLength > 0);
  });
});

Deno.test("%fused run of a name that is no UDF, without a service, says so and guesses", async () => {
  const ctx = testContext();
  await fusedCell(await parseLine(FUSED_CELL, "double_it"), DOUBLE.code, ctx);
  await assert.rejects(
    line("run double_itt", ctx),
    /^ValidationError: No UDF named double_itt \(did you mean double_it\?\): .*run %fused serve/,
  );
  await assert.rejects(line("run nosuch", testContext()), (err: Error) => {
    assert.match(err.message, /^No UDF named nosuch/);
    assert.doesNotMatch(err.message, /did you mean/);
    return true;
  });
});

Deno.test("%fused serve again is never an error: it keeps or moves the service and says which", async () => {
  await withService(async (ctx) => {
    const first = options.baseUrl;
    const dataDir = String(ctx.stdout.match(/\(data in (\S+)\)/)?.[1]);
    ctx.stdout = "";
    // A second Run All of notebooks/main.ipynb: the same flags, port 0.
    await line(`serve --port 0 --data-dir ${dataDir}`, ctx);
    assert.match(ctx.stdout, /^Kept the running service\. Embedded Fused service at /);
    assert.equal(options.baseUrl, first);
    // Another data folder (main.ipynb makes a new temp folder per Run All): moved there.
    const other = await Deno.makeTempDir({ prefix: "fused-magics-server-" });
    ctx.stdout = "";
    await line(`serve --port 0 --data-dir ${other}`, ctx);
    assert.match(
      ctx.stdout,
      /^Moved the embedded service from http:\S+ to data in \S+\.\nEmbedded/,
    );
    assert.notEqual(options.baseUrl, first);
    ctx.stdout = "";
    await line("whoami", ctx);
    assert.match(ctx.stdout, /^admin@localhost/);
    // Another port: moved to it.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    ctx.stdout = "";
    await line(`serve --port ${port} --data-dir ${other}`, ctx);
    assert.match(
      ctx.stdout,
      new RegExp(`^Moved the embedded service from \\S+ to port ${port}\\.`),
    );
    assert.match(options.baseUrl as string, new RegExp(`:${port}/`));
    await Deno.remove(other, { recursive: true }).catch(() => {});
  });
});

Deno.test("in a fused publish run, %fused serve uses the publishing service and %fused publish is refused", async () => {
  Deno.env.set("FUSED_PUBLISH_SERVICE", "http://127.0.0.1:8783");
  Deno.env.set("FUSED_PUBLISH_RUN", "run-1");
  try {
    const { ctx } = await line("serve --port 0");
    assert.equal(
      ctx.stdout,
      "Publishing to http://127.0.0.1:8783: %fused serve uses that service instead of starting its own\n",
    );
    assert.equal(embeddedService(), undefined, "no service was started");
    await assert.rejects(
      line("publish other.ipynb"),
      /%fused publish cannot run inside a notebook being published \(to http:\/\/127\.0\.0\.1:8783\)/,
    );
  } finally {
    Deno.env.delete("FUSED_PUBLISH_SERVICE");
    Deno.env.delete("FUSED_PUBLISH_RUN");
  }
});

Deno.test("%fused publish refuses the embedded service, which stops with the kernel", async () => {
  await withService(async (ctx) => {
    await assert.rejects(
      line("publish main.ipynb", ctx),
      /%fused publish needs a lasting service: the embedded one at http:\/\/127\.0\.0\.1:\d+ stops with this kernel/,
    );
  });
});

Deno.test("%fused publish runs a notebook against a lasting service and publishes it; again updates it", async () => {
  const { startServer } = await import("../server/mod.ts");
  const dir = await Deno.makeTempDir({ prefix: "fused-magics-publish-" });
  const server = await startServer({ port: 0, dataDir: join(dir, "service"), quiet: true });
  const savedDataDir = Deno.env.get("JUPYTER_DATA_DIR");
  Deno.env.set("JUPYTER_DATA_DIR", join(dir, "jupyter"));
  try {
    const path = join(dir, "sums.ipynb");
    const publish = `publish ${path} --service ${server.url} --token ${server.adminToken}`;
    await Deno.writeTextFile(path, notebookJson(["`the sum is ${20 + 22}`"]));
    const { ctx } = await line(publish);
    assert.match(ctx.stdout, /^Executing .*sums\.ipynb in the kernel "Deno \(Fused\)"/);
    const url = `${server.url}/pages/admin/sums`;
    assert.ok(ctx.stdout.trimEnd().endsWith(url), ctx.stdout);
    assert.match(await (await fetch(url)).text(), /the sum is 42/);
    await Deno.writeTextFile(path, notebookJson(["`the sum is ${40 + 2} again`"]));
    await line(publish);
    assert.match(await (await fetch(url)).text(), /the sum is 42 again/);
  } finally {
    if (savedDataDir === undefined) Deno.env.delete("JUPYTER_DATA_DIR");
    else Deno.env.set("JUPYTER_DATA_DIR", savedDataDir);
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

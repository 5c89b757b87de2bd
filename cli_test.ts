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

Deno.test("fused demo runs this checkout's kernel without re-pointing the user-wide kernelspec", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-demo-kernel-test-" });
  try {
    // A user-wide kernelspec of another checkout, and a `jupyter` that records what it would run.
    const userSpec = `${dir}/data/kernels/fused/kernel.json`;
    await Deno.mkdir(`${dir}/data/kernels/fused`, { recursive: true });
    const theirs = JSON.stringify({ argv: ["deno", "run", "/elsewhere/kernel/main.ts"] });
    await Deno.writeTextFile(userSpec, theirs);
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(
      `${dir}/bin/jupyter`,
      `#!/bin/sh\ncat "\${JUPYTER_PATH%%:*}/kernels/fused/kernel.json" > "${dir}/used.json"\nexit 1\n`,
    );
    await Deno.chmod(`${dir}/bin/jupyter`, 0o755);
    const out = await new Deno.Command(new URL("./fused", import.meta.url).pathname, {
      args: ["demo", "--out", `${dir}/out`],
      env: { JUPYTER_DATA_DIR: `${dir}/data`, PATH: `${dir}/bin:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(300_000),
    }).output();
    assert.equal(out.code, 1, "the fake jupyter fails the demo");
    assert.equal(await Deno.readTextFile(userSpec), theirs, "the user-wide spec is left alone");
    const used = JSON.parse(await Deno.readTextFile(`${dir}/used.json`)).argv as string[];
    assert.ok(used.includes(new URL("./kernel/main.ts", import.meta.url).pathname), used.join(" "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fused publish --list and fused unpublish act on the service's pages; --service is required", async () => {
  const noService = await quiet(() => main(["publish", "main.ipynb"]));
  assert.equal(noService.value, 1);
  assert.match(
    noService.errors.join("\n"),
    /fused publish needs --service URL: the lasting service/,
  );
  const { startServer } = await import("./server/mod.ts");
  const dir = await Deno.makeTempDir({ prefix: "fused-cli-pages-" });
  const server = await startServer({ port: 0, dataDir: dir, quiet: true });
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    const transport = new fused.api.Transport({
      baseUrl: server.baseUrl,
      token: server.adminToken,
    });
    await fused.api.publishPage("tour", "<p>hi</p>", { notebook: "tour.ipynb", transport });
    const flags = ["--service", server.url, "--token", server.adminToken];
    assert.equal(await main(["publish", "--list", ...flags]), 0);
    assert.match(
      printed.join("\n"),
      new RegExp(`^tour  \\S+  tour\\.ipynb  ${server.url}/pages/admin/tour$`),
    );
    assert.equal(await main(["unpublish", "tour", ...flags]), 0);
    assert.match(
      printed.at(-1)!,
      /^Unpublished .*\/pages\/admin\/tour and deleted its 0 share tokens$/,
    );
    const again = await quiet(() => main(["unpublish", "tour", ...flags]));
    assert.equal(again.value, 1);
    assert.match(again.errors.join("\n"), /You have no published page "tour"/);
  } finally {
    console.log = log;
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

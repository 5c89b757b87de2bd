/**
 * One `fd://`: a table uploaded to the embedded service with `fused.api.upload` is the table
 * `getChunksMetadata`, `getChunkFromTable` and `download` read, through the service.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import * as fused from "../mod.ts";
import { startServer } from "../server/mod.ts";

const AIRPORTS = new URL("../node_modules/vega-datasets/data/airports.csv", import.meta.url);

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const full = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await filesUnder(full));
    else out.push(full);
  }
  return out;
}

Deno.test({
  name: "fd:// is one place for the embedded service and the SDK on this machine",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "fd_test_" });
    const serverDir = join(root, "server");
    Deno.env.set("FUSED_SERVER_DIR", serverDir);
    const server = await startServer({ port: 0, dataDir: serverDir, quiet: true });
    Deno.env.set("FUSED_AUTH_TOKEN", server.adminToken);
    fused.options.update({ baseUrl: server.baseUrl, dataDirectory: join(root, "data") });
    try {
      const local = join(root, "ingested");
      await fused.ingest(AIRPORTS.pathname, {
        output: local,
        lonlatCols: ["longitude", "latitude"],
      } as fused.IngestOptions);
      for (const file of await filesUnder(local)) {
        await fused.api.upload(file, `fd://tables/airports/${relative(local, file)}`);
      }
      const chunks = await fused.getChunksMetadata("fd://tables/airports");
      assert.ok(chunks.numRows > 0);
      const rows = await fused.getChunkFromTable("fd://tables/airports", 0, 0);
      assert.ok(rows.numRows > 0);

      // fd:// downloads go through the service, whose store may be another machine's folder or
      // S3: nothing reads the service's folder behind its back.
      await fused.api.upload(new TextEncoder().encode("hello"), "fd://notes/hello.txt");
      const path = await fused.download("fd://notes/hello.txt");
      assert.equal(await Deno.readTextFile(path), "hello");
    } finally {
      Deno.env.delete("FUSED_AUTH_TOKEN");
      Deno.env.delete("FUSED_SERVER_DIR");
      fused.options.reset();
      await server.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});

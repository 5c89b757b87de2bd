/**
 * The disk cache behind share-token runs stays under `options.cacheMaxBytes` however many new
 * parameters a token holder sends (the 3,000 calls kept 3,000 entries for 90 days).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { options } from "../client/options.ts";
import { saveUdf, shareUdf, withServer } from "./_testing.ts";

async function cacheBytes(dir: string): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  async function walk(d: string): Promise<void> {
    for await (const entry of Deno.readDir(d)) {
      const path = join(d, entry.name);
      if (entry.isDirectory) {
        if (entry.name.startsWith("data_")) entries++;
        await walk(path);
      } else bytes += (await Deno.stat(path)).size;
    }
  }
  await walk(dir);
  return { bytes, entries };
}

Deno.test("share-token runs with ever new parameters keep the disk cache under its limit", async () => {
  await withServer(async (server) => {
    const limit = 400_000;
    options.cacheMaxBytes = limit;
    const saved = await saveUdf(
      server,
      "pad",
      "export default function udf({ n = 0 }: { n?: number }) { return 'x'.repeat(20000) + n }",
    );
    const token = await shareUdf(server, saved.id);
    const calls = 60;
    for (let n = 0; n < calls; n++) {
      const res = await fetch(`${server.url}/${token}.json?n=${n}`);
      assert.equal(res.status, 200, await res.clone().text());
      await res.body?.cancel();
    }
    const { bytes, entries } = await cacheBytes(options.cacheDirectory!);
    assert.ok(bytes <= limit, `the cache holds ${bytes} bytes, over the limit of ${limit}`);
    assert.ok(entries > 0 && entries < calls, `${entries} entries for ${calls} calls`);
  });
});

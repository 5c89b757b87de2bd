import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import { saveUdf, shareUdf, withServer } from "./_testing.ts";

const ROWS = `import { tableFromArrays } from "apache-arrow";
export default function udf({ n = 3 }: { n?: number }) {
  return tableFromArrays({ i: Int32Array.from({ length: n }, (_, i) => i), label: Array.from({ length: n }, (_, i) => "row " + i) });
}`;

Deno.test("DuckDB reads the rows of a token .parquet URL", async () => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "rows", ROWS);
    const token = await shareUdf(server, saved.id);
    const url = `${server.url}/${token}.parquet?n=17`;
    const db = await DuckDBInstance.create(":memory:");
    const conn = await db.connect();
    let count: number;
    try {
      // DuckDB needs its httpfs extension for http:// URLs; it downloads it on first use, which
      // fails offline, so fall back to handing DuckDB the bytes as a local file.
      const direct = await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n FROM read_parquet('${url}')`,
      );
      count = Number(direct.getRowObjects()[0].n);
    } catch (err) {
      assert.match((err as Error).message, /httpfs/);
      const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
      const file = await Deno.makeTempFile({ suffix: ".parquet" });
      await Deno.writeFile(file, bytes);
      const local = await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, max(label) AS last FROM read_parquet('${file}')`,
      );
      const row = local.getRowObjects()[0];
      count = Number(row.n);
      assert.equal(row.last, "row 9");
      await Deno.remove(file);
    }
    assert.equal(count, 17);
    conn.closeSync();
    db.closeSync();
  });
});

Deno.test("the curl examples of the README work as printed", async () => {
  await withServer(async (server) => {
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const start = readme.indexOf("## The service over HTTP");
    assert.ok(start >= 0, "the README has a section 'The service over HTTP'");
    const end = readme.indexOf("\n## ", start + 1);
    const section = readme.slice(start, end < 0 ? undefined : end);
    const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
    assert.ok(blocks.length >= 3, "the section has its curl examples");
    const script = `set -e\n${blocks.join("\n")}`.replaceAll(
      "127.0.0.1:8783",
      new URL(server.url).host,
    );
    const cwd = await Deno.makeTempDir();
    const out = await new Deno.Command("bash", {
      args: ["-c", script],
      cwd,
      env: { FUSED_SERVER_DIR: server.dataDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr) + stdout);
    assert.match(stdout, /"email":"admin@localhost"/);
    assert.match(stdout, /"slug":"hello"/);
    assert.match(stdout, /\[\{"i":0,"greeting":"hello curl"\},\{"i":1,"greeting":"hello curl"\}\]/);
    assert.match(stdout, /x-fused-metadata: \{"stdout":""/i);
    assert.match(stdout, /\["fd:\/\/demo\/hello.parquet"\]/);
    assert.match(stdout, /signed download ok/);
    await Deno.remove(cwd, { recursive: true });
  });
});

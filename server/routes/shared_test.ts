import assert from "node:assert/strict";
import { LocalEngine } from "../../engine/mod.ts";
import { saveUdf, shareUdf, type TestServer, withServer } from "../_testing.ts";
import { matchTokenRun } from "./shared.ts";

const TOKEN = `fsh_${"0123456789abcdef".repeat(2)}`;

Deno.test("token-run URLs are matched as the routes match them, and nothing else", () => {
  const base = "http://127.0.0.1:8783";
  const cases: [string, ReturnType<typeof matchTokenRun>][] = [
    [`/${TOKEN}/run`, { token: TOKEN }],
    [`/${TOKEN}/run/file?n=1&format=json`, { token: TOKEN }],
    [`/v1/realtime-shared/${TOKEN}/run/file`, { token: TOKEN }],
    [`/${TOKEN}/run/tiles/3/2/1?format=mvt`, { token: TOKEN, tile: { z: "3", x: "2", y: "1" } }],
    [`/${TOKEN}.parquet?n=2`, { token: TOKEN, format: "parquet" }],
    ["/UDF_my-udf_1.json", { token: "UDF_my-udf_1", format: "json" }],
    // Left to the app's router: not a token run, or spelled in a way the routes decode or refuse.
    [`/${TOKEN}/run/`, undefined],
    [`/${TOKEN}/runs`, undefined],
    [`/${TOKEN}/run/tiles/3/2`, undefined],
    [`/${TOKEN}/run/tiles/3/x/1`, undefined],
    [`/${TOKEN}.p`, undefined],
    [`/%66sh_${"0".repeat(16)}/run`, undefined],
    ["/fsh_0123/run", undefined],
    [`/v1/${TOKEN}/run`, undefined],
    [`/v1/realtime-shared/x/${TOKEN}/run`, undefined],
    ["/v1/health", undefined],
    [`/pages/${TOKEN}/run`, undefined],
  ];
  for (const [path, expected] of cases) {
    assert.deepEqual(matchTokenRun(`${base}${path}`), expected, path);
  }
});

/** Status, body and the headers a client reads (not the time-dependent metadata). */
async function answerOf(res: Response): Promise<Record<string, unknown>> {
  const headers: Record<string, string | null> = {};
  for (
    const name of [
      "content-type",
      "cache-control",
      "etag",
      "access-control-allow-origin",
      "access-control-expose-headers",
    ]
  ) headers[name] = res.headers.get(name);
  return { status: res.status, body: await res.text(), headers };
}

/** Saves a UDF of `code` and shares it: its token. */
async function shared(server: TestServer, name: string, code: string): Promise<string> {
  return await shareUdf(server, (await saveUdf(server, name, code)).id);
}

/** The same request with its path percent-encoded, which only the app's router decodes. */
function encoded(server: TestServer, path: string): string {
  return `${server.url}/%${path.charCodeAt(1).toString(16)}${path.slice(2)}`;
}

Deno.test("a token run answers alike through the fast path and through the app's routes", async (t) => {
  await withServer(async (server) => {
    const saved = await saveUdf(
      server,
      "double",
      "export default function udf({ n = 1 }: { n?: number }) { if (n < 0) throw new Error('negative'); return n * 2 }",
    );
    const token = await shareUdf(server, saved.id);
    const disabled = await shareUdf(server, saved.id, { enabled: false });
    const paths = [
      `/${token}/run?n=21&cache_max_age=0&format=json`,
      `/${token}.json?n=4`,
      `/${token}/run/file?n=-1&cache_max_age=0`,
      `/${token}.xlsx`,
      `/${token}/run/tiles/40/0/0`,
      `/${disabled}/run`,
      `/fsh_${"0".repeat(40)}/run`,
    ];
    for (const path of paths) {
      await t.step(path, async () => {
        const fast = await answerOf(await fetch(`${server.url}${path}`));
        const routed = await answerOf(await fetch(encoded(server, path)));
        assert.deepEqual(fast, routed);
        assert.equal(
          (fast.headers as Record<string, string>)["access-control-allow-origin"],
          "*",
          "a public answer, errors included, carries its CORS headers",
        );
      });
    }
  });
});

Deno.test("a client that goes away from an uncached token run cancels the run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-shared-test-" });
  const engine = new LocalEngine({ dataDir: dir, maxWorkers: 2 });
  try {
    await withServer(async (server) => {
      const token = await shared(
        server,
        "sleeper",
        "export default async function udf() { await new Promise((r) => setTimeout(r, 600_000)); return 1 }",
      );
      const client = new AbortController();
      const pending = fetch(`${server.url}/${token}/run?cache_max_age=0`, {
        signal: client.signal,
      }).catch((err) => err);
      for (let i = 0; i < 600 && engine.stats.busy === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(engine.stats.busy, 1, "the run started");
      client.abort();
      assert.ok((await pending) instanceof Error);
      // The run's timeout is 30 s: within 20 s, only the cancel frees the process.
      for (let i = 0; i < 400 && engine.stats.busy > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(engine.stats.busy, 0, "the run was cancelled");
    }, { engine, runTimeoutMs: 30_000 });
  } finally {
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { RateLimiter, rateLimitKey, SharedRateLimiter } from "./rate_limit.ts";
import { PostgresRegistry } from "./registry/postgres.ts";
import { createDatabase } from "../tests/_postgres.ts";
import { startServer } from "./serve.ts";
import type { UdfRunner } from "./runs.ts";

Deno.test("a token bucket lets a burst through, then asks to wait, then refills", () => {
  const limiter = new RateLimiter({ perMinute: 60, burst: 2 });
  assert.equal(limiter.take("a", 0), 0);
  assert.equal(limiter.take("a", 0), 0);
  assert.equal(limiter.take("a", 0), 1); // one request a second: wait a second
  assert.equal(limiter.take("b", 0), 0); // another token has its own bucket
  assert.equal(limiter.take("a", 1000), 0);
});

Deno.test("two services sharing the buckets in PostgreSQL allow the limit once, not twice", async () => {
  const url = await createDatabase("ratelimit");
  const [a, b] = [await PostgresRegistry.open(url), await PostgresRegistry.open(url)];
  try {
    const limiters = [
      new SharedRateLimiter(a, { perMinute: 60, burst: 5 }),
      new SharedRateLimiter(b, { perMinute: 60, burst: 5 }),
    ];
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await limiters[i % 2].refuse("fsh_t", 1000));
    assert.equal(answers.filter((r) => r === null).length, 5);
    const refused = answers.find((r) => r !== null)!;
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "1");
    await refused.body?.cancel();
    // A second later the bucket has one token again, on either service; other keys are apart.
    assert.equal(await limiters[1].refuse("fsh_t", 2000), null);
    const again = await limiters[0].refuse("fsh_t", 2000);
    assert.equal(again?.status, 429);
    await again?.body?.cancel();
    assert.equal(await limiters[0].refuse("fsh_other", 2000), null);
    // Quiet keys' buckets (full again) are dropped; a dropped bucket starts full.
    await a.forgetRateBuckets(3000);
    for (let i = 0; i < 5; i++) assert.equal(await limiters[0].refuse("fsh_t", 3000), null);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("public requests are keyed by their share token or signature, others not at all", () => {
  const t = `fsh_${"ab".repeat(16)}`;
  const key = (path: string) => rateLimitKey(new Request(`http://127.0.0.1:1${path}`));
  assert.equal(key(`/${t}/run/file?n=1`), t);
  assert.equal(key(`/${t}.parquet`), t);
  assert.equal(key(`/v1/realtime-shared/${t}/run/tiles/0/0/0`), t);
  assert.equal(key("/UDF_hello/run"), "UDF_hello");
  assert.equal(key("/v1/files/signed?path=fd://a&expires=1&signature=xyz"), "signed:xyz");
  assert.equal(key("/v1/job-results/signed?path=fd://jobs/a/0.json&signature=s2"), "signed:s2");
  assert.equal(key("/pages/admin/main"), "page:admin/main");
  assert.equal(key("/v1/pages/main"), null, "publishing is authenticated");
  assert.equal(key("/v1/user/self"), null);
});

Deno.test("the service answers 429 with Retry-After past a token's limit and serves other tokens", async () => {
  const dir = await Deno.makeTempDir();
  const runner: UdfRunner = () => Promise.reject(new Error("not reached: the tokens are unknown"));
  const server = await startServer({
    port: 0,
    dataDir: dir,
    runner,
    quiet: true,
    rateLimitPerMinute: 3,
  });
  try {
    const one = `${server.url}/fsh_${"1".repeat(32)}/run/file`;
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(one);
      statuses.push(res.status);
      if (res.status === 429) {
        assert.ok(Number(res.headers.get("retry-after")) >= 1);
        assert.match(
          (await res.json()).detail,
          /Too many requests for this token: the limit is 3 a minute/,
        );
      } else await res.body?.cancel();
    }
    assert.deepEqual(statuses, [404, 404, 404, 429]);
    const other = await fetch(`${server.url}/fsh_${"2".repeat(32)}/run/file`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a 429 carries the CORS headers of a public answer, so a browser can read it", async () => {
  const dir = await Deno.makeTempDir();
  const runner: UdfRunner = () => Promise.reject(new Error("not reached: the tokens are unknown"));
  const server = await startServer({
    port: 0,
    dataDir: dir,
    runner,
    quiet: true,
    rateLimitPerMinute: 1,
  });
  try {
    const headers = { origin: "https://maps.example.com" };
    for (
      const url of [
        `${server.url}/fsh_${"3".repeat(32)}/run/tiles/0/0/0`,
        `${server.baseUrl}/files/signed?path=fd://a.txt&expires=1&signature=${"0".repeat(64)}`,
      ]
    ) {
      const first = await fetch(url, { headers });
      assert.ok(first.status >= 400 && first.status < 429, `${url}: ${first.status}`);
      const cors = first.headers.get("access-control-allow-origin");
      await first.body?.cancel();
      const limited = await fetch(url, { headers });
      assert.equal(limited.status, 429, url);
      assert.equal(limited.headers.get("access-control-allow-origin"), cors);
      assert.equal(cors, "*");
      assert.match(limited.headers.get("access-control-expose-headers") ?? "", /retry-after/);
      assert.match((await limited.json()).detail, /Too many requests/);
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

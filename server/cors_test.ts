import assert from "node:assert/strict";
import { Hono } from "hono";
import { corsMiddleware, isPublicPath, PUBLIC_CORS_HEADERS } from "./cors.ts";
import { HttpError } from "./_http.ts";

const TOKEN = "fsh_0123456789abcdef0123";

function app(origins?: string[]): Hono {
  const a = new Hono();
  a.onError((err) => new Response((err as Error).message, { status: (err as HttpError).status }));
  a.use("*", corsMiddleware({ origins }));
  a.get(`/${TOKEN}/run/tiles/:z/:x/:y`, (c) => c.body("tile"));
  a.get("/v1/files/signed", (c) => c.text("file"));
  a.get(`/${TOKEN}/run`, () => {
    throw new HttpError(403, "disabled");
  });
  a.get(`/${TOKEN}.parquet`, () => Response.redirect("http://127.0.0.1:1/elsewhere", 302));
  a.get(
    `/${TOKEN}.json`,
    () => new Response("[1]", { headers: { etag: '"e"', ...PUBLIC_CORS_HEADERS } }),
  );
  a.get("/v1/user/self", (c) => {
    if (!c.req.header("authorization")) throw new HttpError(401, "no token");
    return c.json({ ok: true });
  });
  return a;
}

Deno.test("share-token tiles answer any origin with *", async () => {
  const r = await app().request(`/${TOKEN}/run/tiles/1/0/0`, {
    headers: { origin: "http://127.0.0.1:8888" },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
  assert.match(r.headers.get("access-control-expose-headers") ?? "", /etag/);
});

Deno.test("share-token tiles answer a sandboxed page's opaque origin (null) with *", async () => {
  // A published page runs sandboxed (no allow-same-origin), so its tile fetches say Origin: null.
  const r = await app().request(`/${TOKEN}/run/tiles/1/0/0`, { headers: { origin: "null" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
});

Deno.test("a public route's error and its frozen answers carry the CORS headers too", async () => {
  const failed = await app().request(`/${TOKEN}/run`, { headers: { origin: "null" } });
  assert.equal(failed.status, 403);
  assert.equal(await failed.text(), "disabled");
  assert.equal(failed.headers.get("access-control-allow-origin"), "*");
  // Response.redirect's headers are immutable: the answer is rebuilt with them added.
  const moved = await app().request(`/${TOKEN}.parquet`, { headers: { origin: "null" } });
  assert.equal(moved.status, 302);
  assert.equal(moved.headers.get("location"), "http://127.0.0.1:1/elsewhere");
  assert.equal(moved.headers.get("access-control-allow-origin"), "*");
  assert.match(moved.headers.get("access-control-expose-headers") ?? "", /retry-after/);
});

Deno.test("an answer built with the public headers carries them and its own", async () => {
  const r = await app().request(`/${TOKEN}.json`, { headers: { origin: "null" } });
  assert.equal(await r.text(), "[1]");
  assert.equal(r.headers.get("etag"), '"e"');
  for (const [name, value] of Object.entries(PUBLIC_CORS_HEADERS)) {
    assert.equal(r.headers.get(name), value);
  }
});

Deno.test("signed file URLs answer any origin with *", async () => {
  const r = await app().request("/v1/files/signed?path=x", { headers: { origin: "null" } });
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
});

Deno.test("authenticated routes allow no origin by default", async () => {
  const r = await app().request("/v1/user/self", {
    headers: { origin: "http://evil.test", authorization: "Bearer x" },
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("access-control-allow-origin"), null);
});

Deno.test("authenticated routes allow exactly the listed origins", async () => {
  const a = app(["http://127.0.0.1:8888"]);
  const ok = await a.request("/v1/user/self", {
    headers: { origin: "http://127.0.0.1:8888", authorization: "Bearer x" },
  });
  assert.equal(ok.headers.get("access-control-allow-origin"), "http://127.0.0.1:8888");
  assert.match(ok.headers.get("vary") ?? "", /Origin/);
  const other = await a.request("/v1/user/self", {
    headers: { origin: "http://127.0.0.1:9999", authorization: "Bearer x" },
  });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});

Deno.test("an error answer of a listed origin still carries the CORS header", async () => {
  const r = await app(["http://127.0.0.1:8888"]).request("/v1/user/self", {
    headers: { origin: "http://127.0.0.1:8888" },
  });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("access-control-allow-origin"), "http://127.0.0.1:8888");
});

Deno.test("a preflight is answered before authentication", async () => {
  const r = await app(["http://127.0.0.1:8888"]).request("/v1/user/self", {
    method: "OPTIONS",
    headers: {
      origin: "http://127.0.0.1:8888",
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get("access-control-allow-origin"), "http://127.0.0.1:8888");
  assert.match(r.headers.get("access-control-allow-headers") ?? "", /authorization/);
  assert.match(r.headers.get("access-control-allow-methods") ?? "", /POST/);
});

Deno.test("a public preflight allows reads from any origin", async () => {
  const r = await app().request(`/${TOKEN}/run/tiles/1/0/0`, {
    method: "OPTIONS",
    headers: { origin: "http://x.test", "access-control-request-method": "GET" },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get("access-control-allow-origin"), "*");
});

Deno.test("an origin with a path is refused with the fix", () => {
  assert.throws(() => corsMiddleware({ origins: ["http://127.0.0.1:8888/"] }), /only scheme/);
  assert.throws(() => corsMiddleware({ origins: ["localhost"] }), /not a URL/);
});

Deno.test("public paths are the token and signed routes only", () => {
  assert.ok(isPublicPath(`/${TOKEN}/run`));
  assert.ok(isPublicPath(`/v1/realtime-shared/${TOKEN}/run/tiles/0/0/0`));
  assert.ok(isPublicPath("/v1/job-results/signed"));
  assert.ok(!isPublicPath("/v1/udfs"));
  assert.ok(!isPublicPath("/v1/files/get"));
  assert.ok(!isPublicPath("/"));
});

Deno.test("fused serve answers CORS as configured, on its real routes", async () => {
  const { startServer } = await import("./serve.ts");
  const dataDir = await Deno.makeTempDir({ prefix: "fused-cors-test-" });
  const server = await startServer({
    port: 0,
    dataDir,
    quiet: true,
    corsOrigins: ["http://127.0.0.1:8888"],
  });
  try {
    const self = await fetch(`${server.baseUrl}/user/self`, {
      headers: { origin: "http://127.0.0.1:8888", authorization: `Bearer ${server.adminToken}` },
    });
    await self.body?.cancel();
    assert.equal(self.status, 200);
    assert.equal(self.headers.get("access-control-allow-origin"), "http://127.0.0.1:8888");
    const shared = await fetch(`${server.url}/${TOKEN}/run`, { headers: { origin: "null" } });
    await shared.body?.cancel();
    assert.equal(shared.status, 404); // unknown token, still readable by the page
    assert.equal(shared.headers.get("access-control-allow-origin"), "*");
  } finally {
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { NotSupportedError } from "../errors.ts";
import { udf } from "../udf.ts";
import { withService } from "./_test_util.ts";
import { whoami } from "./credentials.ts";
import { FusedAPI } from "./fused_api.ts";
import { globalTransport, setGlobalTransport } from "./transport.ts";
import { toFused } from "./udfs.ts";

const CODE = "export default function udf({ n = 1 }) {\n  return n + 1;\n}\n";

Deno.test("a FusedAPI carries its own service and token, apart from the global client", async () => {
  await withService({ login: false }, async (service) => {
    const api = new FusedAPI({
      baseUrl: service.baseUrl,
      token: service.adminToken,
      setGlobalApi: false,
    });
    assert.equal(api.baseUrl, service.baseUrl);
    assert.equal((await api.whoami()).email, "admin@localhost");
    await assert.rejects(whoami(), /Not logged in/);
    await toFused(udf(CODE, { name: "plus" }), { transport: api.transport });
    assert.deepEqual(Object.keys(await api.getUdfs()), ["plus"]);
    assert.equal((await api.loadUdf("plus")).code, CODE);
    assert.equal((await api.getUdf("admin/plus")).slug, "plus");
    const token = await api.createUdfAccessToken("plus");
    assert.deepEqual((await api.getUdfAccessTokens()).map((t) => t.token), [token.token]);
    assert.equal((await api.updateUdfAccessToken(token.token, { cache: false })).cache, false);
    assert.equal((await api.getUdfAccessToken(token.token)).cache, false);
    assert.equal((await api.deleteUdfAccessToken(token.token)).token, token.token);
    await api.upload(new TextEncoder().encode("x"), "fd://a/b.txt");
    assert.deepEqual(await api.list("fd://a/"), ["fd://a/b.txt"]);
    assert.equal((await api.list("fd://a/", { details: true }))[0].size, 1);
    assert.deepEqual(await api.get("fd://a/b.txt"), new TextEncoder().encode("x"));
    assert.match(
      await api.signUrl("fd://a/b.txt"),
      /^http:\/\/127\.0\.0\.1:\d+\/v1\/files\/signed\?/,
    );
    assert.deepEqual(Object.keys(await api.signUrlPrefix("fd://a/")), ["fd://a/b.txt"]);
    assert.equal(
      await api.download("fd://a/b.txt", `${service.home}/b.txt`),
      `${service.home}/b.txt`,
    );
    assert.equal(await api.delete("fd://a/"), true);
    assert.deepEqual(await api.getJobs(), []);
    await assert.rejects(api.authToken(), NotSupportedError);
  });
});

Deno.test("a FusedAPI made the global client is used by the fused.api functions", async () => {
  await withService({ login: false }, async (service) => {
    const before = globalTransport();
    try {
      const api = new FusedAPI({ baseUrl: service.baseUrl, token: service.adminToken });
      assert.equal(globalTransport(), api.transport);
      assert.equal((await whoami()).handle, "admin");
    } finally {
      setGlobalTransport(before);
    }
  });
});

import assert from "node:assert/strict";
import { metadataOf, runBody, type TestServer, udfJson, withServer } from "./_testing.ts";

const RT = "/realtime/local/api/v1/run/udf";
const OK = udfJson("ok", "export default function udf({ n = 1 }: { n?: number }) { return n + 1 }");

/** The service still answers health checks and runs UDFs. */
async function assertServing(server: TestServer): Promise<void> {
  const health = await server.api("/health", { token: null });
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const res = await server.api(`${RT}?cache_max_age=0&n=41`, { method: "POST", json: runBody(OK) });
  assert.equal(res.status, 200);
  assert.equal(await res.json(), 42);
}

async function run(
  server: TestServer,
  udf: Record<string, unknown>,
  query = "cache_max_age=0",
): Promise<Response> {
  return await server.api(`${RT}?${query}`, { method: "POST", json: runBody(udf) });
}

Deno.test("bad input gets a JSON error naming the problem and the service keeps serving", async (t) => {
  await withServer(async (server) => {
    await t.step("malformed JSON is a 400", async () => {
      const res = await server.api(RT, {
        method: "POST",
        body: "{not json",
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /Malformed JSON body/);
      await assertServing(server);
    });
    await t.step("a field of the wrong type is a 400 naming the field", async () => {
      const res = await server.api(RT, { method: "POST", json: { step_config: 5 } });
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /step_config/);
      const notJson = await server.api(RT, { method: "POST", json: { step_config: "{oops" } });
      assert.equal(notJson.status, 400);
      assert.match((await notJson.json()).detail, /step_config is not valid JSON/);
      const noCode = await server.api(RT, { method: "POST", json: runBody({ name: "x" }) });
      assert.equal(noCode.status, 400);
      assert.match((await noCode.json()).detail, /code/);
      await assertServing(server);
    });
    await t.step("an unknown route is a JSON 404", async () => {
      const res = await server.api("/no/such/route");
      assert.equal(res.status, 404);
      assert.match((await res.json()).detail, /No route GET \/v1\/no\/such\/route/);
    });
    await t.step("a body over the limit is a 413", async () => {
      const res = await server.api(RT, {
        method: "POST",
        json: runBody(OK, { pad: "x".repeat(100_000) }),
      });
      assert.equal(res.status, 413);
      assert.match((await res.json()).detail, /larger than the limit of 65536 bytes/);
      await assertServing(server);
    });
    await t.step(
      "a UDF that throws is a 422 with the error and its logs in x-fused-metadata",
      async () => {
        const res = await run(
          server,
          udfJson(
            "boom",
            `export default function udf() {
  console.log("before");
  throw new RangeError("out of range");
}`,
          ),
        );
        assert.equal(res.status, 422);
        assert.match((await res.json()).detail, /RangeError: out of range/);
        const meta = metadataOf(res);
        assert.equal(meta.has_exception, true);
        assert.equal(meta.exception_class, "RangeError");
        assert.equal(meta.lineno, 3);
        assert.equal(meta.stdout, "before\n");
        assert.equal(meta.error_type, "runtime_error");
        await assertServing(server);
      },
    );
    await t.step(
      "a UDF that returns something no format can carry is a 422 serialization error",
      async () => {
        const res = await run(
          server,
          udfJson("map", "export default function udf() { return new Map([[1, 2]]) }"),
        );
        assert.equal(res.status, 422);
        assert.match((await res.json()).detail, /Map/);
        await assertServing(server);
      },
    );
    await t.step("a parameter that cannot be coerced is a 400", async () => {
      const res = await run(server, OK, "cache_max_age=0&n=abc");
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /n/);
      await assertServing(server);
    });
    await t.step("a bad cache_max_age is a 400", async () => {
      const res = await run(server, OK, "cache_max_age=10%20min");
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /Cannot parse cache_max_age/);
    });
    await t.step("a UDF that never finishes is stopped at the run timeout with a 504", async () => {
      const res = await run(
        server,
        udfJson(
          "forever",
          `export default async function udf() {
  while (true) await new Promise((r) => setTimeout(r, 20));
}`,
        ),
      );
      assert.equal(res.status, 504);
      assert.match((await res.json()).detail, /did not finish within 1500 ms/);
      assert.equal(metadataOf(res).error_type, "timeout_error");
      await assertServing(server);
    });
    await t.step("a Python UDF that never finishes is stopped at the run timeout too", async () => {
      const res = await run(server, {
        name: "py",
        type: "geopandas_v2",
        code: "@fused.udf\ndef udf():\n    while True:\n        pass\n",
        entrypoint: "udf",
      });
      assert.equal(res.status, 504);
      assert.match((await res.json()).detail, /did not finish within 1500 ms/);
      await assertServing(server);
    });
  }, { maxBodyBytes: 65536, runTimeoutMs: 1500 });
});

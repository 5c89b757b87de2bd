import assert from "node:assert/strict";
import { HttpError } from "../errors.ts";
import { udf } from "../udf.ts";
import { createUser, withService } from "./_test_util.ts";
import {
  createUdfAccessToken,
  deleteUdfAccessToken,
  getUdfAccessToken,
  getUdfAccessTokens,
  tokenFileUrl,
  tokenTileUrl,
  updateUdfAccessToken,
} from "./tokens.ts";
import { toFused } from "./udfs.ts";

const CODE = "export default function udf({ n = 1 }) {\n  return n + 1;\n}\n";

Deno.test("createUdfAccessToken takes a name, owner/name, an e-mail plus name, or an id", async () => {
  await withService({}, async () => {
    const record = await toFused(udf(CODE, { name: "plus" }));
    const tokens = [
      await createUdfAccessToken("plus"),
      await createUdfAccessToken("admin@localhost/plus"),
      await createUdfAccessToken("admin@localhost", "plus"),
      await createUdfAccessToken(record.id, undefined, { cache: false, metadataJson: { a: 1 } }),
    ];
    for (const token of tokens) {
      assert.equal(token.udf_id, record.id);
      assert.equal(token.udf_slug, "plus");
      assert.equal(token.enabled, true);
      assert.equal(token.client_id, "local");
    }
    assert.equal(tokens[0].cache, true);
    assert.equal(tokens[3].cache, false);
    assert.deepEqual(tokens[3].metadata_json, { a: 1 });
    await assert.rejects(
      createUdfAccessToken("missing"),
      /HTTP 404: No UDF "missing" of admin@localhost: save it first/,
    );
  });
});

Deno.test("createUdfAccessToken takes fused-py's udfId / udfEmail and enable as well as enabled", async () => {
  await withService({}, async () => {
    const record = await toFused(udf(CODE, { name: "plus" }));
    const byId = await createUdfAccessToken(undefined, undefined, { udfId: record.id });
    const byObject = await createUdfAccessToken({ udfId: record.id, enable: false });
    const byEmail = await createUdfAccessToken(undefined, "plus", { udfEmail: "admin@localhost" });
    const byEmailAlone = await createUdfAccessToken({ udfEmail: "plus" });
    for (const token of [byId, byObject, byEmail, byEmailAlone]) {
      assert.equal(token.udf_id, record.id);
    }
    assert.deepEqual([byId.enabled, byObject.enabled], [true, false]);
    assert.equal((await updateUdfAccessToken(byObject.token, { enable: true })).enabled, true);
    await assert.rejects(
      createUdfAccessToken(),
      /needs the UDF: an id, owner\/name or name, or udfId \/ udfEmail/,
    );
    await assert.rejects(
      createUdfAccessToken("plus", undefined, { enable: true, enabled: false }),
      /enable and enabled disagree/,
    );
  });
});

Deno.test("getUdfAccessTokens pages through every token, or n of them", async () => {
  await withService({}, async () => {
    await toFused(udf(CODE, { name: "plus" }));
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await createUdfAccessToken("plus")).token);
    const all = await getUdfAccessTokens({ perRequest: 2 });
    assert.deepEqual(all.map((t) => t.token).sort(), [...made].sort());
    assert.equal((await getUdfAccessTokens({ n: 3, perRequest: 2, maxRequests: 5 })).length, 3);
    assert.equal((await getUdfAccessTokens({ n: 3, perRequest: 2 })).length, 2);
  });
});

Deno.test("a token can be read without login, updated, and deleted by its owner only", async () => {
  await withService({}, async (service) => {
    await toFused(udf(CODE, { name: "plus" }));
    const { token } = await createUdfAccessToken("plus");
    const updated = await updateUdfAccessToken(token, { enabled: false, accessScope: "demo" });
    assert.equal(updated.enabled, false);
    assert.equal(updated.access_scope, "demo");
    Deno.env.set("FUSED_AUTH_TOKEN", await createUser(service, { email: "eve@example.com" }));
    assert.equal((await getUdfAccessToken(token)).enabled, false);
    await assert.rejects(deleteUdfAccessToken(token), (err: HttpError) => {
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 403);
      assert.match(err.message, /belongs to another user/);
      return true;
    });
    Deno.env.set("FUSED_AUTH_TOKEN", service.adminToken);
    assert.equal((await deleteUdfAccessToken(token)).token, token);
    await assert.rejects(getUdfAccessToken(token), /HTTP 404: Unknown share token/);
  });
});

Deno.test("token URLs point at the shared run routes and work with plain fetch", async () => {
  await withService({}, async (service) => {
    await toFused(udf(CODE, { name: "plus" }));
    const { token } = await createUdfAccessToken("plus");
    const fileUrl = tokenFileUrl(token, { format: "json" });
    assert.equal(fileUrl, `${service.baseUrl}/realtime-shared/${token}/run?format=json`);
    const answer = await fetch(`${fileUrl}&n=41`);
    assert.equal(await answer.json(), 42);
    assert.equal(
      tokenTileUrl(token),
      `${service.baseUrl}/realtime-shared/${token}/run/tiles/{z}/{x}/{y}`,
    );
    assert.equal(
      tokenTileUrl(token, { x: 1, y: 2, z: 3, format: "png" }),
      `${service.baseUrl}/realtime-shared/${token}/run/tiles/3/1/2?format=png`,
    );
    assert.throws(() => tokenTileUrl(token, { x: 1 }), /needs all of x, y and z/);
  });
});

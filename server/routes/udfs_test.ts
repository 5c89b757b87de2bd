import assert from "node:assert/strict";
import { saveUdf, udfJson, withServer } from "../_testing.ts";

const CODE = "export default function udf({ n = 1 }: { n?: number }) { return n }";

Deno.test("the UDF registry saves, finds, lists, overwrites and deletes UDFs", async (t) => {
  await withServer(async (server) => {
    let id = "";
    await t.step("POST /udf/new saves a UDF and answers its id, slug and Udf JSON", async () => {
      const saved = await saveUdf(server, "double", CODE);
      id = saved.id;
      assert.equal(saved.slug, "double");
      assert.equal(JSON.parse(saved.udf_body).code, CODE);
    });
    await t.step("saving the same name again is a 409 with a message", async () => {
      const res = await server.api("/udf/new", {
        method: "POST",
        json: { slug: "double", udf_body: JSON.stringify(udfJson("double", CODE)) },
      });
      assert.equal(res.status, 409);
      assert.match((await res.json()).detail, /already exists/);
    });
    await t.step("GET by id, by e-mail, by handle and by team find the same UDF", async () => {
      for (
        const path of [
          `/udf/by-id/${id}`,
          "/udf/by-user-email/admin@localhost/by-slug/double",
          "/udf/by-user-handle/admin/by-slug/double",
          "/udf/exec-env/self/by-slug/double",
        ]
      ) {
        const res = await server.api(path);
        assert.equal(res.status, 200, path);
        assert.equal((await res.json()).id, id, path);
      }
    });
    await t.step("POST /udf/by-id overwrites the code", async () => {
      const res = await server.api(`/udf/by-id/${id}`, {
        method: "POST",
        json: {
          slug: "double",
          udf_body: JSON.stringify(udfJson("double", CODE.replace("return n", "return n * 2"))),
        },
      });
      assert.equal(res.status, 200);
      assert.match(JSON.parse((await res.json()).udf_body).code, /n \* 2/);
    });
    await t.step("lists page and sort, and public lists hold only public-listed UDFs", async () => {
      await saveUdf(server, "alpha", CODE, { allow_public_list: true });
      await saveUdf(server, "zeta", CODE);
      const names = async (path: string) =>
        (await (await server.api(path)).json()).map((u: { slug: string }) => u.slug);
      assert.deepEqual(await names("/udf/self"), ["alpha", "double", "zeta"]);
      assert.deepEqual(await names("/udf/self?sort=-name&limit=2"), ["zeta", "double"]);
      assert.deepEqual(await names("/udf/self?skip=2"), ["zeta"]);
      assert.deepEqual(await names("/udf/exec-env/self?limit=1"), ["alpha"]);
      assert.deepEqual(await names("/udf/public"), ["alpha"]);
      const bad = await server.api("/udf/self?limit=0");
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).detail, /limit/);
    });
    await t.step("another user cannot read, overwrite or delete a private UDF", async () => {
      await server.api("/admin/users", { method: "POST", json: { email: "eve@x.org" } });
      const { access_token } =
        await (await server.api("/admin/tokens", { method: "POST", json: { email: "eve@x.org" } }))
          .json();
      assert.equal((await server.api(`/udf/by-id/${id}`, { token: access_token })).status, 403);
      const overwrite = await server.api(`/udf/by-id/${id}`, {
        method: "POST",
        token: access_token,
        json: { slug: "double", udf_body: JSON.stringify(udfJson("double", CODE)) },
      });
      assert.equal(overwrite.status, 403);
      assert.equal(
        (await server.api(`/udf/by-id/${id}`, { method: "DELETE", token: access_token })).status,
        403,
      );
    });
    await t.step("an invalid udf_body or name is a 400 naming the problem", async () => {
      const notJson = await server.api("/udf/new", {
        method: "POST",
        json: { slug: "x", udf_body: "{nope" },
      });
      assert.equal(notJson.status, 400);
      assert.match((await notJson.json()).detail, /udf_body is not a valid Udf JSON/);
      const noCode = await server.api("/udf/new", {
        method: "POST",
        json: { slug: "x", udf_body: JSON.stringify({ name: "x" }) },
      });
      assert.equal(noCode.status, 400);
      assert.match((await noCode.json()).detail, /code/);
      const badName = await server.api("/udf/new", {
        method: "POST",
        json: { slug: "../x", udf_body: JSON.stringify(udfJson("x", CODE)) },
      });
      assert.equal(badName.status, 400);
      assert.match((await badName.json()).detail, /slug/);
    });
    await t.step("DELETE removes the UDF and a second fetch is a 404", async () => {
      assert.equal((await server.api(`/udf/by-id/${id}`, { method: "DELETE" })).status, 200);
      const res = await server.api(`/udf/by-id/${id}`);
      assert.equal(res.status, 404);
      assert.match((await res.json()).detail, /No UDF/);
    });
  });
});

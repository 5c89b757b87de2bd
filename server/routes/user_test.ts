import assert from "node:assert/strict";
import { withServer } from "../_testing.ts";

Deno.test("identity, health, instances and admin routes answer as the Fused service", async (t) => {
  await withServer(async (server) => {
    await t.step("a request without a token gets 401 with a JSON detail", async () => {
      const res = await server.api("/user/self", { token: null });
      assert.equal(res.status, 401);
      assert.match((await res.json()).detail, /Missing Authorization header/);
    });
    await t.step("a malformed or unknown token gets 401", async () => {
      const bad = await server.api("/user/self", { headers: { authorization: "Basic abc" } });
      assert.equal(bad.status, 401);
      assert.match((await bad.json()).detail, /Malformed Authorization/);
      const unknown = await server.api("/user/self", {
        token: `fused_${"0".repeat(16)}_${"0".repeat(48)}`,
      });
      assert.equal(unknown.status, 401);
      assert.match((await unknown.json()).detail, /Unknown or revoked/);
    });
    await t.step("GET /user/self names the admin", async () => {
      const me = await (await server.api("/user/self")).json();
      assert.equal(me.email, "admin@localhost");
      assert.equal(me.handle, "admin");
      assert.equal(me.team, "local");
    });
    await t.step("health, liveness and realtime instances need no token", async () => {
      const health = await server.api("/health", { token: null });
      assert.equal((await health.json()).status, "ok");
      const live = await server.api("/health/live", { token: null });
      assert.equal((await live.json()).status, "alive");
      const instances = await (await server.api("/realtime-instance/available", { token: null }))
        .json();
      assert.deepEqual(
        instances.map((
          i: { client_id: string; preference_rank: number },
        ) => [i.client_id, i.preference_rank]),
        [["local", 0]],
      );
    });
    let annToken = "";
    await t.step("the admin creates a user and a token that then works", async () => {
      const created = await server.api("/admin/users", {
        method: "POST",
        json: { email: "ann@x.org", team: "geo" },
      });
      assert.equal(created.status, 201);
      const user = await created.json();
      assert.equal(user.handle, "ann");
      const tokenRes = await server.api("/admin/tokens", {
        method: "POST",
        json: { email: "ann@x.org" },
      });
      assert.equal(tokenRes.status, 201);
      const { access_token } = await tokenRes.json();
      const me = await (await server.api("/user/self", { token: access_token })).json();
      assert.equal(me.id, user.id);
      const dup = await server.api("/admin/users", {
        method: "POST",
        json: { email: "ann@x.org" },
      });
      assert.equal(dup.status, 409);
      annToken = access_token;
    });
    await t.step("a token made to expire is listed, and a revoked one is refused", async () => {
      const made = await (await server.api("/admin/tokens", {
        method: "POST",
        json: { email: "ann@x.org", name: "laptop", expires_in_days: 30 },
      })).json();
      const days = (Date.parse(made.expires_at) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, made.expires_at);
      const listed = await (await server.api("/admin/tokens?email=ann@x.org")).json();
      assert.deepEqual(listed.map((t: { name: string | null }) => t.name), [null, "laptop"]);
      const revoked = await server.api(`/admin/tokens/${made.id}`, { method: "DELETE" });
      assert.equal(revoked.status, 200);
      await revoked.body?.cancel();
      const refused = await server.api("/user/self", { token: made.access_token });
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const again = await server.api(`/admin/tokens/${made.id}`, { method: "DELETE" });
      assert.equal(again.status, 404);
      await again.body?.cancel();
    });
    await t.step("a non-admin cannot use admin routes", async () => {
      const res = await server.api("/admin/users", {
        method: "POST",
        json: { email: "b@x.org" },
        token: annToken,
      });
      assert.equal(res.status, 403);
      assert.match((await res.json()).detail, /administrators only/);
    });
    await t.step("admin bodies are validated and name the wrong field", async () => {
      const res = await server.api("/admin/users", {
        method: "POST",
        json: { email: "not-an-email" },
      });
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /email/);
      const unknown = await server.api("/admin/tokens", {
        method: "POST",
        json: { email: "nobody@x.org" },
      });
      assert.equal(unknown.status, 404);
    });
  });
});

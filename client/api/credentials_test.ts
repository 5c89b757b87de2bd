import assert from "node:assert/strict";
import { options } from "../options.ts";
import { createUser, withService } from "./_test_util.ts";
import { accessToken, login, logout, whoami } from "./credentials.ts";

Deno.test("login with a token checks it and writes ~/.fused/credentials with mode 0600", async () => {
  await withService({ login: false }, async (service) => {
    const result = await login({ token: service.adminToken, baseUrl: service.baseUrl });
    assert.equal(result.user?.email, "admin@localhost");
    assert.equal(result.path, `${service.home}/credentials`);
    const saved = JSON.parse(await Deno.readTextFile(result.path));
    assert.deepEqual(saved, { access_token: service.adminToken, auth_scheme: "Bearer" });
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(result.path)).mode! & 0o777, 0o600);
    }
    assert.equal((await whoami()).handle, "admin");
    assert.equal(await accessToken(), service.adminToken);
  });
});

Deno.test("login without a token uses the local service's admin credentials", async () => {
  await withService({ login: false }, async (service) => {
    const result = await login({ serverDataDir: service.dataDir });
    assert.equal(result.user?.email, "admin@localhost");
    assert.equal(await accessToken(), service.adminToken);
  });
});

Deno.test("login without a token and without a local service says what to do", async () => {
  await withService({ login: false }, async (service) => {
    await assert.rejects(
      login({ serverDataDir: `${service.home}/nowhere` }),
      /No token given and no admin credentials at .*nowhere\/admin-credentials\.json: pass login\(\{ token \}\)/,
    );
  });
});

Deno.test("login with a bad token fails clearly and writes nothing", async () => {
  await withService({ login: false }, async (service) => {
    await assert.rejects(
      login({ token: "not-a-real-token" }),
      /The service at http:\/\/127\.0\.0\.1:\d+\/v1 refused the token/,
    );
    await assert.rejects(Deno.stat(`${service.home}/credentials`), Deno.errors.NotFound);
  });
});

Deno.test("a request with a revoked or wrong token names the problem and the fix", async () => {
  await withService({ login: false }, async () => {
    Deno.env.set("FUSED_AUTH_TOKEN", "wrong");
    await assert.rejects(whoami(), (err: Error & { status?: number }) => {
      assert.equal(err.status, 401);
      assert.match(err.message, /Unknown or revoked API token/);
      assert.match(err.message, /fused\.api\.login/);
      return true;
    });
  });
});

Deno.test("whoami answers for the user whose token is used", async () => {
  await withService({}, async (service) => {
    const token = await createUser(service, { email: "ada@example.com", handle: "ada" });
    Deno.env.set("FUSED_AUTH_TOKEN", token);
    const me = await whoami();
    assert.equal(me.email, "ada@example.com");
    assert.equal(me.handle, "ada");
  });
});

Deno.test("logout deletes the credentials and forgets the realtime instance", async () => {
  await withService({ login: false }, async (service) => {
    await login({ token: service.adminToken });
    options.realtimeClientId = "local";
    assert.equal(await logout(), true);
    assert.equal(options.realtimeClientId, null);
    await assert.rejects(accessToken(), /Not logged in .*fused\.api\.login/);
    assert.equal(await logout(), false);
  });
});

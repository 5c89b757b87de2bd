import assert from "node:assert/strict";
import { type TestServer, withServer } from "../_testing.ts";

const FOLDER = "0123456789abcdef".repeat(4);
const OTHER_FOLDER = "e".repeat(64);
/** An entry's name: its folder's digest and its key's. */
const DIGEST = `${FOLDER}/${"a".repeat(64)}`;

/** A new user's API token, made by the admin. */
async function newUserToken(server: TestServer, email: string): Promise<string> {
  const user = await (await server.api("/admin/users", { method: "POST", json: { email } }))
    .json();
  const issued = await server.api("/admin/tokens", { method: "POST", json: { user_id: user.id } });
  return (await issued.json()).access_token;
}

Deno.test("/cache/objects keeps each user's fused.cache entries, refusing what is malformed", async (t) => {
  await withServer(async (server) => {
    await t.step(
      "a PUT then a GET within the max age answers the bytes and their age",
      async () => {
        const put = await server.api(`/cache/objects/${DIGEST}`, {
          method: "PUT",
          body: new Uint8Array([1, 2, 3]),
        });
        assert.equal(put.status, 204, await put.clone().text());
        const got = await server.api(`/cache/objects/${DIGEST}?max_age=60`);
        assert.equal(got.status, 200);
        assert.ok(Number(got.headers.get("x-fused-cache-age-ms")) >= 0);
        assert.deepEqual(new Uint8Array(await got.arrayBuffer()), new Uint8Array([1, 2, 3]));
        // A single service without --storage keeps them in its data folder.
        const user = await (await server.api("/user/self")).json();
        const file = `${server.dataDir}/object_cache/fused.cache/${user.id}/${DIGEST}`;
        assert.ok(Deno.statSync(file).isFile);
      },
    );

    await t.step("a missing or older entry is a 404", async () => {
      const missing = await server.api(`/cache/objects/${FOLDER}/${"f".repeat(64)}?max_age=60`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      await new Promise((r) => setTimeout(r, 20));
      const old = await server.api(`/cache/objects/${DIGEST}?max_age=0`);
      assert.equal(old.status, 404);
      await old.body?.cancel();
    });

    await t.step("another user's key names nothing of the first", async () => {
      const token = await newUserToken(server, "bea@x.org");
      const theirs = await server.api(`/cache/objects/${DIGEST}?max_age=60`, { token });
      assert.equal(theirs.status, 404);
      await theirs.body?.cancel();
    });

    await t.step("DELETE /cache/objects deletes the caller's entries only", async () => {
      const token = await newUserToken(server, "cy@x.org");
      const theirs = await server.api(`/cache/objects/${DIGEST}`, {
        method: "PUT",
        body: new Uint8Array([9]),
        token,
      });
      assert.equal(theirs.status, 204);
      const mine = await server.api(`/cache/objects/${DIGEST}`, {
        method: "PUT",
        body: new Uint8Array([1]),
      });
      assert.equal(mine.status, 204);
      const cleared = await server.api("/cache/objects", { method: "DELETE" });
      assert.deepEqual(await cleared.json(), { removed: true });
      const gone = await server.api(`/cache/objects/${DIGEST}?max_age=60`);
      assert.equal(gone.status, 404);
      await gone.body?.cancel();
      const kept = await server.api(`/cache/objects/${DIGEST}?max_age=60`, { token });
      assert.deepEqual(new Uint8Array(await kept.arrayBuffer()), new Uint8Array([9]));
      const again = await server.api("/cache/objects", { method: "DELETE" });
      assert.deepEqual(await again.json(), { removed: false });
    });

    await t.step(
      "DELETE /cache/objects?folder= deletes that folder's entries of the caller only",
      async () => {
        const token = await newUserToken(server, "dee@x.org");
        const other = `${OTHER_FOLDER}/${"a".repeat(64)}`;
        for (const [entry, who] of [[DIGEST, undefined], [other, undefined], [DIGEST, token]]) {
          const put = await server.api(`/cache/objects/${entry}`, {
            method: "PUT",
            body: new Uint8Array([5]),
            ...(who ? { token: who } : {}),
          });
          assert.equal(put.status, 204);
        }
        const cleared = await server.api(`/cache/objects?folder=${FOLDER}`, { method: "DELETE" });
        assert.deepEqual(await cleared.json(), { removed: true });
        const gone = await server.api(`/cache/objects/${DIGEST}?max_age=60`);
        assert.equal(gone.status, 404);
        await gone.body?.cancel();
        const otherFolder = await server.api(`/cache/objects/${other}?max_age=60`);
        assert.deepEqual(new Uint8Array(await otherFolder.arrayBuffer()), new Uint8Array([5]));
        const otherUser = await server.api(`/cache/objects/${DIGEST}?max_age=60`, { token });
        assert.deepEqual(new Uint8Array(await otherUser.arrayBuffer()), new Uint8Array([5]));
        const again = await server.api(`/cache/objects?folder=${FOLDER}`, { method: "DELETE" });
        assert.deepEqual(await again.json(), { removed: false });
      },
    );

    await t.step("no token, no max age, or a key that is not a digest is refused", async () => {
      const anonymous = await server.api(`/cache/objects/${DIGEST}?max_age=60`, { token: null });
      assert.equal(anonymous.status, 401);
      const noAge = await server.api(`/cache/objects/${DIGEST}`);
      assert.equal(noAge.status, 400);
      assert.match((await noAge.json()).detail, /max_age is required/);
      const path = await server.api(`/cache/objects/..%2Fx/${"a".repeat(64)}?max_age=60`);
      assert.ok(path.status === 400 || path.status === 422, String(path.status));
      assert.match((await path.json()).detail, /two SHA-256 hex digests \(64 characters/);
      const folder = await server.api("/cache/objects?folder=..%2F..%2Fother", {
        method: "DELETE",
      });
      assert.equal(folder.status, 400);
      assert.match((await folder.json()).detail, /SHA-256 hex digest of its name \(64 characters/);
      await anonymous.body?.cancel();
    });
  });
});

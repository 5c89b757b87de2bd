import assert from "node:assert/strict";
import { withServer } from "../_testing.ts";

Deno.test("the fd:// file API uploads, lists, reads, signs and deletes files", async (t) => {
  await withServer(async (server) => {
    await t.step("POST /files/upload streams the body into fd://", async () => {
      const res = await server.api("/files/upload?path=fd://data/a.csv", {
        method: "POST",
        body: "x,y\n1,2\n",
      });
      assert.equal(res.status, 201);
      assert.equal((await res.json()).size, 8);
      const put = await server.api("/files/upload?path=fd://data/deep/b.txt", {
        method: "PUT",
        body: "b",
      });
      assert.equal(put.status, 201);
      await put.body?.cancel();
    });
    await t.step("GET /files/list and /files/list-details show the folder", async () => {
      const list = await (await server.api("/files/list?path=fd://data/")).json();
      assert.deepEqual(list, ["fd://data/a.csv", "fd://data/deep/"]);
      const details = await (await server.api("/files/list-details?path=fd://data")).json();
      assert.deepEqual(
        details.map((
          d: { file_name: string; is_directory: boolean },
        ) => [d.file_name, d.is_directory]),
        [["a.csv", false], ["deep", true]],
      );
      assert.equal(details[0].size, 8);
    });
    await t.step("GET /files/get returns the bytes", async () => {
      const res = await server.api("/files/get?path=fd://data/a.csv");
      assert.equal(res.headers.get("content-length"), "8");
      assert.equal(await res.text(), "x,y\n1,2\n");
      const missing = await server.api("/files/get?path=fd://data/none.csv");
      assert.equal(missing.status, 404);
      assert.match((await missing.json()).detail, /No file or folder at fd:\/\/data\/none.csv/);
    });
    await t.step("a signed URL serves the file without a token", async () => {
      const url = await (await server.api("/files/sign?path=fd://data/a.csv&expiration=60")).json();
      assert.match(url, /\/v1\/files\/signed\?/);
      const res = await fetch(url);
      assert.equal(await res.text(), "x,y\n1,2\n");
    });
    await t.step("a tampered signed URL is a 403", async () => {
      const url = new URL(await (await server.api("/files/sign?path=fd://data/a.csv")).json());
      url.searchParams.set("path", "fd://data/deep/b.txt");
      const res = await fetch(url);
      assert.equal(res.status, 403);
      assert.match((await res.json()).detail, /altered/);
      const noSig = await fetch(`${server.baseUrl}/files/signed?path=fd://data/a.csv`);
      assert.equal(noSig.status, 403);
      await noSig.body?.cancel();
    });
    await t.step("a signed URL with a changed expiry is a 403", async () => {
      const url = new URL(
        await (await server.api("/files/sign?path=fd://data/a.csv&expiration=1")).json(),
      );
      url.searchParams.set("expires", "1");
      const res = await fetch(url);
      assert.equal(res.status, 403);
      await res.body?.cancel();
    });
    await t.step("GET /files/sign_prefix signs every file under a folder", async () => {
      const signed = await (await server.api("/files/sign_prefix?path=fd://data/")).json();
      assert.deepEqual(Object.keys(signed).sort(), ["fd://data/a.csv", "fd://data/deep/b.txt"]);
      assert.equal(await (await fetch(signed["fd://data/deep/b.txt"])).text(), "b");
    });
    await t.step("paths that leave the root are a 400", async () => {
      for (
        const path of [
          "fd://../x",
          "fd:///etc/passwd",
          "fd://a/%2e%2e/b",
          "/etc/passwd",
          "fd://a/../../x",
        ]
      ) {
        const res = await server.api(`/files/get?path=${encodeURIComponent(path)}`);
        assert.equal(res.status, 400, path);
        assert.match((await res.json()).detail, /Path/, path);
      }
      const noPath = await server.api("/files/list");
      assert.equal(noPath.status, 400);
      assert.match((await noPath.json()).detail, /path/);
    });
    await t.step("an upload over the limit is a 413 and leaves no file", async () => {
      const res = await server.api("/files/upload?path=fd://big.bin", {
        method: "POST",
        body: new Uint8Array(2048),
      });
      assert.equal(res.status, 413);
      assert.match((await res.json()).detail, /limit of 1024 bytes/);
      const list = await (await server.api("/files/list?path=fd://")).json();
      assert.deepEqual(list, ["fd://data/"]);
    });
    await t.step("DELETE honours max_depth and answers a JSON boolean", async () => {
      const shallow = await server.api("/files/delete?path=fd://data&max_depth=1", {
        method: "DELETE",
      });
      assert.equal(shallow.status, 400);
      assert.match((await shallow.json()).detail, /2 levels deep/);
      const res = await server.api("/files/delete?path=fd://data&max_depth=unlimited", {
        method: "DELETE",
      });
      assert.equal(await res.json(), true);
      const again = await server.api("/files/delete?path=fd://data", { method: "DELETE" });
      assert.equal(await again.json(), false);
    });
    await t.step("file routes need a token", async () => {
      const res = await server.api("/files/list?path=fd://", { token: null });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    });
  }, { maxUploadBytes: 1024 });
});

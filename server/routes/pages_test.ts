import assert from "node:assert/strict";
import { saveUdf, shareUdf, type TestServer, withServer } from "../_testing.ts";

const TILE = `export default function udf({ bounds }: { bounds: number[] }) { return { bounds } }`;
const HTML = `<!DOCTYPE html><html><head><title>t</title></head><body class="x"><p>map here</p>
<script>document.title = "ran"</script></body></html>`;

function publish(
  server: TestServer,
  name: string,
  layers: string[],
  options: { token?: string | null; body?: string } = {},
): Promise<Response> {
  const query = new URLSearchParams({ notebook: "main.ipynb", layers: layers.join(",") });
  return server.api(`/pages/${name}?${query}`, {
    method: "PUT",
    body: options.body ?? HTML,
    headers: { "content-type": "text/html" },
    token: options.token,
  });
}

async function newUser(server: TestServer, email: string): Promise<string> {
  const made = await server.api("/admin/users", { method: "POST", json: { email } });
  assert.equal(made.status, 201);
  const issued = await server.api("/admin/tokens", { method: "POST", json: { email } });
  return (await issued.json()).access_token;
}

Deno.test("a published page is served without a token, sandboxed, and unpublished with its tokens", async (t) => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "tiles", TILE);
    const token = await shareUdf(server, saved.id);
    let url = "";
    await t.step("PUT /v1/pages/NAME stores the page and answers its address", async () => {
      const res = await publish(server, "main", [token]);
      assert.equal(res.status, 201);
      const page = await res.json();
      url = page.url;
      assert.equal(url, `${server.url}/pages/admin/main`);
      assert.deepEqual(page.layers.map((l: { udf_slug: string }) => l.udf_slug), ["tiles"]);
    });
    await t.step(
      "GET of the address answers the HTML, with the publish bar, no token",
      async () => {
        const res = await fetch(url);
        assert.equal(res.status, 200);
        const csp = res.headers.get("content-security-policy") ?? "";
        assert.match(csp, /^sandbox allow-scripts\b/);
        assert.doesNotMatch(csp, /allow-same-origin/);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        const html = await res.text();
        assert.match(html, /<body class="x"><div id="fused-published"[^]*main\.ipynb/);
        assert.match(html, /<p>map here<\/p>/);
        assert.doesNotMatch(html, /no longer draws/);
      },
    );
    await t.step("the owner lists the page", async () => {
      const list = await (await server.api("/pages")).json();
      assert.deepEqual(list.map((p: { name: string }) => p.name), ["main"]);
    });
    await t.step("a deleted UDF shows a notice on the page", async () => {
      const other = await saveUdf(server, "gone", TILE);
      const goneToken = await shareUdf(server, other.id);
      assert.equal((await publish(server, "two", [goneToken])).status, 201);
      const del = await server.api(`/udf/by-id/${other.id}`, { method: "DELETE" });
      assert.equal(del.status, 200, await del.clone().text());
      const html = await (await fetch(`${server.url}/pages/admin/two`)).text();
      assert.match(html, /tile layer of UDF &#34;gone&#34; no longer draws: its UDF was deleted/);
    });
    await t.step(
      "publishing again under the name replaces it and drops unused tokens",
      async () => {
        const newer = await shareUdf(server, saved.id);
        const res = await publish(server, "main", [newer], {
          body: HTML.replace("map here", "v2"),
        });
        assert.equal(res.status, 200);
        assert.match(await (await fetch(url)).text(), /v2/);
        const old = await server.api(`/udf-access-token/by-token/${token}`);
        assert.equal(old.status, 404, "the replaced page's token is deleted");
        const tile = await fetch(`${server.url}/${newer}/run/tiles/0/0/0?format=json`);
        assert.equal(tile.status, 200);
        await tile.body?.cancel();
      },
    );
    await t.step("unpublish removes the page and its tokens", async () => {
      const list = await (await server.api("/pages")).json();
      const newer = list.find((p: { name: string }) => p.name === "main").layers[0].token;
      const res = await server.api("/pages/main", { method: "DELETE" });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const page = await fetch(url);
      assert.equal(page.status, 404);
      assert.match((await page.json()).detail, /No published page "main" of admin/);
      const tile = await fetch(`${server.url}/${newer}/run/tiles/0/0/0?format=json`);
      assert.equal(tile.status, 404);
      await tile.body?.cancel();
    });
  });
});

Deno.test("publishing is refused without a token, with another user's token, a bad name or too much HTML", async (t) => {
  await withServer(async (server) => {
    const saved = await saveUdf(server, "tiles", TILE);
    const adminToken = await shareUdf(server, saved.id);
    const bob = await newUser(server, "bob@x.org");
    await t.step("no API token is a 401", async () => {
      const res = await publish(server, "p", [], { token: null });
      assert.equal(res.status, 401);
      await res.body?.cancel();
    });
    await t.step("a layer that is another user's share token is a 400", async () => {
      const res = await publish(server, "p", [adminToken], { token: bob });
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /is not a share token of yours/);
    });
    await t.step("a bad page name is a 400 naming the rule", async () => {
      const res = await publish(server, ".hidden", []);
      assert.equal(res.status, 400);
      assert.match((await res.json()).detail, /Invalid page name/);
    });
    await t.step("a page over the limit is a 413 and nothing is stored", async () => {
      const res = await publish(server, "big", [], { body: "x".repeat(5000) });
      assert.equal(res.status, 413);
      assert.match((await res.json()).detail, /larger than the limit of 4096 bytes/);
      assert.deepEqual(await (await server.api("/pages")).json(), []);
    });
    await t.step(
      "another user's pages are theirs: bob lists none and cannot unpublish",
      async () => {
        assert.equal((await publish(server, "mine", [])).status, 201);
        assert.deepEqual(await (await server.api("/pages", { token: bob })).json(), []);
        const res = await server.api("/pages/mine", { method: "DELETE", token: bob });
        assert.equal(res.status, 404);
        await res.body?.cancel();
      },
    );
  }, { maxPageBytes: 4096 });
});

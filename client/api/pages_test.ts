import assert from "node:assert/strict";
import { udf } from "../udf.ts";
import { withService } from "./_test_util.ts";
import { listPages, publishPage, unpublishPage } from "./pages.ts";
import { createAccessToken, toFused } from "./udfs.ts";

const TILE = "export default function udf({ bounds }) {\n  return { bounds };\n}\n";

Deno.test("publishPage stores HTML under a name, listPages shows it, unpublishPage removes it", async () => {
  await withService({}, async (service) => {
    const tiles = udf(TILE, { name: "tiles" });
    await toFused(tiles);
    const token = await createAccessToken(tiles);
    const page = await publishPage("demo", "<html><body><p>hello</p></body></html>", {
      notebook: "demo.ipynb",
      layers: [token.token],
    });
    assert.equal(page.url, `${service.url}/pages/admin/demo`);
    assert.deepEqual(page.layers.map((l) => l.udf_slug), ["tiles"]);
    const served = await fetch(page.url);
    assert.match(await served.text(), /from the notebook <b>demo\.ipynb<\/b>[^]*<p>hello<\/p>/);
    assert.deepEqual((await listPages()).map((p) => p.name), ["demo"]);
    assert.equal((await unpublishPage("demo")).name, "demo");
    assert.deepEqual(await listPages(), []);
    await assert.rejects(unpublishPage("demo"), /HTTP 404: You have no published page "demo"/);
  });
});

import assert from "node:assert/strict";
import { buildOfflineBasemap, OFFLINE_BASEMAP_FILE } from "./_offline_basemap.ts";
import { offlineBasemap } from "./assets.ts";

Deno.test("the kept offline basemap equals a fresh build from world-atlas", () => {
  const kept = Deno.readTextFileSync(OFFLINE_BASEMAP_FILE);
  assert.ok(
    kept === buildOfflineBasemap() + "\n",
    "display/_offline_basemap.json is stale: rebuild it with `deno run -A display/_offline_basemap.ts`",
  );
  assert.deepEqual(offlineBasemap(), JSON.parse(kept));
});

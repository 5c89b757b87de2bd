import * as arrow from "apache-arrow";
import { mapToMimeBundle } from "./map.ts";
import { notebookPage, waitForMap, withPage } from "./_browser.ts";
const n = Number(Deno.args[0] ?? 1000);
const lon = new Float64Array(n), lat = new Float64Array(n), v = new Float64Array(n);
for (let i = 0; i < n; i++) { lon[i] = -10 + Math.random() * 40; lat[i] = 35 + Math.random() * 25; v[i] = lon[i]; }
const t = arrow.tableFromArrays({ lon, lat, v });
const t0 = performance.now();
const b = mapToMimeBundle(t, { color: "v", assets: "inline" });
console.log("bundle ms", performance.now() - t0, "html MB", String(b.data["text/html"]).length / 1e6);
const id = (b.metadata!["text/html"] as any)["fused:map"].id;
await withPage(notebookPage([String(b.data["text/html"])]), async ({ page, blocked, errors }) => {
  const t1 = performance.now();
  let s;
  try { s = await waitForMap(page, id, 20000); } catch (e) { console.log("TIMEOUT", errors, blocked, await page.evaluate(() => { const w = globalThis as any; return { assets: !!w.__fusedMapAssets, keys: Object.keys(w.__fusedMapAssets ?? {}), maps: JSON.stringify(Object.keys(w.__fusedMaps ?? {})), q: (w.__fusedMapQueue ?? []).length }; })); throw e; }
  console.log("state", s, "wall", performance.now() - t1, blocked, errors);
  await page.locator(`#${id}`).screenshot({ path: "tests/artifacts/scratch.png" });
});

/**
 * `fused publish` end to end, as a user runs it: a lasting service on 127.0.0.1, a notebook with
 * a table map, `%fused serve` and a `bounds` tile layer, executed by nbconvert in the Fused
 * kernel and published there. Once every kernel has stopped, the page opens without a token in
 * headless Chromium (every request that would leave 127.0.0.1 refused): its maps draw, its tile
 * layer's tiles come from the lasting service with 200, and it names no other service or port.
 * A notebook whose cell fails is reported by that cell and leaves no page and no share token.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { hasChromium, waitForMap } from "../display/browser.ts";
import { publishNotebook } from "../kernel/publish.ts";
import { startServer } from "../server/mod.ts";
import { notebookJson } from "./_helpers.ts";
import { launchBrowser } from "./_notebook6.ts";

const CELLS = [
  `import * as fused from "fused";
import { tableFromArrays } from "apache-arrow";
const table = tableFromArrays({
  name: ["Paris", "Berlin", "Madrid"],
  lon: Float64Array.from([2.35, 13.4, -3.7]),
  lat: Float64Array.from([48.86, 52.52, 40.42]),
});`,
  `fused.map(table)`,
  `%fused serve --port 0`,
  `%%fused wave_tiles --map
export default function udf({ bounds }: { bounds: [number, number, number, number] }) {
  const [west, south, east, north] = bounds;
  const size = 64;
  const values = new Uint8Array(size * size);
  for (let i = 0; i < values.length; i++) values[i] = (i * 7 + Math.round(west + north)) % 255;
  return [values, bounds];
}`,
];

/** Processes of this user whose environment names the service (kernels started for it). */
async function processesFor(service: string): Promise<number[]> {
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const env = await Deno.readTextFile(`/proc/${entry.name}/environ`);
      if (env.split("\0").includes(`FUSED_PUBLISH_SERVICE=${service}`)) {
        found.push(Number(entry.name));
      }
    } catch {
      // gone, or another user's
    }
  }
  return found;
}

Deno.test({
  name:
    "a published notebook's page opens without a token after its kernels stop, maps and tiles drawn",
  ignore: !hasChromium(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "fused-publish-test-" });
    const savedDataDir = Deno.env.get("JUPYTER_DATA_DIR");
    Deno.env.set("JUPYTER_DATA_DIR", join(dir, "jupyter"));
    const server = await startServer({ port: 0, dataDir: join(dir, "service"), quiet: true });
    const lines: string[] = [];
    try {
      await Deno.writeTextFile(join(dir, "tour.ipynb"), notebookJson(CELLS));
      const page = await publishNotebook(join(dir, "tour.ipynb"), {
        service: server.url,
        token: server.adminToken,
        print: (line) => lines.push(line),
      });

      await t.step("it prints one address on the lasting service", () => {
        assert.equal(page.url, `${server.url}/pages/admin/tour`);
        assert.match(lines.at(-1)!, /anyone can open it without a token:\n.*\/pages\/admin\/tour$/);
        assert.equal(page.layers.length, 1);
        assert.equal(page.layers[0].udf_slug, "wave_tiles");
      });

      await t.step("every kernel of the run has stopped", async () => {
        assert.deepEqual(await processesFor(server.url), []);
      });

      const html = await (await fetch(page.url)).text();
      await t.step("the page names no other service or port, and no local file", () => {
        const origins = new Set(html.match(/https?:\/\/(?:127\.0\.0\.1|localhost)(?::\d+)?/g));
        assert.deepEqual([...origins], [server.url]);
        assert.doesNotMatch(html, /(?:src|href)\s*=\s*["']file:/);
        assert.match(html, /%fused serve uses that service instead of starting its own/);
        assert.match(html, /from the notebook <b>tour\.ipynb<\/b>/);
      });

      await t.step(
        "in Chromium the maps draw and the tiles answer 200 from the service",
        async () => {
          const browser = await launchBrowser();
          try {
            const tab = await browser.newPage({ viewport: { width: 1000, height: 700 } });
            const blocked: string[] = [];
            const errors: string[] = [];
            const tiles: { url: string; status: number }[] = [];
            tab.on("pageerror", (e) => errors.push(String(e)));
            tab.on("response", (r) => {
              if (r.url().includes("/run/tiles/")) tiles.push({ url: r.url(), status: r.status() });
            });
            await tab.route("**/*", (route) => {
              const url = route.request().url();
              if (/^(data:|blob:)/.test(url) || url.startsWith(`${server.url}/`)) {
                return route.continue();
              }
              blocked.push(url);
              return route.abort();
            });
            await tab.goto(page.url, { timeout: 60_000 });
            // The page runs in an opaque origin (the service's sandbox), not the service's.
            // deno-lint-ignore no-explicit-any
            assert.equal(await tab.evaluate(() => (globalThis as any).origin), "null");
            const ids: string[] = await tab.evaluate(() =>
              // deno-lint-ignore no-explicit-any
              [...(globalThis as any).document.querySelectorAll(".fused-map")].map((e: any) => e.id)
            );
            assert.equal(ids.length, 2, "the table map and the tile layer's map");
            for (const id of ids) {
              const state = await waitForMap(tab, id, 90_000);
              assert.equal(state.loaded, true, state.error ?? "");
            }
            const deadline = Date.now() + 60_000;
            while (tiles.length === 0 && Date.now() < deadline) await tab.waitForTimeout(200);
            assert.ok(tiles.length > 0, "the tile layer asked for tiles");
            for (const tile of tiles) {
              assert.ok(tile.url.startsWith(`${server.url}/`), tile.url);
              assert.equal(tile.status, 200, tile.url);
            }
            const tileError = await tab.evaluate((mapIds: string[]) =>
              // deno-lint-ignore no-explicit-any
              mapIds.map((id) => (globalThis as any).__fusedMaps[id].tileError ?? null), ids);
            assert.deepEqual(tileError, [null, null]);
            const notices = await tab.evaluate(() =>
              // deno-lint-ignore no-explicit-any
              [...(globalThis as any).document.querySelectorAll(".fused-map-error")].map((e: any) =>
                e.textContent
              )
            );
            assert.deepEqual(notices, []);
            assert.deepEqual(blocked, []);
            assert.deepEqual(errors, []);
          } finally {
            await browser.close();
          }
        },
      );

      await t.step(
        "a notebook whose cell fails is reported by that cell; nothing is stored",
        async () => {
          const broken = [...CELLS, `throw new Error("the data moved")`];
          await Deno.writeTextFile(join(dir, "broken.ipynb"), notebookJson(broken));
          await assert.rejects(
            publishNotebook(join(dir, "broken.ipynb"), {
              service: server.url,
              token: server.adminToken,
              print: () => {},
            }),
            /Cannot publish broken\.ipynb: Code cell 5 \("throw new Error\("the data moved"\)"\) failed:\nError: the data moved[^]*Nothing was published/,
          );
          const auth = { authorization: `Bearer ${server.adminToken}` };
          const pages = await (await fetch(`${server.baseUrl}/pages`, { headers: auth })).json();
          assert.deepEqual(pages.map((p: { name: string }) => p.name), ["tour"]);
          const tokens = await (await fetch(`${server.baseUrl}/udf-access-token/self?limit=100`, {
            headers: auth,
          })).json();
          assert.deepEqual(
            tokens.map((t: { token: string }) => t.token),
            page.layers.map((l) => l.token),
            "only the published page's token is left",
          );
        },
      );
    } finally {
      await server.close();
      if (savedDataDir === undefined) Deno.env.delete("JUPYTER_DATA_DIR");
      else Deno.env.set("JUPYTER_DATA_DIR", savedDataDir);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

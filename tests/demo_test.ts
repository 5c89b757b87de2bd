/**
 * The README's first command, `./fused demo`, as a user runs it on this machine: the wrapper sets
 * the machine up (skipping what is there; the kernelspec goes into a temporary Jupyter data dir),
 * nbconvert executes notebooks/main.ipynb in the Fused kernel, and the run ends with the HTML
 * page's path. With `--serve` the notebook's service comes back on the same port and folder, so
 * the page's live tile layer gets real tiles, and the page's maps draw in headless Chromium with
 * every request that would leave 127.0.0.1 refused.
 *
 * One run is shared by the tests; the child has a time limit and is stopped with SIGINT (as
 * Ctrl-C) at the end; its folders are removed at unload.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decode } from "fast-png";
import { screenshotColours, waitForMap, withPage } from "../display/browser.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

interface DemoRun {
  dir: string;
  output: string;
  html: string;
  stop(): Promise<Deno.CommandStatus>;
}

let demoRun: Promise<DemoRun> | undefined;

/** Runs `./fused demo --out DIR --serve` until it says it serves the tiles. */
function runDemo(): Promise<DemoRun> {
  demoRun ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "fused-demo-test-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // already gone
      }
    });
    const jupyter = join(dir, "jupyter");
    const child = new Deno.Command(join(ROOT, "fused"), {
      args: ["demo", "--out", join(dir, "out"), "--serve"],
      cwd: ROOT,
      env: { JUPYTER_DATA_DIR: jupyter, JUPYTER_PATH: jupyter, TMPDIR: dir },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(400_000),
    }).spawn();
    let errors = "";
    const stderr = child.stderr.pipeTo(
      new WritableStream({ write: (chunk) => void (errors += dec.decode(chunk)) }),
    ).catch(() => {});
    let output = "";
    const reader = child.stdout.getReader();
    while (!output.includes("Serving the tiles at")) {
      const { value, done } = await reader.read();
      if (done) {
        await stderr;
        throw new Error(
          `./fused demo ended before serving the tiles:\n${output}\n${errors.slice(-3000)}`,
        );
      }
      output += dec.decode(value);
    }
    // Keep reading so the child never blocks on a full pipe.
    const rest = (async () => {
      for (;;) if ((await reader.read()).done) return;
    })();
    const html = /^(\/\S+\/main\.html)$/m.exec(output)?.[1] ?? "";
    return {
      dir,
      output,
      html,
      async stop() {
        child.kill("SIGINT");
        const status = await child.status;
        await rest;
        await stderr;
        return status;
      },
    };
  })();
  return demoRun;
}

Deno.test("./fused demo ends with the path of the executed notebook's HTML page, which holds maps", async () => {
  const run = await runDemo();
  assert.equal(run.html, join(run.dir, "out", "main.html"), run.output);
  assert.match(run.output, /^ {2}jupyter notebook \S+\/notebooks\/main\.ipynb$/m);
  assert.match(run.output, /\[3\] %%fused countries .* table \[19 rows × 4 columns\]$/m);
  assert.match(run.output, /\[6\] fused\.map\(table.* Map: 19 points/);
  const page = await Deno.readTextFile(run.html);
  // Two maps (the table's points and the tile layer), each with its MapLibre script.
  assert.ok((page.match(/class="fused-map"/g)?.length ?? 0) >= 2, "two maps in the page");
  assert.match(page, /maplibregl/);
  assert.match(page, /<table/);
  assert.match(page, /Vega-Lite chart|vega-embed/);
});

/** The `fused:map` ids of the executed notebook's maps, in cell order. */
async function mapIds(dir: string): Promise<string[]> {
  const nb = JSON.parse(await Deno.readTextFile(join(dir, "out", "main.ipynb")));
  return nb.cells.flatMap((c: { outputs?: { metadata?: Record<string, unknown> }[] }) =>
    (c.outputs ?? []).flatMap((o) => {
      const meta = o.metadata?.["text/html"] as { "fused:map"?: { id?: string } } | undefined;
      return meta?.["fused:map"]?.id ? [meta["fused:map"].id] : [];
    })
  );
}

/** Grey pixels (r = g = b, neither white nor black): the wave tiles are grey, the basemap not. */
function greyPixels(png: Uint8Array): number {
  const img = decode(png);
  const d = img.data as Uint8Array;
  let n = 0;
  for (let i = 0; i < img.width * img.height; i++) {
    const [r, g, b] = [d[i * img.channels], d[i * img.channels + 1], d[i * img.channels + 2]];
    if (r === g && g === b && r > 20 && r < 235) n++;
  }
  return n;
}

Deno.test({
  name: "./fused demo --serve: the page's map and live tile layer draw in Chromium, offline",
  // Playwright keeps its own connection and timers after close; withPage closes the browser.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const run = await runDemo();
    try {
      const page = await Deno.readTextFile(run.html);
      const template =
        /http:\/\/127\.0\.0\.1:\d+\/v1\/realtime-shared\/fsh_\w+\/run\/tiles\/\{z\}\/\{x\}\/\{y\}\?format=png/
          .exec(page)?.[0];
      assert.ok(template, "the page has a tile layer on 127.0.0.1");
      const tile = await fetch(template.replace("{z}/{x}/{y}", "1/1/0"));
      assert.equal(tile.status, 200);
      assert.equal(tile.headers.get("content-type"), "image/png");
      await tile.body?.cancel();
      const [points, tiles] = await mapIds(run.dir);
      assert.ok(points && tiles, "the notebook shows two maps");
      await withPage(page, async ({ page: tab, blocked }) => {
        for (const id of [points, tiles]) {
          const state = await waitForMap(tab, id, 120_000);
          assert.deepEqual([state.loaded, state.error], [true, null], `map ${id}`);
        }
        assert.equal((await waitForMap(tab, points)).pointCount, 19);
        const canvas = `#${tiles} .fused-map-canvas canvas`;
        await tab.locator(canvas).scrollIntoViewIfNeeded();
        const { png } = await screenshotColours(tab, canvas);
        assert.ok(greyPixels(png) > 5000, "the tile layer drew no tile pixels");
        // Only nbconvert's own file:// assets (require.js, MathJax) are refused; no network.
        assert.deepEqual(blocked.filter((u) => !u.startsWith("file:///usr/share/")), []);
      }, { timeoutMs: 120_000, viewport: { width: 1100, height: 900 } });
    } finally {
      const status = await run.stop();
      assert.equal(status.code, 0, "Ctrl-C stops the served demo cleanly");
    }
  },
});

Deno.test("./fused demo refuses an --out folder whose work folder it did not make", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused-demo-out-" });
  try {
    await Deno.mkdir(join(dir, "work"));
    await Deno.writeTextFile(join(dir, "work", "notes.txt"), "mine");
    const out = await new Deno.Command(join(ROOT, "fused"), {
      args: ["demo", "--out", dir],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    assert.equal(out.code, 1);
    assert.match(dec.decode(out.stderr), /its "work" folder was not made by fused demo/);
    assert.equal(await Deno.readTextFile(join(dir, "work", "notes.txt")), "mine");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

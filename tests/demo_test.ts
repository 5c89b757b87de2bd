/**
 * The README's first command, `./fused demo`, as a user runs it on this machine: the wrapper sets
 * the machine up (skipping what is there; the kernelspec goes into a temporary Jupyter data dir),
 * nbconvert executes notebooks/main.ipynb in the Fused kernel, and the run ends with the HTML
 * page's path. With `--serve` the notebook's service comes back on the same port and folder, so
 * the page's live tile layer gets real tiles.
 *
 * One run is shared by the tests; the child has a time limit and is stopped with SIGINT (as
 * Ctrl-C) at the end; its folders are removed at unload.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

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
    const stderr = child.stderr.pipeTo(new WritableStream()).catch(() => {});
    let output = "";
    const reader = child.stdout.getReader();
    while (!output.includes("Serving the tiles at")) {
      const { value, done } = await reader.read();
      if (done) {
        await stderr;
        throw new Error(`./fused demo ended before serving the tiles:\n${output}`);
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

Deno.test("./fused demo --serve serves the page's live tile layer from the notebook's service", async () => {
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
    assert.ok((await tile.bytes()).length > 100, "a real PNG");
  } finally {
    const status = await run.stop();
    assert.equal(status.code, 0, "Ctrl-C stops the served demo cleanly");
  }
});

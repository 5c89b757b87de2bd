import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { decode } from "fast-png";

const SVG = (w: number, h: number) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect width="${w}" height="${h}" fill="#d4e3ef"/><circle cx="5" cy="5" r="3" fill="#e4572e"/></svg>`;

/** Starts the image thread, sends `svgs` with ids 0, 1, … and collects the answers by id. */
async function answers(svgs: string[]): Promise<Map<number, { png?: Uint8Array; error?: string }>> {
  const worker = new Worker(new URL("./_map_static_worker.ts", import.meta.url));
  try {
    const got = new Map<number, { png?: Uint8Array; error?: string }>();
    await new Promise<void>((resolve, reject) => {
      worker.on("error", reject);
      worker.on("message", (m: { id: number; png?: Uint8Array; error?: string }) => {
        got.set(m.id, m);
        if (got.size === svgs.length) resolve();
      });
      svgs.forEach((svg, id) => worker.postMessage({ id, svg }));
    });
    return got;
  } finally {
    await worker.terminate();
  }
}

Deno.test("the image thread answers each SVG with its PNG, by id", async () => {
  const got = await answers([SVG(40, 20), SVG(16, 48)]);
  const sizes = [0, 1].map((id) => {
    const png = got.get(id)?.png;
    assert.ok(png, `no PNG for ${id}: ${got.get(id)?.error}`);
    const img = decode(new Uint8Array(png));
    return [img.width, img.height];
  });
  assert.deepEqual(sizes, [[40, 20], [16, 48]]);
});

Deno.test("an SVG resvg cannot read is answered with resvg's reason", async () => {
  const got = await answers(["<svg", SVG(8, 8)]);
  assert.equal(got.get(0)?.png, undefined);
  assert.ok((got.get(0)?.error ?? "").length > 0);
  assert.ok(got.get(1)?.png, "the next picture is still drawn");
});

Deno.test("a script that draws a map ends while the image thread waits for work", async () => {
  // The thread is unref'd between requests: with it ref'd, this process never ends and the
  // timeout kills it.
  const map = new URL("./map.ts", import.meta.url).href;
  const code =
    `import { mapToMimeBundle } from "${map}";\nconst b = await mapToMimeBundle({ type: "Point", coordinates: [2.35, 48.86] });\nconsole.log(String(b.data["image/png"]).length > 100);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      fileURLToPath(new URL("../deno.json", import.meta.url)),
      "-",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(code));
  await writer.close();
  const done = await out.output();
  assert.equal(done.success, true, new TextDecoder().decode(done.stderr));
  assert.equal(new TextDecoder().decode(done.stdout).trim(), "true");
});

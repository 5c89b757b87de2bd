import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { Worker } from "node:worker_threads";
import { decode } from "fast-png";
import { type Disc, mapToSvg, pointLayer, rgbaPng } from "./_map_static.ts";
import { prepareMap } from "./map_data.ts";

/** resvg's pixels of each SVG, through the image thread the maps use. */
async function render(svgs: string[]): Promise<Uint8Array[]> {
  const worker = new Worker(new URL("./_map_static_worker.ts", import.meta.url));
  try {
    const got: Uint8Array[] = [];
    await new Promise<void>((resolve, reject) => {
      worker.on("error", reject);
      worker.on("message", (m: { id: number; png?: Uint8Array; error?: string }) => {
        if (!m.png) return reject(new Error(m.error));
        got[m.id] = decode(new Uint8Array(m.png)).data as Uint8Array;
        if (got.filter(Boolean).length === svgs.length) resolve();
      });
      svgs.forEach((svg, id) => worker.postMessage({ id, svg }));
    });
    return got;
  } finally {
    await worker.terminate();
  }
}

Deno.test("rgbaPng writes a PNG that decodes to the same pixels", () => {
  const pixels = new Uint8Array(7 * 5 * 4).map((_, i) => (i * 37) % 256);
  const img = decode(rgbaPng(pixels, 7, 5));
  assert.deepEqual([img.width, img.height, img.channels, img.depth], [7, 5, 4, 8]);
  assert.deepEqual(new Uint8Array(img.data), pixels);
  assert.throws(() => rgbaPng(pixels, 8, 5), /140 bytes are not 8 × 5 RGBA pixels/);
});

Deno.test("the point layer draws what resvg draws for the same circles", async () => {
  const colors = ["#e4572e", "#3366cc", "#2a9d8f80", "#fc0"];
  let seed = 3;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const discs: Disc[] = Array.from({ length: 400 }, (_, i) => [
    +(rnd() * 200).toFixed(1),
    +(rnd() * 100).toFixed(1),
    colors[i % colors.length],
  ]);
  const svg = (body: string) =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100"><rect width="200" height="100" fill="#d4e3ef"/>${body}</svg>`;
  for (const r of [1.5, 3]) {
    const circles = discs.map(([a, b, c]) => `<circle cx="${a}" cy="${b}" r="${r}" fill="${c}"/>`);
    const [want, got] = await render([svg(circles.join("")), svg(pointLayer(discs, r, 200, 100)!)]);
    let differ = 0, far = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(want[i] - got[i]);
      if (d > 24) differ++;
      if (d > 64) far++;
    }
    // Only anti-aliased edge pixels may differ (16 coverage levels here, exact in resvg): most
    // by at most 16 of 255; 0.1–0.2 % of channels by 25–64.
    assert.equal(far, 0, `radius ${r}: ${far} channels differ by more than 64`);
    assert.ok(differ < want.length * 0.005, `radius ${r}: ${differ} of ${want.length} differ`);
  }
  assert.equal(pointLayer([[1, 1, "red"], [2, 2, "#e4572e"]], 2, 10, 10), null);
});

Deno.test("the static SVG draws many points as one image layer, few as circles", () => {
  const lonLat = (n: number) =>
    arrow.tableFromArrays({
      lon: Float64Array.from({ length: n }, (_, i) => i % 40),
      lat: Float64Array.from({ length: n }, (_, i) => Math.floor(i / 40)),
    });
  const many = mapToSvg(prepareMap(lonLat(1_000)));
  assert.equal((many.match(/<image /g) ?? []).length, 1);
  assert.equal((many.match(/<circle/g) ?? []).length, 0);
  const few = mapToSvg(prepareMap(lonLat(50)));
  assert.equal((few.match(/<image /g) ?? []).length, 0);
  const fractional = mapToSvg(prepareMap(lonLat(1_000)), { height: 300.5 });
  assert.equal((fractional.match(/<circle/g) ?? []).length, 1_000);
});

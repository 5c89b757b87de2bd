import assert from "node:assert/strict";
import { partition, type Partitioning, utmZone } from "./partition.ts";

/** Deterministic pseudo-random numbers (mulberry32) so failures can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function clustered(n: number, seed: number): { x: Float64Array; y: Float64Array; w: Float64Array } {
  const r = random(seed);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Three clusters of different spread plus uniform noise.
    const c = i % 4;
    const [cx, cy, s] = c === 0
      ? [-74, 40.7, 0.5]
      : c === 1
      ? [2.35, 48.85, 2]
      : c === 2
      ? [139.7, 35.7, 5]
      : [0, 0, 150];
    x[i] = Math.max(-180, Math.min(180, cx + (r() - 0.5) * s));
    y[i] = Math.max(-90, Math.min(90, cy + (r() - 0.5) * s * 0.5));
    w[i] = 1 + Math.floor(r() * 20);
  }
  return { x, y, w };
}

function checkCover(p: Partitioning, n: number): void {
  const seen = new Uint8Array(n);
  for (const i of p.order) {
    assert.equal(seen[i], 0, `row ${i} appears twice`);
    seen[i] = 1;
  }
  assert.equal(p.order.length, n);
  let at = 0;
  p.files.forEach(([a, b], f) => {
    assert.equal(a, at, "files are contiguous");
    let c = a;
    for (const [s, e] of p.chunks[f]) {
      assert.equal(s, c, "chunks are contiguous inside their file");
      assert.ok(e > s, "no empty chunk");
      c = e;
    }
    assert.equal(c, b, "chunks cover their file");
    at = b;
  });
  assert.equal(at, n, "files cover every row");
}

function sums(p: Partitioning, w: Float64Array | null): { files: number[]; chunks: number[] } {
  const sum = ([a, b]: [number, number]): number => {
    let s = 0;
    for (let k = a; k < b; k++) s += w ? w[p.order[k]] : 1;
    return s;
  };
  return { files: p.files.map(sum), chunks: p.chunks.flat().map(sum) };
}

Deno.test("every row lands in exactly one chunk and files and chunks are contiguous", () => {
  const { x, y } = clustered(20_000, 1);
  const p = partition({ x, y }, { maxPerFile: 2000, maxPerChunk: 200 });
  checkCover(p, x.length);
});

Deno.test("the per-file and per-chunk row maxima hold", () => {
  const { x, y } = clustered(20_000, 2);
  const p = partition({ x, y }, { maxPerFile: 3000, maxPerChunk: 250, forceUtm: null });
  const s = sums(p, null);
  assert.ok(Math.max(...s.files) <= 3000, `largest file ${Math.max(...s.files)}`);
  assert.ok(Math.max(...s.chunks) <= 250, `largest chunk ${Math.max(...s.chunks)}`);
  // Splits are binary at the mean: groups are not tiny either.
  assert.ok(p.chunks.flat().length < 20_000 / 250 * 4, `${p.chunks.flat().length} chunks`);
});

Deno.test("weighted maxima hold for every chunk that has more than one row", () => {
  const { x, y, w } = clustered(10_000, 3);
  const p = partition({ x, y, weight: w }, {
    maxPerFile: 10_000,
    maxPerChunk: 1500,
    splitMethod: "median",
  });
  checkCover(p, x.length);
  const s = sums(p, w);
  assert.ok(Math.max(...s.chunks) <= 1500);
  assert.ok(Math.max(...s.files) <= 10_000);
});

Deno.test("chunk centroid boxes of a mean split do not overlap along the cut axis", () => {
  const { x, y } = clustered(5000, 4);
  const p = partition({ x, y }, { maxPerFile: 5000, maxPerChunk: 4999, forceUtm: null });
  assert.equal(p.chunks[0].length, 2);
  const box = ([a, b]: [number, number]): number[] => {
    let minx = Infinity, maxx = -Infinity;
    for (let k = a; k < b; k++) {
      minx = Math.min(minx, x[p.order[k]]);
      maxx = Math.max(maxx, x[p.order[k]]);
    }
    return [minx, maxx];
  };
  const [left, right] = p.chunks[0].map(box);
  assert.ok(left[1] < right[0], `left ends at ${left[1]}, right starts at ${right[0]}`);
});

Deno.test("identical centroids are split by rows when allowed and kept whole otherwise", () => {
  const x = new Float64Array(1000).fill(5);
  const y = new Float64Array(1000).fill(7);
  const split = partition({ x, y }, { maxPerFile: 1000, maxPerChunk: 100 });
  checkCover(split, 1000);
  assert.ok(split.chunks[0].every(([a, b]) => b - a <= 100));
  assert.equal(split.chunks[0].length, 16); // halves down to 62-63 rows: 2^4 groups
  const whole = partition({ x, y }, {
    maxPerFile: 1000,
    maxPerChunk: 100,
    splitIdenticalCentroids: false,
  });
  assert.deepEqual(whole.chunks, [[[0, 1000]]]);
});

Deno.test("a single row above the maximum stays one chunk", () => {
  const p = partition(
    {
      x: Float64Array.from([0, 1]),
      y: Float64Array.from([0, 1]),
      weight: Float64Array.from([50, 1]),
    },
    { maxPerFile: 10, maxPerChunk: 10 },
  );
  checkCover(p, 2);
  assert.equal(p.files.length, 2);
});

Deno.test("a wide group is cut across x even when y alternation would come next", () => {
  // Points on a line along the equator: every cut must be along x.
  const n = 1024;
  const x = Float64Array.from({ length: n }, (_, i) => -100 + (i * 200) / n);
  const y = Float64Array.from({ length: n }, (_, i) => (i % 2) * 0.001);
  const p = partition({ x, y }, {
    maxPerFile: n,
    maxPerChunk: 64,
    forceUtm: null,
    splitMethod: "median",
  });
  assert.equal(p.chunks[0].length, 16);
  // Chunks come out west to east.
  const firstX = p.chunks[0].map(([a]) =>
    Math.min(...Array.from(p.order.subarray(a, a + 64), (i) => x[i]))
  );
  assert.deepEqual(firstX, [...firstX].sort((a, b) => a - b));
});

Deno.test("forceUtm keeps every chunk inside one UTM zone", () => {
  const { x, y } = clustered(8000, 5);
  const p = partition({ x, y }, { maxPerFile: 8000, maxPerChunk: 8000, forceUtm: "chunk" });
  assert.ok(p.chunks[0].length > 1);
  for (const [a, b] of p.chunks.flat()) {
    const zones = new Set(Array.from(p.order.subarray(a, b), (i) => utmZone(x[i])));
    assert.equal(zones.size, 1);
  }
  const files = partition({ x, y }, { maxPerFile: 8000, maxPerChunk: 8000, forceUtm: "file" });
  assert.ok(files.files.length > 1, "file-level UTM splits files");
});

Deno.test("utmZone maps longitudes to zones 0-59", () => {
  assert.equal(utmZone(-180), 0);
  assert.equal(utmZone(-174.0001), 0);
  assert.equal(utmZone(-174), 1);
  assert.equal(utmZone(180), 59);
  assert.equal(utmZone(3), 30);
});

Deno.test("median splits give balanced halves", () => {
  const { x, y } = clustered(4096, 6);
  const p = partition({ x, y }, {
    maxPerFile: 4096,
    maxPerChunk: 512,
    splitMethod: "median",
    forceUtm: null,
  });
  assert.equal(p.chunks[0].length, 8);
  assert.ok(p.chunks[0].every(([a, b]) => b - a === 512));
});

Deno.test("bad options are refused with the option's name", () => {
  const x = Float64Array.from([0]);
  assert.throws(
    () => partition({ x, y: x }, { maxPerFile: 0, maxPerChunk: 1 }),
    /maxPerFile must be a number above 0/,
  );
  assert.throws(
    () => partition({ x, y: x }, { maxPerFile: 1, maxPerChunk: 1, splitMethod: "mode" as "mean" }),
    /Unknown partitioningSplitMethod "mode"/,
  );
  assert.throws(
    () => partition({ x, y: new Float64Array(2) }, { maxPerFile: 1, maxPerChunk: 1 }),
    /differ in length/,
  );
});

Deno.test("an empty input gives no files", () => {
  const p = partition({ x: new Float64Array(0), y: new Float64Array(0) }, {
    maxPerFile: 1,
    maxPerChunk: 1,
  });
  assert.deepEqual(p.files, []);
  assert.deepEqual(p.chunks, []);
});

Deno.test("the row order and chunks are what they were before the permuted-coordinates rewrite", async () => {
  // Pinned: digests of `order` and `chunks` computed with the partition code of commit 6acd8c7
  // (which gathered x[order[k]]); the rewrite must cut the same groups in the same order.
  const r = random(9);
  const n = 20_000;
  const x = new Float64Array(n), y = new Float64Array(n), w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // A third uniform over the globe, the rest in one cluster that spans UTM zones 32-34.
    x[i] = i % 3 === 0 ? r() * 360 - 180 : 10 + r() * 8;
    y[i] = i % 3 === 0 ? r() * 170 - 85 : 45 + r() * 3;
    w[i] = 1 + (i % 5);
  }
  const cases = [
    ["mean, UTM per chunk", { forceUtm: "chunk" }, undefined, "08a60d1a89b3ec24", 188],
    [
      "median, UTM per file, weighted",
      { forceUtm: "file", splitMethod: "median" },
      w,
      "2fa806f691188e46",
      328,
    ],
    ["mean, no UTM", { forceUtm: null }, undefined, "c4011792a330d6d8", 104],
  ] as const;
  for (const [name, options, weight, digest, chunks] of cases) {
    const p = partition({ x, y, weight }, { maxPerFile: 3000, maxPerChunk: 250, ...options });
    checkCover(p, n);
    const bytes = new Uint8Array([
      ...new Uint8Array(p.order.buffer),
      ...new TextEncoder().encode(JSON.stringify(p.chunks)),
    ]);
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
    assert.equal(p.chunks.flat().length, chunks, name);
    assert.equal(hex, digest, name);
  }
});

Deno.test("the centroids come back in output order", () => {
  const { x, y } = clustered(5000, 11);
  const p = partition({ x, y }, { maxPerFile: 1200, maxPerChunk: 100 });
  assert.ok(p.centroids);
  p.order.forEach((row, k) => {
    assert.equal(p.centroids!.x[k], x[row]);
    assert.equal(p.centroids!.y[k], y[row]);
  });
});

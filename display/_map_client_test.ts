import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { hasChromium, notebookPage, waitForMap, withPage } from "./browser.ts";
import { mapToMimeBundle } from "./map.ts";

const browser = { ignore: !hasChromium(), sanitizeResources: false, sanitizeOps: false };

/** What the page compares: pixel counts of the two pictures and how far apart they are. */
interface Comparison {
  /** Pixels the WebGL draw covered (alpha > 0). */
  covered: number;
  /** Pixels whose channels differ by more than 2 (out of 255). */
  differing: number;
  /** The largest difference of one channel. */
  maxDiff: number;
  /** Milliseconds of `rasterPoints` for the run. */
  rasterMs: number;
}

/**
 * Runs in the page: draws `n` random points both with `rasterPoints` (the client's code, from
 * `source`) and with WebGL point sprites through the point shader the map used before
 * (the reference), in a `w × h` buffer with the 4×4 matrix `t` and point size `size`.
 */
function comparePictures(
  args: { source: string; n: number; w: number; h: number; size: number; t: number[] },
): Comparison {
  const client = new Function(
    `${args.source}\nreturn { rasterPoints: rasterPoints, premultiplied: premultiplied };`,
  )();
  const { n, w, h, size } = args;
  let seed = 11;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  // Positions in model units: the matrix maps [-1.2, 1.2]² to a bit more than the clip square,
  // so points cross the edges too.
  const pos = new Float32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) pos[i] = (rnd() * 2 - 1) * 1.2;
  const rgbas = [[228, 87, 46, 230], [68, 1, 84, 230], [253, 231, 37, 230], [33, 145, 140, 230]];
  const colors = new Uint8Array(n);
  for (let i = 0; i < n; i++) colors[i] = Math.floor(rnd() * rgbas.length);
  const t = new Float32Array(args.t);

  const ours = new Uint8Array(w * h * 4);
  const t0 = performance.now();
  client.rasterPoints(ours, { t, size, w, h }, pos, colors, client.premultiplied(rgbas));
  const rasterMs = performance.now() - t0;

  // The page's DOM and WebGL (Deno's type library has neither).
  // deno-lint-ignore no-explicit-any
  const canvas = (globalThis as any).document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const gl = canvas.getContext("webgl", { antialias: false, preserveDrawingBuffer: true });
  const shader = (type: number, src: string) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  };
  const p = gl.createProgram();
  gl.attachShader(
    p,
    shader(
      gl.VERTEX_SHADER,
      "attribute vec2 a_pos; attribute vec4 a_color; uniform mat4 u_matrix; uniform float u_size; varying vec4 v_color;" +
        "void main(){ gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0); gl_PointSize = u_size; v_color = a_color; }",
    ),
  );
  gl.attachShader(
    p,
    shader(
      gl.FRAGMENT_SHADER,
      "precision mediump float; varying vec4 v_color;" +
        "void main(){ vec2 c = gl_PointCoord * 2.0 - 1.0; float r = dot(c, c); if (r > 1.0) discard;" +
        " vec3 rgb = r > 0.55 ? v_color.rgb * 0.55 : v_color.rgb; gl_FragColor = vec4(rgb * v_color.a, v_color.a); }",
    ),
  );
  gl.linkProgram(p);
  gl.useProgram(p);
  const rgba = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) rgba.set(rgbas[colors[i]], 4 * i);
  const attribute = (name: string, data: ArrayBufferView, k: number, type: number) => {
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    const at = gl.getAttribLocation(p, name);
    gl.enableVertexAttribArray(at);
    gl.vertexAttribPointer(at, k, type, type === gl.UNSIGNED_BYTE, 0, 0);
  };
  attribute("a_pos", pos, 2, gl.FLOAT);
  attribute("a_color", rgba, 4, gl.UNSIGNED_BYTE);
  gl.uniformMatrix4fv(gl.getUniformLocation(p, "u_matrix"), false, t);
  gl.uniform1f(gl.getUniformLocation(p, "u_size"), size);
  gl.viewport(0, 0, w, h);
  gl.clearColor(0, 0, 0, 0);
  gl.clear(gl.COLOR_BUFFER_BIT);
  gl.enable(gl.BLEND);
  gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
  gl.drawArrays(gl.POINTS, 0, n);
  const theirs = new Uint8Array(w * h * 4);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, theirs);

  let covered = 0, differing = 0, maxDiff = 0;
  for (let o = 0; o < theirs.length; o += 4) {
    if (theirs[o + 3] > 0) covered++;
    let d = 0;
    for (let k = 0; k < 4; k++) d = Math.max(d, Math.abs(theirs[o + k] - ours[o + k]));
    if (d > 2) differing++;
    maxDiff = Math.max(maxDiff, d);
  }
  return { covered, differing, maxDiff, rasterMs };
}

async function compare(
  view: { n: number; w: number; h: number; size: number; t: number[] },
): Promise<Comparison> {
  const source = await Deno.readTextFile(new URL("./_map_client.js", import.meta.url));
  return await withPage(
    "<!doctype html><title>points</title>",
    ({ page }) => page.evaluate(comparePictures, { source, ...view }),
  );
}

// A scale and shift in x/y, as MapLibre's matrix is for a map without pitch (column-major).
const FLAT = [0.9, 0, 0, 0, 0, 0.8, 0, 0, 0, 0, 1, 0, 0.03, -0.02, 0, 1];
// A matrix whose w varies over the plane (a perspective divide per point).
const TILTED = [0.9, 0.05, 0, 0.1, -0.04, 0.8, 0, 0.05, 0, 0, 1, 0, 0.03, -0.02, 0, 1.1];

Deno.test({
  name: "rasterised points have the pixels of WebGL point sprites (4 px points, 30,000)",
  ...browser,
  fn: async () => {
    const r = await compare({ n: 30_000, w: 400, h: 300, size: 4, t: FLAT });
    assert.ok(r.covered > 50_000, `only ${r.covered} pixels covered`);
    assert.ok(r.differing <= r.covered * 0.003, JSON.stringify(r));
  },
});

Deno.test({
  name: "rasterised points have the pixels of WebGL point sprites (odd and fractional sizes)",
  ...browser,
  fn: async () => {
    for (const size of [3, 5, 7.5, 16]) {
      const r = await compare({ n: 3_000, w: 331, h: 217, size, t: TILTED });
      assert.ok(r.covered > 1_000, `size ${size}: only ${r.covered} pixels covered`);
      assert.ok(r.differing <= r.covered * 0.003, `size ${size}: ${JSON.stringify(r)}`);
    }
  },
});

/** The client's top-level functions, evaluated here (they use no browser API). */
function clientFunctions(source: string): {
  warp(from: { t: Float32Array }, to: { t: Float32Array }): Float32Array;
} {
  return new Function(`${source}\nreturn { warp: warp };`)();
}

Deno.test("the warp between two views maps each point of the plane from one to the other", async () => {
  const { warp } = clientFunctions(
    await Deno.readTextFile(new URL("./_map_client.js", import.meta.url)),
  );
  // Column-major 4×4 matrices: a flat view (y flipped, as MapLibre's is) and a panned, zoomed
  // one with a varying w.
  const from = new Float32Array([2, 0, 0, 0, 0, -3, 0, 0, 0, 0, 1, 0, 0.5, 0.25, 0, 1]);
  const to = new Float32Array([8, 0.1, 0, 0.02, 0.3, -12, 0, 0.01, 0, 0, 1, 0, -1.5, 2, 0, 1.2]);
  const clip = (t: Float32Array, x: number, y: number) => {
    const w = t[3] * x + t[7] * y + t[15];
    return [(t[0] * x + t[4] * y + t[12]) / w, (t[1] * x + t[5] * y + t[13]) / w];
  };
  const m = warp({ t: from }, { t: to });
  for (const [x, y] of [[0, 0], [0.3, -0.2], [-0.4, 0.1], [0.05, 0.45]]) {
    const [u, v] = clip(from, x, y);
    // u_warp × (u, v, 1), column-major, then the divide by w as the GPU does.
    const p = [0, 1, 2].map((r) => m[r] * u + m[3 + r] * v + m[6 + r]);
    assert.ok(p[2] > 0, "w stays positive, so nothing is clipped away");
    const [eu, ev] = clip(to, x, y);
    assert.ok(Math.abs(p[0] / p[2] - eu) < 1e-4 && Math.abs(p[1] / p[2] - ev) < 1e-4);
  }
  assert.deepEqual([...warp({ t: from }, { t: from })], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

Deno.test({
  name: "after the map stops moving the points are rasterised for the new view, not stretched",
  ...browser,
  fn: async () => {
    // One point, 16 px across, on a white map; zoomed in by 2 with an animation. Warped, the
    // last raster would be 4x larger until the next raster: 20 px from the centre is coloured.
    const b = await mapToMimeBundle(
      arrow.tableFromArrays({ lon: [2.35, 13.4], lat: [48.86, 52.52] }),
      { basemap: "none", pointRadius: 8, preserveDrawingBuffer: true, fallback: false },
    );
    const id = (b.metadata?.["text/html"] as Record<string, { id: string }>)["fused:map"].id;
    await withPage(notebookPage([String(b.data["text/html"])]), async ({ page, errors }) => {
      assert.equal((await waitForMap(page, id)).loaded, true);
      const colours = await page.evaluate((mapId: string) =>
        new Promise<string[]>((ok) => {
          // deno-lint-ignore no-explicit-any
          const g = globalThis as any;
          const m = g.__fusedMaps[mapId].map;
          const canvas = m.getCanvas(), dpr = g.devicePixelRatio || 1;
          const at = (dx: number) => {
            const copy = g.document.createElement("canvas");
            copy.width = canvas.width;
            copy.height = canvas.height;
            const ctx = copy.getContext("2d");
            ctx.drawImage(canvas, 0, 0);
            const p = m.project([2.35, 48.86]);
            const d = ctx.getImageData(Math.round((p.x + dx) * dpr), Math.round(p.y * dpr), 1, 1)
              .data;
            return "#" + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
          };
          // A frame drawn while moving shows the warped raster: the point where it is.
          let moving = "no frame while moving";
          m.on("render", () => {
            if (m.isMoving() && moving === "no frame while moving") moving = at(0);
          });
          m.once("moveend", () => m.once("idle", () => ok([moving, at(0), at(20)])));
          m.easeTo({ zoom: m.getZoom() + 2, center: [2.35, 48.86], duration: 600 });
        }), id);
      assert.deepEqual(colours, ["#e76742", "#e76742", "#ffffff"]);
      assert.deepEqual(errors, []);
    });
  },
});

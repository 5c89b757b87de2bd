/**
 * The static picture of a map, for every viewer that runs no JavaScript: GitHub (`image/png`),
 * an untrusted classic Notebook (its sanitizer keeps a data-URI `<img>` inside the HTML but drops
 * SVG), image viewers. It is drawn as SVG (offline land, a sample of the geometries, the notes;
 * from 200 points on, the points as one image layer drawn here: `pointLayer`) and rasterised to
 * PNG with resvg (WebAssembly, no native dependency) in a worker thread
 * (`_map_static_worker.ts`), which loads resvg while the first map's data is prepared here.
 *
 * @module
 */

import { Worker } from "node:worker_threads";
import zlib from "node:zlib";
import type { GeoJsonGeometry } from "../client/formats/geo.ts";
import { offlineBasemap } from "./assets.ts";
import { mercator, type PreparedMap } from "./map_data.ts";
import { escapeHtml, formatCount, toBase64 } from "./mime.ts";

/** Size and extra text of the static picture. */
export interface StaticImageOptions {
  /** Width in pixels; 800 by default. */
  width?: number;
  /** Height in pixels; 450 by default. */
  height?: number;
  /** One more line of text at the bottom (e.g. why the interactive map is not shown). */
  caption?: string;
}

/**
 * Draws the static fallback: the offline land, the sampled geometries (Web Mercator) and the
 * note, as SVG that GitHub, nbconvert and image viewers show without JavaScript.
 */
export function mapToSvg(
  prepared: PreparedMap,
  options: StaticImageOptions = {},
): string {
  const width = options.width ?? 800;
  const height = options.height ?? 450;
  const [w, s, e, n] = prepared.bounds;
  const [x0, y1] = mercator(w, s);
  const [x1, y0] = mercator(e, n);
  // Fit the data's box with a margin, keeping the aspect ratio of the picture.
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const fit = Math.max((x1 - x0) / width, (y1 - y0) / height) * 1.1;
  const span = Number.isFinite(fit) && fit > 0 ? fit : 1e-6; // one point: about street level
  const px = (lon: number, lat: number): [number, number] => {
    const [mx, my] = mercator(lon, lat);
    return [(mx - cx) / span + width / 2, (my - cy) / span + height / 2];
  };
  // The visible box in Mercator units (y grows southwards).
  const left = cx - (width / 2) * span, right = cx + (width / 2) * span;
  const top = cy - (height / 2) * span, bottom = cy + (height / 2) * span;
  const path = (coords: unknown, close: boolean): string => {
    const rings = coords as number[][][];
    return rings.map((ring) => {
      let d = "";
      let last = "";
      for (const [lon, lat] of ring) {
        const [a, b] = px(lon, lat);
        const p = `${a.toFixed(1)},${b.toFixed(1)}`;
        if (p === last) continue;
        d += (d ? "L" : "M") + p;
        last = p;
      }
      return d + (close ? "Z" : "");
    }).join("");
  };
  const inView = (ring: number[][]): boolean => {
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (const [lon, lat] of ring) {
      const [mx, my] = mercator(lon, lat);
      minX = Math.min(minX, mx);
      maxX = Math.max(maxX, mx);
      minY = Math.min(minY, my);
      maxY = Math.max(maxY, my);
    }
    return maxX >= left && minX <= right && maxY >= top && minY <= bottom;
  };
  const parts: string[] = [];
  const landPolys = landPolygons().filter((poly) => inView(poly[0]));
  if (landPolys.length) {
    parts.push(
      `<path d="${
        landPolys.map((p) => path(p, true)).join("")
      }" fill="#f4f2ee" stroke="#b9b4ab" stroke-width="0.5"/>`,
    );
  }
  const shape = (g: GeoJsonGeometry, color: string): string => {
    switch (g.type) {
      case "Polygon":
        return `<path d="${
          path(g.coordinates, true)
        }" fill="${color}" fill-opacity="0.6" stroke="#333" stroke-width="0.6" fill-rule="evenodd"/>`;
      case "MultiPolygon":
        return `<path d="${
          (g.coordinates as unknown[]).map((p) => path(p, true)).join("")
        }" fill="${color}" fill-opacity="0.6" stroke="#333" stroke-width="0.6" fill-rule="evenodd"/>`;
      case "LineString":
        return `<path d="${
          path([g.coordinates], false)
        }" fill="none" stroke="${color}" stroke-width="2"/>`;
      case "MultiLineString":
        return `<path d="${
          path(g.coordinates, false)
        }" fill="none" stroke="${color}" stroke-width="2"/>`;
      case "MultiPoint":
        return (g.coordinates as number[][]).map(([lon, lat]) => {
          const [a, b] = px(lon, lat);
          return `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${color}"/>`;
        }).join("");
      case "GeometryCollection":
        return (g.geometries ?? []).map((c) => shape(c, color)).join("");
      default:
        return "";
    }
  };
  for (const [g, color] of prepared.sample.shapes) parts.push(shape(g, color));
  const r = prepared.pointCount > 100_000 ? 1.5 : prepared.pointCount > 10_000 ? 2 : 3;
  const discs = prepared.sample.points.map(([lon, lat, color]): Disc => {
    const [a, b] = px(lon, lat);
    return [+a.toFixed(1), +b.toFixed(1), color];
  });
  const layer = discs.length >= LAYER_FROM && Number.isInteger(width) &&
      Number.isInteger(height) && width * height <= LAYER_MAX_PIXELS
    ? pointLayer(discs, r, width, height)
    : null;
  if (layer) parts.push(layer);
  else {
    for (const [a, b, color] of discs) {
      parts.push(`<circle cx="${a}" cy="${b}" r="${r}" fill="${color}"/>`);
    }
  }
  const sampled = prepared.sample.points.length + prepared.sample.shapes.length;
  const caption = [
    sampled < prepared.embeddedFeatures
      ? `Static preview of ${formatCount(sampled)} of ${
        formatCount(prepared.totalFeatures)
      } features`
      : "",
    prepared.note ?? "",
    prepared.tiles ? `Tile layer ${prepared.tiles.url} (interactive view only)` : "",
    options.caption ?? "",
  ].filter(Boolean).flatMap((text) => wrapLine(text, Math.floor((width - 12) / CHAR_WIDTH)));
  caption.forEach((text, i) =>
    parts.push(
      `<text x="6" y="${
        height - 8 - 14 * (caption.length - 1 - i)
      }" font-family="sans-serif" font-size="11" fill="#333">${escapeHtml(text)}</text>`,
    )
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="${width}" height="${height}" fill="#d4e3ef"/>${
    parts.join("")
  }</svg>`;
}

/** A point of the static image: centre in pixels and CSS colour. */
export type Disc = [number, number, string];

/** `#rgb`, `#rrggbb` or `#rrggbbaa` as red, green, blue (0–255) and alpha (0–1); else null. */
function rgba(color: string): [number, number, number, number] | null {
  const h = /^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(color)?.[1];
  if (!h) return null;
  const full = h.length === 3 ? [...h].map((c) => c + c).join("") : h;
  const v = (i: number) => parseInt(full.slice(2 * i, 2 * i + 2), 16);
  return [v(0), v(1), v(2), full.length === 8 ? v(3) / 255 : 1];
}

/**
 * Points from which the static image draws them as one image layer rather than circles (for a
 * picture of whole pixels, at most `LAYER_MAX_PIXELS`).
 */
const LAYER_FROM = 200;

/** Largest picture (pixels) that gets a point layer; a larger one keeps circles. */
const LAYER_MAX_PIXELS = 4_000_000;

/** Sub-samples per pixel side when covering a disc (16 a pixel). */
const SUB = 4;

/**
 * The points as one image layer: anti-aliased discs of radius `r` drawn in order ("source over")
 * into a transparent `width` × `height` picture, PNG-encoded into an `<image>`. resvg parsed and
 * filled the same points as 5,000 `<circle>` elements in 0.4–2 s on the first map of a process
 * (its WebAssembly still cold); this layer costs about 50 ms here and one image decode there.
 * Null when a colour is not `#` hex (the caller then writes circles).
 *
 * @example
 * ```ts
 * import { pointLayer } from "./_map_static.ts";
 * const layer = pointLayer([[10, 10, "#e4572e"], [20, 12, "#3366cc"]], 3, 40, 30);
 * if (!layer?.startsWith("<image")) throw new Error("no layer");
 * ```
 */
export function pointLayer(discs: Disc[], r: number, width: number, height: number): string | null {
  const colors = new Map<string, [number, number, number, number]>();
  for (const [, , c] of discs) {
    if (colors.has(c)) continue;
    const v = rgba(c);
    if (!v) return null;
    colors.set(c, v);
  }
  // Premultiplied red, green, blue and alpha, 0–1.
  const acc = new Float32Array(width * height * 4);
  const r2 = r * r;
  for (const [a, b, c] of discs) {
    const [red, green, blue, alpha] = colors.get(c)!;
    const i0 = Math.max(0, Math.floor(a - r)), i1 = Math.min(width - 1, Math.floor(a + r));
    const j0 = Math.max(0, Math.floor(b - r)), j1 = Math.min(height - 1, Math.floor(b + r));
    for (let j = j0; j <= j1; j++) {
      for (let i = i0; i <= i1; i++) {
        let inside = 0;
        for (let sy = 0; sy < SUB; sy++) {
          const dy = j + (sy + 0.5) / SUB - b;
          for (let sx = 0; sx < SUB; sx++) {
            const dx = i + (sx + 0.5) / SUB - a;
            if (dx * dx + dy * dy <= r2) inside++;
          }
        }
        if (inside === 0) continue;
        const cover = (alpha * inside) / (SUB * SUB), keep = 1 - cover, k = (j * width + i) * 4;
        acc[k] = (red / 255) * cover + acc[k] * keep;
        acc[k + 1] = (green / 255) * cover + acc[k + 1] * keep;
        acc[k + 2] = (blue / 255) * cover + acc[k + 2] * keep;
        acc[k + 3] = cover + acc[k + 3] * keep;
      }
    }
  }
  const pixels = new Uint8Array(acc.length);
  for (let k = 0; k < acc.length; k += 4) {
    const a = acc[k + 3];
    if (a === 0) continue;
    pixels[k] = Math.round((acc[k] / a) * 255);
    pixels[k + 1] = Math.round((acc[k + 1] / a) * 255);
    pixels[k + 2] = Math.round((acc[k + 2] / a) * 255);
    pixels[k + 3] = Math.round(a * 255);
  }
  return `<image width="${width}" height="${height}" href="data:image/png;base64,${
    toBase64(rgbaPng(pixels, width, height))
  }"/>`;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * An 8-bit RGBA PNG of `pixels` (rows unfiltered), deflated at level 1 by the runtime's native
 * zlib: fast-png's JavaScript deflate took 0.35 s on the first map of a process for this mostly
 * empty layer, native zlib a few milliseconds, for about the same bytes (15 KB).
 *
 * @example
 * ```ts
 * import { rgbaPng } from "./_map_static.ts";
 * const png = rgbaPng(new Uint8Array([255, 0, 0, 255]), 1, 1);
 * if (png[1] !== 0x50) throw new Error("not a PNG");
 * ```
 */
export function rgbaPng(pixels: Uint8Array, width: number, height: number): Uint8Array {
  const stride = width * 4;
  if (pixels.length !== stride * height) {
    throw new RangeError(`${pixels.length} bytes are not ${width} × ${height} RGBA pixels`);
  }
  const rows = new Uint8Array((stride + 1) * height); // each row: filter type 0, then pixels
  for (let y = 0; y < height; y++) {
    rows.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter method, no interlace
  const chunks = [
    chunk("IHDR", header),
    chunk("IDAT", zlib.deflateSync(rows, { level: 1 })),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(8 + chunks.reduce((n, c) => n + c.length, 0));
  out.set(PNG_SIGNATURE);
  let at = 8;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A PNG chunk: length, type, data and the CRC-32 of type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, zlib.crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Width in pixels of one character of the 11 px sans-serif caption, on the wide side: a tile URL
 * measures about 5.9 px a character. SVG text does not wrap, so a longer line runs off the image.
 */
const CHAR_WIDTH = 6.6;

/** Splits a line into lines of at most `max` characters, at spaces, and inside longer words. */
function wrapLine(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (let word of text.split(" ")) {
    while (word.length > max) {
      const room = line ? max - line.length - 1 : max;
      if (room < 8 && line) {
        lines.push(line);
        line = "";
        continue;
      }
      lines.push(line ? `${line} ${word.slice(0, room)}` : word.slice(0, room));
      line = "";
      word = word.slice(room);
    }
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Every polygon (rings of lon/lat) of the offline land layer. */
function landPolygons(): number[][][][] {
  const land = offlineBasemap().land as {
    features?: { geometry: GeoJsonGeometry }[];
    geometry?: GeoJsonGeometry;
  };
  const geoms = land.features
    ? land.features.map((f) => f.geometry)
    : land.geometry
    ? [land.geometry]
    : [];
  return geoms.flatMap((g) =>
    g.type === "Polygon"
      ? [g.coordinates as number[][][]]
      : g.type === "MultiPolygon"
      ? (g.coordinates as number[][][][])
      : []
  );
}

/** The PNG thread and the requests it has not answered yet. */
interface StaticRenderer {
  worker: Worker;
  pending: Map<number, { resolve(png: Uint8Array): void; reject(e: Error): void }>;
  next: number;
}

let renderer: StaticRenderer | undefined;

/**
 * The PNG thread, started on first use. It does not keep the process alive while it has nothing
 * to answer; if it fails or exits, its waiting requests fail with the reason and the next
 * request starts a new one.
 */
function staticRenderer(): StaticRenderer {
  if (renderer) return renderer;
  const worker = new Worker(new URL("./_map_static_worker.ts", import.meta.url));
  worker.unref();
  const r: StaticRenderer = { worker, pending: new Map(), next: 0 };
  const fail = (e: Error) => {
    if (renderer === r) renderer = undefined;
    for (const p of r.pending.values()) p.reject(e);
    r.pending.clear();
  };
  worker.on("message", (m: { id: number; png?: Uint8Array; error?: string }) => {
    const p = r.pending.get(m.id);
    if (!p) return;
    r.pending.delete(m.id);
    if (r.pending.size === 0) worker.unref();
    if (m.png) p.resolve(new Uint8Array(m.png));
    else p.reject(new Error(`Cannot draw the map's static image: ${m.error}`));
  });
  worker.on("error", (e: Error) => fail(new Error(`The map image thread failed: ${e.message}`)));
  worker.on(
    "exit",
    (code: number) => fail(new Error(`The map image thread exited (code ${code})`)),
  );
  renderer = r;
  return r;
}

/**
 * Starts the thread that draws static images, if it is not running, so it loads resvg while the
 * caller prepares a map: `mapToMimeBundle` calls it before `prepareMap`.
 *
 * @example
 * ```ts
 * import { startStaticImages } from "./_map_static.ts";
 * startStaticImages();
 * ```
 */
export function startStaticImages(): void {
  staticRenderer();
}

/**
 * The static picture as PNG bytes (about 30–150 KB at 800 × 450).
 *
 * @example
 * ```ts
 * import { prepareMap } from "./map_data.ts";
 * import { mapToPng } from "./_map_static.ts";
 * const png = await mapToPng(prepareMap({ type: "Point", coordinates: [2.35, 48.86] }));
 * if (png[1] !== 0x50) throw new Error("not a PNG");
 * ```
 */
export function mapToPng(
  prepared: PreparedMap,
  options: StaticImageOptions = {},
): Promise<Uint8Array> {
  const svg = mapToSvg(prepared, options);
  const r = staticRenderer();
  return new Promise((resolve, reject) => {
    const id = r.next++;
    r.pending.set(id, { resolve, reject });
    r.worker.ref();
    r.worker.postMessage({ id, svg });
  });
}

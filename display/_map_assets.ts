/**
 * How MapLibre travels: every map output carries the whole browser side (MapLibre main module,
 * worker and CSS, apache-arrow, the offline basemap, the fused renderer) as one gzip'd, base64
 * string, unpacked in the browser with `DecompressionStream`. The first output on a page that
 * runs unpacks it into `window.__fusedMapAssets`; the others find it there and skip theirs.
 *
 * So no map depends on another output: re-running, clearing or reordering cells, copying one into
 * another notebook and exporting HTML all keep every map working (plotly's and bokeh's "load the
 * library once" outputs break exactly there: plotly#458, bokeh#6116). The price is about 1 MB of
 * base64 per map output, measured in the README's design notes.
 *
 * @module
 */

import { offlineBasemap, packageFile } from "./assets.ts";
import { jsonForScript, toBase64 } from "./mime.ts";

let packed: Promise<string> | undefined;

/** Gzip of bytes with the runtime's native zlib (Deno's CompressionStream, no library). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The renderer's source (display/_map_client.js), as an expression of its function. */
function renderer(): string {
  return `(function(){${
    Deno.readTextFileSync(new URL("./_map_client.js", import.meta.url))
  }\nreturn fusedRenderMap;})()`;
}

/** Every browser asset of a map as one JSON, gzip'd and base64'd; built once per process. */
export function packedMapAssets(): Promise<string> {
  packed ??= (async () => {
    const json = JSON.stringify({
      main: packageFile("maplibre-gl", "dist/maplibre-gl.mjs"),
      worker: packageFile("maplibre-gl", "dist/maplibre-gl-worker.mjs"),
      css: packageFile("maplibre-gl", "dist/maplibre-gl.css"),
      arrow: packageFile("apache-arrow", "Arrow.es2015.min.js"),
      basemap: offlineBasemap(),
      renderer: renderer(),
    });
    return toBase64(await gzip(new TextEncoder().encode(json)));
  })();
  return packed;
}

/**
 * The `<script>` each map output starts with: unless the page already has them, it unpacks the
 * assets and defines `window.__fusedMapAssets.ready`, a promise of `{ maplibregl, Arrow,
 * basemap, render, unpack }`.
 *
 * `unpack` writes the whole input into `DecompressionStream` at once: read through
 * `Blob.stream()` (108 chunks for 1 M points' 5 MB) Chromium gunzipped it 2–3x slower (330 against
 * 110 ms at load average 15).
 *
 * MapLibre 6 is ESM-only: its main module is imported from a blob URL and its worker given as
 * another blob URL (`setWorkerUrl`), so nothing is fetched. apache-arrow's UMD build runs with
 * `define`, `module`, `exports` and `require` hidden, so it lands on `window` even where
 * RequireJS is loaded (classic Notebook, where it would otherwise register an anonymous module).
 */
export async function mapAssetsScript(): Promise<string> {
  const data = await packedMapAssets();
  return `<script>(function(){var w=window;if(w.__fusedMapAssets)return;
var A=w.__fusedMapAssets={evaluated:(w.__fusedMapAssetsEvaluated=(w.__fusedMapAssetsEvaluated||0)+1)};
function bytes(b){if(Uint8Array.fromBase64)return Uint8Array.fromBase64(b);var s=atob(b),o=new Uint8Array(s.length);for(var i=0;i<s.length;i++)o[i]=s.charCodeAt(i);return o;}
A.unpack=function(b){var d=new DecompressionStream("gzip"),w=d.writable.getWriter();function quiet(){}w.write(bytes(b)).catch(quiet);w.close().catch(quiet);return new Response(d.readable).arrayBuffer();};
function blob(t){return URL.createObjectURL(new Blob([t],{type:"text/javascript"}));}
A.ready=A.unpack(${jsonForScript(data)}).then(function(buf){
var src=JSON.parse(new TextDecoder().decode(buf));
var st=document.createElement("style");st.textContent=src.css;document.head.appendChild(st);
(new Function("define","module","exports","require",src.arrow)).call(w);
A.Arrow=w.Arrow;A.basemap=src.basemap;var render=(0,eval)(src.renderer);
return import(blob(src.main)).then(function(m){m.setWorkerUrl(blob(src.worker));A.maplibregl=m;A.render=function(el,cfg){return render(A,el,cfg);};return A;});});
A.ready.catch(function(e){console.error("fused map assets failed to load",e);});})();</script>`;
}

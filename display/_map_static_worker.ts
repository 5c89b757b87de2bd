/**
 * The thread that turns maps' static SVG into PNG with resvg (WebAssembly). It loads resvg and
 * the font when it starts and draws a small picture with the same kinds of elements, so the
 * WebAssembly the first map needs is compiled while that map's data is still being prepared on
 * the caller's thread: in the caller's thread the first PNG cost about 1.4 s of CPU, a later one
 * about 0.37 s. `_map_static.ts` starts it and sends it `{ id, svg }`; it answers
 * `{ id, png }` or `{ id, error }`.
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import { initWasm, Resvg } from "@resvg/resvg-wasm";

/** Debian's DejaVu Sans (fonts-dejavu-core); without it the picture has no text. */
const FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/**
 * A picture with what map pictures hold: a background, a land path, circles, the points' image
 * layer (a data-URI PNG, see `pointLayer` in `_map_static.ts`) and a caption.
 */
const WARM_UP =
  `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32" viewBox="0 0 64 32"><rect width="64" height="32" fill="#d4e3ef"/><path d="M2,2L30,4L20,28Z" fill="#f4f2ee" stroke="#b9b4ab" stroke-width="0.5"/><circle cx="40.5" cy="10.5" r="1.5" fill="#e4572e"/><path d="M40,20L60,30" fill="none" stroke="#333" stroke-width="2"/><image width="64" height="32" href="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFElEQVR4AWN4Eq73nwEGjNPONAAAKWAETi0XfS0AAAAASUVORK5CYII="/><text x="6" y="24" font-family="sans-serif" font-size="11" fill="#333">Map 1,000</text></svg>`;

async function loadResvg(): Promise<Uint8Array[]> {
  const entry = new URL(import.meta.resolve("@resvg/resvg-wasm"));
  if (entry.protocol !== "file:") {
    throw new Error(
      `The npm package "@resvg/resvg-wasm" resolved to ${entry}, not to a file: set "nodeModulesDir": "auto" in deno.json and run \`deno install\``,
    );
  }
  await initWasm(await Deno.readFile(new URL("./index_bg.wasm", entry)));
  let fonts: Uint8Array[];
  try {
    fonts = [await Deno.readFile(FONT)];
  } catch {
    fonts = [];
  }
  toPng(WARM_UP, fonts);
  return fonts;
}

function toPng(svg: string, fonts: Uint8Array[]): Uint8Array {
  const resvg = new Resvg(svg, {
    font: {
      fontBuffers: fonts,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
  });
  try {
    const image = resvg.render();
    try {
      return image.asPng();
    } finally {
      image.free();
    }
  } finally {
    resvg.free();
  }
}

const port = parentPort;
if (!port) throw new Error("display/_map_static_worker.ts runs as a worker thread only");
const ready = loadResvg();
ready.catch(() => {}); // each request below answers with the failure
port.on("message", async ({ id, svg }: { id: number; svg: string }) => {
  try {
    const png = toPng(svg, await ready);
    port.postMessage({ id, png }, [png.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ id, error: (e as Error)?.message ?? String(e) });
  }
});

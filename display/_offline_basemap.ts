/**
 * Builds the offline basemap that maps draw under their data: Natural Earth 1:110m land and
 * country borders from the pinned npm `world-atlas`, converted with topojson-client, cut at the
 * antimeridian (`_antimeridian.ts`) and rounded to 0.001°.
 *
 * The cut takes 0.6–1.5 s of CPU (polyclip-ts on every land ring), which every kernel's first map
 * paid before its output could leave. Its inputs are pinned, so it is done once here and the
 * result is kept beside this file as `_offline_basemap.json`, read by `offlineBasemap()` in
 * `assets.ts`; `_offline_basemap_test.ts` fails when the file no longer equals a fresh build
 * (after a `world-atlas` upgrade or a change to the cut). Rebuild it with
 * `deno run -A display/_offline_basemap.ts`.
 *
 * @module
 */

import { feature, mesh } from "topojson-client";
import { packageFile } from "./assets.ts";
import { cutAntimeridian } from "./_antimeridian.ts";

/** The file the built basemap is kept in. */
export const OFFLINE_BASEMAP_FILE = new URL("./_offline_basemap.json", import.meta.url);

/**
 * The offline basemap as JSON text: `{ land, borders }`, land a GeoJSON FeatureCollection and
 * borders a MultiLineString.
 *
 * @example
 * ```ts
 * import { buildOfflineBasemap } from "./_offline_basemap.ts";
 * if (!buildOfflineBasemap().startsWith('{"land":')) throw new Error("unexpected");
 * ```
 */
export function buildOfflineBasemap(): string {
  // deno-lint-ignore no-explicit-any
  const land = JSON.parse(packageFile("world-atlas", "land-110m.json")) as any;
  // deno-lint-ignore no-explicit-any
  const countries = JSON.parse(packageFile("world-atlas", "countries-110m.json")) as any;
  const round = (_k: string, v: unknown): unknown =>
    typeof v === "number" ? Math.round(v * 1000) / 1000 : v;
  // Natural Earth rings cross the antimeridian (Eurasia, Fiji, Antarctica around the pole): cut
  // them so flat maps draw no streak across the world.
  // deno-lint-ignore no-explicit-any
  const landFc = feature(land, land.objects.land) as any;
  for (const f of landFc.features) f.geometry = cutAntimeridian(f.geometry);
  const borders = cutAntimeridian(
    mesh(countries, countries.objects.countries, (a: unknown, b: unknown) => a !== b) as never,
  );
  return JSON.stringify({ land: landFc, borders }, round);
}

/** Writes the built basemap to `_offline_basemap.json` (temp file, then rename). */
async function writeOfflineBasemap(): Promise<void> {
  const tmp = new URL(`./_offline_basemap.json.${Deno.pid}.tmp`, import.meta.url);
  await Deno.writeTextFile(tmp, buildOfflineBasemap() + "\n");
  await Deno.rename(tmp, OFFLINE_BASEMAP_FILE);
}

if (import.meta.main) await writeOfflineBasemap();

/**
 * fused-ts: the Fused UDF platform in TypeScript on Deno. Define UDFs, run them locally in
 * sandboxed processes or on a service, fan them out, cache them, and read every result as Arrow
 * tables, rasters, JSON or HTML.
 *
 * Importing this module installs the local engine (sandboxed processes started with `deno`).
 *
 * @example
 * ```ts ignore
 * import * as fused from "fused";
 * const hello = fused.udf(`export default function udf({ name = "world" }) {
 *   return "hello " + name;
 * }`);
 * console.log(await fused.run(hello, { name: "Deno" })); // "hello Deno"
 * ```
 *
 * @module
 */
import { cachingLocalEngine, installEngine } from "./client/run.ts";
import { defaultEngine } from "./engine/mod.ts";

// Created on first run, not at import: importing "fused" must work anywhere, also inside a
// UDF's sandboxed process (which cannot read TMPDIR to place the engine's folder).
installEngine(
  "local",
  cachingLocalEngine({
    run: (request) => defaultEngine().run(request),
    describe: (udf) => defaultEngine().describe(udf),
  }),
);

export { Udf, udf } from "./client/udf.ts";
export type { UdfHeader, UdfLanguage, UdfOptions } from "./client/udf.ts";
export { load, type LoadOptions } from "./client/load.ts";
export {
  checkUdf,
  type UdfCheckOptions,
  type UdfCheckResult,
  type UdfDiagnostic,
  UdfTypeError,
} from "./engine/check.ts";
export {
  type AccessTokenLike,
  run,
  runDetailed,
  type RunOptions,
  type RunTarget,
  type UdfJobLike,
} from "./client/run.ts";
export { type RunResponse, type Tile } from "./client/engine_types.ts";
export type {
  CallerContext,
  CallerQuota,
  HostCallContext,
  HostHandler,
  NestedRun,
} from "./client/engine_types.ts";
export type { HostMethod } from "./client/host_channel.ts";
export { submit, type SubmitArgs, type SubmitOptions } from "./client/submit.ts";
export {
  JobPool,
  type JobPoolOptions,
  type PoolProgress,
  type TaskStatus,
} from "./client/job_pool.ts";
export { cache, cacheCall, type CacheOptions } from "./client/cache.ts";
export { options } from "./client/options.ts";
export { download } from "./client/download.ts";
export { version } from "./client/version.ts";
export { filePath } from "./client/file_path.ts";
export { parseCacheMaxAge } from "./client/cache_max_age.ts";
export * from "./client/errors.ts";
export * as formats from "./client/formats/mod.ts";
export { Raster } from "./client/formats/mod.ts";
export * as tiles from "./client/tiles.ts";
export { LocalEngine } from "./engine/mod.ts";
export * as api from "./client/api/mod.ts";
export { getChunkFromTable, getChunksMetadata, ingest, ingestNongeospatial } from "./ingest/mod.ts";
export type {
  ChunkStats,
  GetChunkOptions,
  IngestCommonOptions,
  IngestInput,
  IngestJob,
  IngestKind,
  IngestNongeospatialOptions,
  IngestOptions,
  IngestResult,
  IngestRunner,
  PartitioningMethod,
  SplitMethod,
} from "./ingest/mod.ts";
export type {
  GeoJsonFeature,
  GeoJsonFeatureCollection,
  GeoJsonGeometry,
} from "./client/formats/geo.ts";
export type { HeaderJson, UdfJson } from "./client/udf_json.ts";
export type { JsonValue, MultiOutput, UdfResult } from "./client/formats/types.ts";
export type { RasterArray, RasterDtype } from "./client/formats/raster.ts";
export type { Colormap } from "./client/formats/png.ts";
export type { Bounds } from "./client/tiles.ts";
export type { CachedFunction } from "./client/cache.ts";
export type {
  FusedOptions,
  OptionName,
  OptionSource,
  OptionValues,
  Storage,
} from "./client/options.ts";
export type { DownloadOptions } from "./client/download.ts";
export type { FilePathOptions } from "./client/file_path.ts";
export type { SavedUdf, UdfAccessToken } from "./client/api/schemas.ts";
export type { JobConfig, UdfJob } from "./client/api/jobs.ts";
export type {
  LocalEngineStats,
  LocalRunRequest,
  LocalRunResult,
  UdfParameter,
  UdfSignature,
} from "./engine/mod.ts";
export type { AssetMode } from "./display/assets.ts";
export type { VegaLiteSpec } from "./display/chart.ts";
export type { TileLayerOptions } from "./display/map.ts";
export type { Displayable, MimeBundle } from "./display/mime.ts";
export { JUPYTER_DISPLAY } from "./display/mime.ts";
export type { DisplayOptions } from "./display/mod.ts";
export type { UdfDisplayOptions } from "./display/udf.ts";
export type { TableDisplayOptions } from "./display/table.ts";
export type { RasterDisplayOptions } from "./display/raster.ts";
export { chart, type ChartOptions } from "./display/chart.ts";
export { map, type MapOptions } from "./display/map.ts";
export { displayable, html } from "./display/mod.ts";
export * as core from "./client/api/core.ts";

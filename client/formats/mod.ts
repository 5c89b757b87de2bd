/**
 * Result formats shared by the engine, the server and the client: the {@linkcode UdfResult}
 * types, one encoder/decoder by content type ({@linkcode encodeResult} / {@linkcode decodeResult}),
 * Parquet/GeoParquet, Arrow IPC, GeoJSON, CSV, PNG, GeoTIFF (read), npy, zip multi-outputs,
 * Worker transfer and the cache envelope.
 *
 * Importing this module loads every codec (apache-arrow, parquet-wasm, fast-png, geotiff...).
 * Code on a cold-start path imports the file it needs instead: `transfer.ts` and `result.ts` load
 * codecs only when a value needs them.
 *
 * @example
 * ```ts
 * import { decodeResult, encodeResult, Raster } from "./mod.ts";
 * const encoded = await encodeResult(Raster.from(new Uint8Array(4), [2, 2], { bounds: [0, 0, 1, 1] }));
 * const back = await decodeResult(encoded.bytes, encoded.contentType, { metadata: encoded.metadata });
 * if (!(back instanceof Raster) || back.bounds?.[2] !== 1) throw new Error("unexpected");
 * ```
 *
 * @module
 */

export { FusedError, NotSupportedError, ValidationError } from "../errors.ts";
export * from "./errors.ts";
export * from "./types.ts";
export * from "./raster.ts";
export * from "./arrow.ts";
export * from "./parquet.ts";
export * from "./geo.ts";
export * from "./csv.ts";
export * from "./npy.ts";
export * from "./png.ts";
export * from "./tiff.ts";
export * from "./result.ts";
export * from "./records.ts";
export * from "./transfer.ts";
export * from "./envelope.ts";

/**
 * The JSON shape of a UDF as the Fused service stores it, as zod schemas (the one source of
 * truth for the types).
 *
 * @module
 */
import { z } from "zod";

/** An extra module the UDF can import by name (`import { f } from "utils"`). */
export const HeaderSchema = z.object({
  module_name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    message: "a header module name must be an identifier such as utils",
  }),
  source_code: z.string().nullish(),
  source_file: z.string().nullish(),
});

/** A header in its JSON form. */
export type HeaderJson = z.infer<typeof HeaderSchema>;

/** `type` of a TypeScript UDF (Fused's Python UDFs are `geopandas_v2`). */
export const TYPESCRIPT_UDF_TYPE = "deno_v1";
/** `type` of a Python UDF, as the Fused Python SDK writes it. */
export const PYTHON_UDF_TYPE = "geopandas_v2";

/** The Udf JSON of the Fused service; unknown fields are kept. */
export const UdfJsonSchema = z.looseObject({
  name: z.string().min(1),
  type: z.string().default(TYPESCRIPT_UDF_TYPE),
  code: z.string(),
  entrypoint: z.string().default("udf"),
  headers: z.array(HeaderSchema).default([]),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  parameters: z.record(z.string(), z.unknown()).default({}),
  cache_max_age: z.number().int().nonnegative().nullish(),
  instance_type: z.string().nullish(),
  disk_size_gb: z.number().positive().nullish(),
  region: z.string().nullish(),
  original_headers: z.string().nullish(),
});

/** The Udf JSON shape. */
export type UdfJson = z.infer<typeof UdfJsonSchema>;

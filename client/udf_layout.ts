/**
 * The on-disk layout of a UDF, shared by directories, zips and GitHub folders: `meta.json` (the
 * Fused `job_config` wrapper), the code file named in `source`, one file per header and a
 * README. The same layout reads Fused's Python UDFs (`<name>.py`), which are marked as Python.
 *
 * @module
 */
import { z } from "zod";
import { ValidationError } from "./errors.ts";
import { PYTHON_UDF_TYPE, TYPESCRIPT_UDF_TYPE, type UdfJson, UdfJsonSchema } from "./udf_json.ts";

/** A UDF folder as file name → text. */
export type UdfFiles = Record<string, string>;

const MetaUdfSchema = z.looseObject({
  name: z.string().optional(),
  source: z.string().optional(),
  code: z.string().optional(),
  headers: z.array(z.looseObject({
    module_name: z.string(),
    source_file: z.string().nullish(),
    source_code: z.string().nullish(),
  })).optional(),
});

const MetaSchema = z.object({
  job_config: z.looseObject({
    name: z.string().nullish(),
    steps: z.array(z.looseObject({ type: z.string().optional(), udf: MetaUdfSchema })).min(1),
  }),
});

/** Sorts object keys recursively, as Fused writes meta.json (sorted keys, indent 4). */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function extensionOf(json: UdfJson): string {
  return json.type === PYTHON_UDF_TYPE ? "py" : "ts";
}

function readme(json: UdfJson): string {
  const description = typeof json.metadata?.["fused:description"] === "string"
    ? json.metadata["fused:description"] as string
    : "A Fused UDF.";
  const params = Object.entries(json.parameters ?? {});
  const lines = [`# ${json.name}`, "", description, ""];
  if (params.length) {
    lines.push("## Default parameters", "");
    for (const [key, value] of params) lines.push(`- \`${key}\`: \`${JSON.stringify(value)}\``);
    lines.push("");
  }
  lines.push(
    "## Run",
    "",
    "```ts",
    'import * as fused from "fused";',
    `const udf = await fused.load("./${json.name}");`,
    "const result = await fused.run(udf);",
    "```",
    "",
  );
  return lines.join("\n");
}

/** The files of a UDF folder: `meta.json`, the code, the headers and a README. */
export function udfToFiles(json: UdfJson): UdfFiles {
  const ext = extensionOf(json);
  const { code, headers, ...rest } = json;
  const source = `${json.name}.${ext}`;
  const files: UdfFiles = { [source]: code };
  const metaHeaders = headers.map((h) => {
    const file = `${h.module_name}.${ext}`;
    files[file] = h.source_code ?? "";
    return { module_name: h.module_name, source_file: file };
  });
  const meta = {
    job_config: {
      name: json.name,
      steps: [{ type: "udf", name: json.name, udf: { ...rest, source, headers: metaHeaders } }],
      metadata: null,
    },
  };
  files["meta.json"] = JSON.stringify(sortKeys(meta), null, 4) + "\n";
  files["README.md"] = readme(json);
  return files;
}

/**
 * Reads a UDF from its folder files. `read(name)` returns a file's text or undefined when the
 * file is absent. Works for our layout and for Fused's Python layout (marked as Python).
 */
export async function udfFromFiles(
  read: (name: string) => Promise<string | undefined>,
  where: string,
): Promise<UdfJson> {
  const metaText = await read("meta.json");
  if (metaText === undefined) {
    throw new ValidationError(
      `No meta.json in ${where}: a UDF folder holds meta.json and the code`,
    );
  }
  let metaJson: unknown;
  try {
    metaJson = JSON.parse(metaText);
  } catch (err) {
    throw new ValidationError(`Cannot parse meta.json in ${where}: ${(err as Error).message}`);
  }
  const meta = MetaSchema.safeParse(metaJson);
  if (!meta.success) {
    throw new ValidationError(
      `meta.json in ${where} is not a UDF folder's meta.json (expected job_config.steps[0].udf)`,
    );
  }
  const step = meta.data.job_config.steps[0].udf;
  const { source, headers = [], ...rest } = step;
  let code = step.code;
  if (code === undefined) {
    if (!source) {
      throw new ValidationError(`meta.json in ${where} names no source file and no code`);
    }
    code = await read(source);
    if (code === undefined) {
      throw new ValidationError(`The source file ${source} named in ${where}/meta.json is missing`);
    }
  }
  const python = (source ?? "").endsWith(".py") || rest.type === PYTHON_UDF_TYPE ||
    (rest.type === undefined && /^\s*@(fused\.)?udf\b/m.test(code));
  const fullHeaders = [];
  for (const h of headers) {
    let sourceCode = h.source_code ?? undefined;
    if (sourceCode === undefined && h.source_file) sourceCode = await read(h.source_file);
    if (sourceCode === undefined) {
      throw new ValidationError(
        `The header ${h.module_name} named in ${where}/meta.json has no source file or code`,
      );
    }
    fullHeaders.push({
      module_name: h.module_name,
      source_code: sourceCode,
      source_file: h.source_file,
    });
  }
  const name = rest.name ?? meta.data.job_config.name ?? source?.replace(/\.\w+$/, "");
  const parsed = UdfJsonSchema.safeParse({
    ...rest,
    name,
    code,
    type: python ? PYTHON_UDF_TYPE : (rest.type ?? TYPESCRIPT_UDF_TYPE),
    // Python UDFs name their entrypoint function; ours default to the default export.
    entrypoint: rest.entrypoint ?? (python ? "udf" : "default"),
    headers: fullHeaders,
  });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ValidationError(`The UDF in ${where} is invalid: ${issues}`);
  }
  return parsed.data;
}

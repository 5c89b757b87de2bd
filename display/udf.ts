/**
 * UDFs as MIME bundles: name, parameters, where the UDF is saved and shared, and its code with
 * line numbers (so an error's "line 12" can be found at a glance).
 *
 * @module
 */

import type { Udf } from "../client/udf.ts";
import { escapeHtml, type MimeBundle } from "./mime.ts";

/** Where a UDF lives, when the caller knows (the magics and `fused.api` do). */
export interface UdfDisplayOptions {
  /** Where it is saved: a folder, a zip, or a registry name/id. */
  savedAt?: string;
  /** Its share URL (token URL), when shared. */
  shareUrl?: string;
  /** Lines of code shown before the rest is cut; 200 by default. */
  maxLines?: number;
  /**
   * The parameters the UDF's code declares (the engine's `describe`): shown with their types
   * and defaults; without it only the UDF's default parameters are known.
   */
  signature?: { name: string; default?: unknown; type?: string }[];
}

/** Parameter rows: declared ones with their defaults (the UDF's own defaults win), else those. */
function parameterRows(udf: Udf, options: UdfDisplayOptions): [string, unknown, string][] {
  const defaults = udf.parameters ?? {};
  if (!options.signature) return Object.entries(defaults).map(([k, v]) => [k, v, ""]);
  const rows: [string, unknown, string][] = options.signature.map((p) => [
    p.name,
    Object.hasOwn(defaults, p.name) ? defaults[p.name] : p.default,
    p.type ?? "",
  ]);
  for (const [k, v] of Object.entries(defaults)) {
    if (!options.signature.some((p) => p.name === k)) rows.push([k, v, ""]);
  }
  return rows;
}

/** True for a `Udf` (duck-typed: name, code, entrypoint and parameters). */
export function isUdf(value: unknown): value is Udf {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === "string" && typeof v.code === "string" &&
    typeof v.entrypoint === "string" && typeof v.parameters === "object" &&
    typeof v.toJSON === "function";
}

/** The places a UDF is saved or shared, from the options or its Fused metadata. */
function locations(udf: Udf, options: UdfDisplayOptions): [string, string][] {
  const meta = udf.metadata ?? {};
  const out: [string, string][] = [];
  const saved = options.savedAt ?? (meta["fused:id"] ? `Fused id ${meta["fused:id"]}` : undefined);
  if (saved) out.push(["Saved", saved]);
  if (meta["fused:gitUrl"]) out.push(["Git", String(meta["fused:gitUrl"])]);
  if (options.shareUrl) out.push(["Shared", options.shareUrl]);
  return out;
}

/**
 * Builds the MIME bundle of a UDF.
 *
 * @example
 * ```ts
 * import { udf } from "../client/udf.ts";
 * import { udfToMimeBundle } from "./udf.ts";
 * const b = udfToMimeBundle(udf(`export default function udf({ n = 1 }) { return n }`, { name: "one" }));
 * if (!String(b.data["text/plain"]).startsWith('Udf "one"')) throw new Error("unexpected");
 * ```
 */
export function udfToMimeBundle(udf: Udf, options: UdfDisplayOptions = {}): MimeBundle {
  const maxLines = options.maxLines ?? 200;
  const lines = udf.code.replace(/\n$/, "").split("\n");
  const shown = lines.slice(0, maxLines);
  const width = String(shown.length).length;
  const params = parameterRows(udf, options);
  const where = locations(udf, options);
  const description = udf.metadata?.["fused:description"];
  const language = udf.language ?? "typescript";

  const plain = [
    `Udf "${udf.name}" (${language}, entrypoint ${udf.entrypoint})`,
    ...(description ? [`  ${String(description)}`] : []),
    `  parameters: ${
      params.length
        ? params.map(([k, v]) => (v === undefined ? k : `${k}=${JSON.stringify(v)}`)).join(", ")
        : "(none)"
    }`,
    ...where.map(([k, v]) => `  ${k.toLowerCase()}: ${v}`),
    ...shown.map((l, i) => `${String(i + 1).padStart(width + 2)}  ${l}`),
    ...(lines.length > shown.length ? [`  … ${lines.length - shown.length} more lines`] : []),
  ].join("\n");

  const paramRows = params.map(([k, v, type]) =>
    `<tr><td><code>${escapeHtml(k)}</code></td><td>${escapeHtml(type)}</td><td><code>${
      v === undefined ? "" : escapeHtml(JSON.stringify(v) ?? "")
    }</code></td></tr>`
  ).join("");
  const whereRows = where.map(([k, v]) =>
    `<div><b>${escapeHtml(k)}:</b> ${
      /^https?:\/\//.test(v)
        ? `<a href="${escapeHtml(v)}" target="_blank">${escapeHtml(v)}</a>`
        : `<code>${escapeHtml(v)}</code>`
    }</div>`
  ).join("");
  const code = shown.map((l, i) =>
    `<span class="ln">${String(i + 1).padStart(width)}</span>  ${escapeHtml(l)}`
  ).join("\n");
  const html = `<div class="fused-udf">
<style>.fused-udf{font-size:13px}.fused-udf pre{background:#f7f7f7;padding:6px;overflow:auto;max-height:30em;margin:4px 0}.fused-udf .ln{color:#999;user-select:none}.fused-udf table{border-collapse:collapse}.fused-udf td{padding:1px 8px 1px 0}</style>
<div><b>Udf</b> <code>${escapeHtml(udf.name)}</code> <span style="color:#888">${
    escapeHtml(language)
  }, entrypoint ${escapeHtml(udf.entrypoint)}</span></div>
${description ? `<div>${escapeHtml(String(description))}</div>` : ""}
${
    params.length
      ? `<table><tr><th align="left">parameter</th><th align="left">type</th><th align="left">default</th></tr>${paramRows}</table>`
      : "<div>No parameters</div>"
  }
${whereRows}
<pre>${code}${
    lines.length > shown.length ? `\n… ${lines.length - shown.length} more lines` : ""
  }</pre>
</div>`;
  return { data: { "text/plain": plain, "text/html": html } };
}

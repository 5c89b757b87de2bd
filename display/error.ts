/**
 * Errors of UDF runs as MIME bundles: the message, the UDF line that failed and the logs the UDF
 * wrote before it failed, so a user sees at once what broke and where.
 *
 * @module
 */

import type { UdfRuntimeError } from "../client/errors.ts";
import { escapeHtml, type MimeBundle } from "./mime.ts";

/** Options of {@linkcode udfErrorToMimeBundle}. */
export interface UdfErrorDisplayOptions {
  /** Characters of each log stream shown (the end is kept, where the failure is); 20,000 by default. */
  maxLogChars?: number;
}

/** True for a `UdfRuntimeError` (duck-typed, as errors cross Worker realms). */
export function isUdfRuntimeError(value: unknown): value is UdfRuntimeError {
  if (!(value instanceof Error)) return false;
  const v = value as unknown as Record<string, unknown>;
  return value.name === "UdfRuntimeError" && typeof v.udfName === "string" &&
    typeof v.logs === "object" && v.logs !== null;
}

function tail(text: string, max: number): string {
  return text.length > max ? `… ${text.length - max} characters cut …\n` + text.slice(-max) : text;
}

/**
 * Builds the MIME bundle of a failed UDF run.
 *
 * @example
 * ```ts
 * import { UdfRuntimeError } from "../client/errors.ts";
 * import { udfErrorToMimeBundle } from "./error.ts";
 * const e = new UdfRuntimeError("f", { message: "boom", exceptionClass: "Error", lineno: 3, logs: { stdout: "", stderr: "" } });
 * if (!String(udfErrorToMimeBundle(e).data["text/plain"]).includes("line 3")) throw new Error("unexpected");
 * ```
 */
export function udfErrorToMimeBundle(
  error: UdfRuntimeError,
  options: UdfErrorDisplayOptions = {},
): MimeBundle {
  const max = options.maxLogChars ?? 20_000;
  const stdout = tail(error.logs?.stdout ?? "", max);
  const stderr = tail(error.logs?.stderr ?? "", max);
  const where = error.lineno
    ? `line ${error.lineno}${error.line ? `: ${error.line.trim()}` : ""}`
    : "";
  const plain = [
    error.message,
    ...(stdout ? ["--- stdout ---", stdout.trimEnd()] : []),
    ...(stderr ? ["--- stderr ---", stderr.trimEnd()] : []),
  ].join("\n");
  const logBlock = (label: string, text: string): string =>
    text ? `<div class="lbl">${label}</div><pre>${escapeHtml(text.trimEnd())}</pre>` : "";
  const html = `<div class="fused-error">
<style>.fused-error{border-left:4px solid #d33;padding:4px 8px;background:#fff5f5;font-size:13px}.fused-error pre{margin:2px 0;max-height:20em;overflow:auto;background:#fff;padding:4px}.fused-error .lbl{color:#888;font-size:11px;margin-top:4px}</style>
<div><b>UDF <code>${escapeHtml(error.udfName)}</code> failed</b>: <code>${
    escapeHtml(error.exceptionClass)
  }</code></div>
${where ? `<div>at <b>${escapeHtml(where)}</b></div>` : ""}
<pre>${escapeHtml(error.message)}</pre>
${logBlock("stdout", stdout)}${logBlock("stderr", stderr)}
</div>`;
  return { data: { "text/plain": plain, "text/html": html } };
}

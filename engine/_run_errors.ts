/**
 * A UDF's failure, as reported by its process, turned into the error its caller gets: a
 * ValidationError for bad parameters, else a UdfRuntimeError with the UDF's line and frames, and
 * a hint that names the fix when the sandbox refused something or an npm import failed.
 *
 * @module
 */
import { NotSupportedError, UdfRuntimeError, ValidationError } from "../client/errors.ts";
import type { UdfLogs } from "../client/errors.ts";
import type { Udf } from "../client/udf.ts";
import type { FailureMessage } from "./_protocol.ts";

/** The error a run of `udf` that failed with `failure` rejects with. */
export function runError(udf: Udf, failure: FailureMessage, logs: UdfLogs): Error {
  if (failure.kind === "validation") return new ValidationError(failure.message);
  const line = failure.lineno ? udf.code.split("\n")[failure.lineno - 1] : undefined;
  const err = new UdfRuntimeError(udf.name, {
    message: failureMessage(failure),
    exceptionClass: String(failure.exceptionClass),
    lineno: failure.lineno,
    line,
    logs,
  });
  // The UDF's frames (file names relative to its folder) under this error's own message.
  const frames = String(failure.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l));
  if (frames.length) err.stack = `${err.name}: ${err.message}\n${frames.join("\n")}`;
  return err;
}

/** The failure's message, with the hint that fits it: the sandbox's walls, or npm imports. */
function failureMessage(failure: FailureMessage): string {
  let message = failure.message;
  if (failure.exceptionClass === "NotCapable" || failure.exceptionClass === "PermissionDenied") {
    message +=
      " (a UDF runs in a sandbox: no network, environment, or files outside its own folders unless the run allows them: allowNet, env, allowRead, allowWrite; fused.filePath() is its data folder)";
  }
  if (/No space left on device/.test(message)) {
    message +=
      " (under a disk quota a UDF's temp folder is memory, at most its memory limit or its user's quota: write large files under fused.filePath(), which counts against the quota)";
  }
  if (/Could not find a matching package|not a dependency|Relative import path/.test(message)) {
    // Deno's own advice (deno add, deno install, deno.json) is for projects, not UDFs.
    message = message.replace(/ Ensure you have all your JSR and npm [^]*?deno\.json file\./, "")
      .replace(/\n\s*hint: If you want to use the npm package[^\n]*/, "");
    message +=
      ` (a UDF imports its headers and the SDK's packages by name, and any other npm package by an npm: specifier written in its code, such as "npm:h3-js@4", which its host installs before the run; a computed import() is not seen)`;
  }
  return message;
}

/** Whether code is a JSON document (an object or array), as a chart node of Fused's catalog is. */
function isJsonDocument(code: string): boolean {
  // Asked every run: code (most UDFs) is told by its first character, without copying it.
  if (!/^\s*[[{]/.test(code)) return false;
  try {
    JSON.parse(code.trim());
    return true;
  } catch {
    return false;
  }
}

/**
 * Why `udf` cannot run, said truthfully, or undefined when it can: a JSON node of Fused's catalog
 * (a chart spec, saved with a Python UDF's type) is not code at all. (Python UDFs run: engine/python.)
 */
export function unrunnableReason(udf: Udf): NotSupportedError | undefined {
  if (!isJsonDocument(udf.code)) return undefined;
  return new NotSupportedError(
    `UDF "${udf.name}" is a JSON document (a chart or data node of Fused's catalog), not code: there is nothing to run; read it with JSON.parse(udf.code), or display a Vega-Lite spec as a chart`,
  );
}

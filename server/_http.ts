/**
 * HTTP plumbing shared by the routes: the `HttpError` every handler throws, the JSON error body
 * `{detail}`, and zod validation of bodies and query strings at the edge.
 *
 * @module
 */
import type { Context } from "hono";
import { homedir, tmpdir } from "node:os";
import { basename, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { User } from "./registry/mod.ts";

/** Hono environment of the app: the authenticated caller, when a route requires one. */
export interface AppEnv {
  /** Values set by middleware. */
  Variables: {
    /** The caller, set by the auth middleware. */
    user: User;
  };
}

/** An error with an HTTP status; its message becomes the `detail` of the JSON body. */
export class HttpError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** Extra response headers (e.g. `x-fused-metadata`). */
  readonly headers: Record<string, string>;

  /** Creates an error answered with `status` and `{detail: message}`. */
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }
}

/** Formats zod issues as one sentence naming each field that was wrong. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

/** Validates a value with a schema or throws a 400 naming what was wrong in `where`. */
export function validate<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: string,
): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new HttpError(400, `Invalid ${where}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** Reads and validates the JSON body of a request; malformed JSON is a 400. */
export async function readJson<T extends z.ZodType>(
  c: Context<AppEnv>,
  schema: T,
): Promise<z.infer<T>> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = text.trim() === "" ? {} : JSON.parse(text);
  } catch (err) {
    throw new HttpError(
      400,
      `Malformed JSON body: ${
        (err as Error).message
      }; send a JSON object with Content-Type: application/json`,
    );
  }
  return validate(schema, value, "request body");
}

/** Validates the query string of a request. */
export function readQuery<T extends z.ZodType>(c: Context<AppEnv>, schema: T): z.infer<T> {
  return validate(schema, c.req.query(), "query string");
}

/**
 * Describes any thrown value in words, never throwing itself: an Error as `Name: message`, a
 * string as it is, an object by its JSON (`object {"code":7}`), an object without a prototype as
 * such, other values by their text.
 *
 * @example
 * ```ts
 * import { describeThrown } from "./_http.ts";
 * describeThrown({ code: 7 }); // 'object {"code":7}'
 * ```
 */
export function describeThrown(value: unknown): string {
  try {
    if (value instanceof Error) {
      const name = typeof value.name === "string" && value.name ? value.name : "Error";
      return value.message ? `${name}: ${value.message}` : name;
    }
    switch (typeof value) {
      case "string":
        return value === "" ? "an empty string" : value;
      case "symbol":
        return value.toString();
      case "function":
        return `function ${value.name || "(anonymous)"}`;
      case "object":
        return value === null ? "null" : describeObject(value);
      default:
        return String(value);
    }
  } catch {
    return "a value that cannot be described (its own conversions throw)";
  }
}

function describeObject(value: object): string {
  const proto = Object.getPrototypeOf(value);
  const kind = proto === null
    ? "object without a prototype"
    : proto === Object.prototype
    ? "object"
    : `${String(proto.constructor?.name || "object")} object`;
  const message = (value as { message?: unknown }).message;
  if (typeof message === "string" && message !== "") return `${kind}: ${message}`;
  let json: string | undefined;
  try {
    json = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  } catch {
    json = undefined; // a cycle, or a throwing toJSON
  }
  if (json === undefined) return kind;
  return `${kind} ${json.length > 500 ? `${json.slice(0, 500)}...` : json}`;
}

/** Folders of this machine that error messages must not reveal (see `redactPaths`). */
const serverPaths = new Set<string>();

let defaultsAdded = false;

function addDefaultPaths(): void {
  if (defaultsAdded) return;
  defaultsAdded = true;
  const candidates: (() => string)[] = [
    () => Deno.cwd(),
    () => homedir(),
    () => tmpdir(),
    () => dirname(Deno.execPath()),
    () => fileURLToPath(new URL("..", import.meta.url)),
  ];
  for (const candidate of candidates) {
    try {
      addServerPath(candidate());
    } catch {
      // No permission to read that one here: it cannot leak from this process either.
    }
  }
}

let redaction: RegExp | null | undefined;

/** Adds a folder (the data folder, ...) whose paths `redactPaths` hides. */
export function addServerPath(path: string): void {
  addDefaultPaths();
  const clean = path.replace(/\/+$/, "");
  if (clean.length < 2) return; // "/" would match every path-like text
  serverPaths.add(clean);
  redaction = undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Hides this machine's folders in a message: a path under a known server folder (the data
 * folder, the working directory, home, temp, the project) becomes its last segment, so
 * `/srv/data/modules/ab/udf.ts:3:5` reads `udf.ts:3:5`.
 */
export function redactPaths(text: string): string {
  if (redaction === undefined) {
    addDefaultPaths();
    const roots = [...serverPaths].sort((a, b) => b.length - a.length).map(escapeRegExp);
    redaction = roots.length
      ? new RegExp(`(?:file://)?(?:${roots.join("|")})(?![\\w.-])(/[^\\s'"\`()<>,;]*)?`, "g")
      : null;
  }
  if (!redaction) return text;
  return text.replace(redaction, (_m, rest: string | undefined) => {
    const tail = rest ? basename(rest.replace(/:\d+(?::\d+)?$/, "")) : "";
    const position = rest?.match(/:\d+(?::\d+)?$/)?.[0] ?? "";
    return tail ? `${tail}${position}` : "<server folder>";
  });
}

/** A JSON error response `{detail}` with the given status and headers; server paths hidden. */
export function errorResponse(
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ detail: redactPaths(detail) }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A query-string integer (`?limit=10`) with bounds. */
export function queryInt(min: number, max: number, fallback: number): z.ZodType<number> {
  return z.preprocess(
    (v) => (v === undefined || v === "" ? fallback : Number(v)),
    z.number().int().min(min).max(max),
  ) as unknown as z.ZodType<number>;
}

/** A query-string boolean (`true`/`false`/`1`/`0`). */
export function queryBool(fallback: boolean): z.ZodType<boolean> {
  return z.preprocess((v) => {
    if (v === undefined || v === "") return fallback;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    return v;
  }, z.boolean()) as unknown as z.ZodType<boolean>;
}

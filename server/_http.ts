/**
 * HTTP plumbing shared by the routes: the `HttpError` every handler throws, the JSON error body
 * `{detail}`, and zod validation of bodies and query strings at the edge.
 *
 * @module
 */
import type { Context } from "hono";
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

/** A JSON error response `{detail}` with the given status and headers. */
export function errorResponse(
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ detail }), {
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

/**
 * The `fd://` file API (fused-wire §8): list, list-details, get (streamed), upload (streamed to
 * a temp file, then renamed), delete, and HMAC-signed URLs served by a public route.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { ValidationError } from "../../client/errors.ts";
import { type AppEnv, HttpError, readQuery } from "../_http.ts";
import { MAX_SIGNED_URL_SECONDS, signedUrl, signPath } from "../signing.ts";
import { fdUrl, fileDetails, parseFdFilePath, parseFdPath } from "../storage.ts";
import { apiBase, readSignedQuery, type RouteDeps } from "./_common.ts";

const PathQuery = z.object({
  path: z.string({ message: "the path query parameter is required (fd://folder/file)" }).min(1).max(
    4096,
  ),
});

const SignQuery = PathQuery.extend({
  expiration: z.preprocess(
    (v) => (v === undefined || v === "" ? 3600 : Number(v)),
    z.number().int().min(1).max(MAX_SIGNED_URL_SECONDS),
  ),
});

const DeleteQuery = PathQuery.extend({
  max_depth: z.string().optional(),
  max_deletion_depth: z.string().optional(),
});

/** Most entries `sign_prefix` signs in one answer. */
const MAX_SIGNED_PREFIX = 10_000;

function key(path: string, parse = parseFdPath): string {
  try {
    return parse(path);
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, err.message);
    throw err;
  }
}

function parseDepth(value: string | undefined): number | null {
  if (value === undefined || value === "") return 3;
  if (value === "unlimited") return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new HttpError(
      400,
      `Invalid max_depth "${value}": use a whole number 1 or more, or "unlimited"`,
    );
  }
  return n;
}

/**
 * Streams a file with its length; a `Range: bytes=START-[END]` header gets only those bytes
 * (206), read from the store alone. Other range forms are answered with the whole file, as HTTP
 * allows.
 */
async function sendFile(deps: RouteDeps, fileKey: string, range?: string): Promise<Response> {
  const m = /^bytes=(\d+)-(\d*)$/.exec(range?.trim() ?? "");
  const asked = m ? { start: Number(m[1]), end: m[2] === "" ? undefined : Number(m[2]) } : null;
  const { body, size, range: served } = await deps.storage.read(
    fileKey,
    asked ? { range: asked } : {},
  );
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "content-length": String(size),
    "accept-ranges": "bytes",
    "content-disposition": `attachment; filename="${
      encodeURIComponent(fileKey.split("/").at(-1) ?? "file")
    }"`,
  };
  if (!served) return new Response(body, { headers });
  headers["content-range"] = `bytes ${served.start}-${served.end}/${served.total}`;
  return new Response(body, { status: 206, headers });
}

/** The authenticated `/files/...` routes. */
export function fileRoutes(deps: RouteDeps & { publicUrl?: string }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { storage } = deps;

  app.get("/files/list", async (c) => {
    const folder = key(readQuery(c, PathQuery).path);
    return c.json((await storage.list(folder)).map(fdUrl));
  });
  app.get("/files/list-details", async (c) => {
    const folder = key(readQuery(c, PathQuery).path);
    return c.json((await storage.list(folder)).map(fileDetails));
  });
  app.get(
    "/files/get",
    (c) => sendFile(deps, key(readQuery(c, PathQuery).path), c.req.header("range")),
  );

  async function upload(c: Context<AppEnv>): Promise<Response> {
    const fileKey = key(readQuery(c, PathQuery).path, parseFdFilePath);
    const length = Number(c.req.header("content-length") ?? "0");
    if (length > deps.maxUploadBytes) {
      throw new HttpError(
        413,
        `The upload (${length} bytes) is larger than the limit of ${deps.maxUploadBytes} bytes`,
      );
    }
    const body = c.req.raw.body ?? new Blob([]).stream();
    const info = await deps.quotas.write(c.get("user").id, fileKey, body, {
      length: c.req.header("content-length") === undefined ? undefined : length,
      maxBytes: deps.maxUploadBytes,
      what: `Uploading fd://${fileKey}`,
    });
    return c.json(fileDetails(info), 201);
  }
  app.post("/files/upload", upload);
  app.put("/files/upload", upload);

  app.delete("/files/delete", async (c) => {
    const q = readQuery(c, DeleteQuery);
    const maxDepth = parseDepth(q.max_depth ?? q.max_deletion_depth);
    return c.json(await deps.quotas.delete(key(q.path), { maxDepth }));
  });

  app.get("/files/sign", async (c) => {
    const q = readQuery(c, SignQuery);
    const fileKey = key(q.path);
    const info = await storage.stat(fileKey);
    if (!info || info.isDirectory) {
      throw new HttpError(
        404,
        `No file at ${q.path}: sign a file, or use /files/sign_prefix for a folder`,
      );
    }
    // A store with its own signed URLs (S3) serves the file itself.
    if (storage.signUrl) return c.json(await storage.signUrl(fileKey, q.expiration));
    const sig = signPath(deps.signingSecret, fdUrl(info), { seconds: q.expiration });
    return c.json(signedUrl(apiBase(c, deps.publicUrl), sig));
  });

  app.get("/files/sign_prefix", async (c) => {
    const q = readQuery(c, SignQuery);
    const base = apiBase(c, deps.publicUrl);
    const out: Record<string, string> = {};
    let count = 0;
    for await (const info of storage.walk(key(q.path))) {
      if (++count > MAX_SIGNED_PREFIX) {
        throw new HttpError(
          400,
          `${q.path} holds more than ${MAX_SIGNED_PREFIX} files: sign a smaller folder`,
        );
      }
      const url = fdUrl(info);
      out[url] = storage.signUrl
        ? await storage.signUrl(info.key, q.expiration)
        : signedUrl(base, signPath(deps.signingSecret, url, { seconds: q.expiration }));
    }
    return c.json(out);
  });
  return app;
}

/** The public `GET /files/signed` route that serves signed URLs. */
export function signedFileRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/files/signed", async (c) => {
    const sig = readSignedQuery(c, deps.signingSecret, "ask for a new one with /files/sign");
    return await sendFile(deps, key(sig.path), c.req.header("range"));
  });
  return app;
}

/**
 * Test helpers of the server folder: a real service (real engine, real Workers) on 127.0.0.1,
 * port 0, in a temporary data folder, started and stopped inside each test.
 *
 * @module
 */
import { options } from "../client/options.ts";
import { LocalEngine } from "../engine/mod.ts";
import { type RunningServer, type ServeOptions, startServer } from "./serve.ts";

/** A running test service and shortcuts to call it. */
export interface TestServer extends RunningServer {
  /** Headers with the admin's bearer token and a JSON content type. */
  auth: Record<string, string>;
  /** `fetch` of a path under the API base (`/user/self`), with the admin's token by default. */
  api(
    path: string,
    init?: RequestInit & { json?: unknown; token?: string | null },
  ): Promise<Response>;
}

/** Starts a service, runs `fn`, and always stops everything and removes the folder. */
export async function withServer(
  fn: (server: TestServer) => Promise<void>,
  serveOptions: Partial<ServeOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fused-server-test-" });
  options.update({ cacheDirectory: `${dir}/cache` });
  const engine = new LocalEngine({ dataDir: `${dir}/engine`, maxWorkers: 4 });
  const server = await startServer({
    port: 0,
    dataDir: `${dir}/server`,
    engine,
    runTimeoutMs: 5000,
    quiet: true,
    ...serveOptions,
  });
  const auth = { authorization: `Bearer ${server.adminToken}`, "content-type": "application/json" };
  const api: TestServer["api"] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    const token = init.token === undefined ? server.adminToken : init.token;
    if (token !== null && !headers.has("authorization")) {
      headers.set("authorization", `Bearer ${token}`);
    }
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers.set("content-type", "application/json");
    }
    return fetch(`${server.baseUrl}${path}`, { ...init, headers, body });
  };
  try {
    await fn({ ...server, auth, api });
  } finally {
    await server.close();
    await engine.close();
    options.reset();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A Udf JSON object for TypeScript source with a default export. */
export function udfJson(
  name: string,
  code: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name, type: "deno_v1", code, entrypoint: "default", ...extra };
}

/** Saves a UDF through the API and returns the saved record's JSON. */
export async function saveUdf(
  server: TestServer,
  name: string,
  code: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; slug: string; udf_body: string }> {
  const res = await server.api("/udf/new", {
    method: "POST",
    json: { slug: name, udf_body: JSON.stringify(udfJson(name, code)), ...extra },
  });
  if (res.status !== 201) {
    throw new Error(`Saving ${name} failed: ${res.status} ${await res.text()}`);
  }
  return await res.json();
}

/** Creates a share token for a saved UDF and returns its value. */
export async function shareUdf(
  server: TestServer,
  udfId: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await server.api("/udf-access-token/new", {
    method: "POST",
    json: { udf_id: udfId, ...extra },
  });
  if (res.status !== 201) {
    throw new Error(`Sharing ${udfId} failed: ${res.status} ${await res.text()}`);
  }
  return (await res.json()).token;
}

/** The body of a code-included run request. */
export function runBody(
  udf: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { step_config: JSON.stringify({ type: "udf", udf }), ...extra };
}

/** Parses the `x-fused-metadata` header of a response. */
export function metadataOf(res: Response): Record<string, unknown> {
  const header = res.headers.get("x-fused-metadata");
  if (!header) throw new Error(`No x-fused-metadata header (status ${res.status})`);
  return JSON.parse(header);
}

/**
 * Helpers of the client/api tests: a throwaway HTTP server on 127.0.0.1 and a scope that moves
 * the credentials home and options and puts them back.
 *
 * @module
 */
import { join } from "node:path";
import { options } from "../options.ts";
import type { OptionValues } from "../options.ts";

/** A running test server. */
export interface TestServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** Requests seen so far. */
  requests: Request[];
  /** Stops the server. */
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 (random port) answering with `handler`. */
export function serve(
  handler: (request: Request, index: number) => Response | Promise<Response>,
): TestServer {
  const requests: Request[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      requests.push(request.clone());
      return handler(request, requests.length - 1);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/**
 * Runs `fn` with FUSED_HOME in a fresh temporary folder, FUSED_AUTH_TOKEN unset and the given
 * options set, then restores all of them.
 */
export async function withScope<T>(
  values: Partial<OptionValues>,
  fn: (home: string) => Promise<T>,
): Promise<T> {
  const home = await Deno.makeTempDir({ prefix: "fused_api_test_" });
  const saved = {
    home: Deno.env.get("FUSED_HOME"),
    token: Deno.env.get("FUSED_AUTH_TOKEN"),
    type: Deno.env.get("FUSED_AUTH_TOKEN_TYPE"),
  };
  const before = options.toJSON();
  Deno.env.set("FUSED_HOME", home);
  Deno.env.delete("FUSED_AUTH_TOKEN");
  Deno.env.delete("FUSED_AUTH_TOKEN_TYPE");
  options.update(values);
  try {
    return await fn(home);
  } finally {
    options.update(before);
    for (
      const [name, value] of [
        ["FUSED_HOME", saved.home],
        ["FUSED_AUTH_TOKEN", saved.token],
        ["FUSED_AUTH_TOKEN_TYPE", saved.type],
      ] as const
    ) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    await Deno.remove(home, { recursive: true });
  }
}

/** A service started for a test, with the admin logged in through FUSED_AUTH_TOKEN. */
export interface ServiceScope {
  /** API base URL (`http://127.0.0.1:PORT/v1`). */
  baseUrl: string;
  /** Root URL (share-token URLs). */
  url: string;
  /** The admin's token. */
  adminToken: string;
  /** The service's data folder. */
  dataDir: string;
  /** The temporary FUSED_HOME. */
  home: string;
}

/** Options of `withService`. */
export interface ServiceOptions {
  /** Longest run on the service (ms). */
  runTimeoutMs?: number;
  /** How long `/start` waits before answering 202 (ms). */
  startWaitMs?: number;
  /** Options to set for the test. */
  options?: Partial<OptionValues>;
  /** Log in as the admin through FUSED_AUTH_TOKEN (default true). */
  login?: boolean;
}

/**
 * Starts the real service (server/mod.ts) on 127.0.0.1 with a temporary data folder, points
 * `fused.options.baseUrl` at it, runs `fn`, then stops it and cleans up.
 */
export async function withService<T>(
  opts: ServiceOptions,
  fn: (service: ServiceScope) => Promise<T>,
): Promise<T> {
  const { startServer } = await import("../../server/mod.ts");
  const dataDir = await Deno.makeTempDir({ prefix: "fused_api_server_" });
  const server = await startServer({
    port: 0,
    hostname: "127.0.0.1",
    dataDir,
    quiet: true,
    runTimeoutMs: opts.runTimeoutMs,
    startWaitMs: opts.startWaitMs,
  });
  try {
    return await withScope({
      baseUrl: server.baseUrl,
      // The service runs in this process: keep its run cache out of the shared temp folder.
      cacheDirectory: join(dataDir, "cache"),
      realtimeClientId: null,
      requestRetryBaseDelay: 0.01,
      ...opts.options,
    }, async (home) => {
      if (opts.login ?? true) Deno.env.set("FUSED_AUTH_TOKEN", server.adminToken);
      return await fn({
        baseUrl: server.baseUrl,
        url: server.url,
        adminToken: server.adminToken,
        dataDir,
        home,
      });
    });
  } finally {
    await server.close();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

/** Creates a user on the service (as the admin) and returns its token. */
export async function createUser(
  service: ServiceScope,
  user: { email: string; handle?: string; team?: string },
): Promise<string> {
  const headers = {
    authorization: `Bearer ${service.adminToken}`,
    "content-type": "application/json",
  };
  const created = await fetch(`${service.baseUrl}/admin/users`, {
    method: "POST",
    headers,
    body: JSON.stringify(user),
  });
  if (created.status !== 201) {
    throw new Error(`createUser: ${created.status} ${await created.text()}`);
  }
  await created.body?.cancel();
  const issued = await fetch(`${service.baseUrl}/admin/tokens`, {
    method: "POST",
    headers,
    body: JSON.stringify({ email: user.email }),
  });
  if (issued.status !== 201) {
    throw new Error(`createUser token: ${issued.status} ${await issued.text()}`);
  }
  return ((await issued.json()) as { access_token: string }).access_token;
}

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { download, downloadPathOf } from "./download.ts";
import { FusedError, NotSupportedError, ValidationError } from "./errors.ts";
import { options } from "./options.ts";

const BODY = new TextEncoder().encode("id,name\n1,alpha\n2,beta\n".repeat(1000));

interface TestServer {
  base: string;
  requests: string[];
  close(): Promise<void>;
}

/** A server on 127.0.0.1 that counts requests; answers slowly so concurrent calls overlap. */
function serve(): TestServer {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    requests.push(url.pathname + url.search);
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (url.pathname === "/missing.csv") return new Response("no", { status: 404 });
    return new Response(BODY, { headers: { "content-type": "text/csv" } });
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

async function withData(fn: (data: string, server: TestServer) => Promise<void>): Promise<void> {
  const data = await Deno.makeTempDir({ prefix: "fused_dl_" });
  options.dataDirectory = data;
  const server = serve();
  try {
    await fn(data, server);
  } finally {
    await server.close();
    options.reset();
    await Deno.remove(data, { recursive: true });
  }
}

async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("two concurrent downloads of one URL make one request and share the file", () =>
  withData(async (data, server) => {
    const url = `${server.base}/files/table.csv`;
    const [a, b] = await Promise.all([download(url), download(url)]);
    assert.equal(a, b);
    assert.equal(
      a,
      join(data, "download/http", `127.0.0.1_${new URL(server.base).port}`, "files/table.csv"),
    );
    assert.deepEqual(await Deno.readFile(a), BODY);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(await namesIn(join(a, "..")), ["table.csv"], "no lock or partial file left");
  }));

Deno.test("a second download returns the existing file without a request", () =>
  withData(async (_data, server) => {
    const url = `${server.base}/x.csv`;
    const first = await download(url);
    const second = await download(url);
    assert.equal(first, second);
    assert.equal(server.requests.length, 1);
  }));

Deno.test("a given relative path is under the data directory, an absolute one is used as is", () =>
  withData(async (data, server) => {
    const relative = await download(`${server.base}/a.csv`, "inputs/a.csv");
    assert.equal(relative, join(data, "inputs/a.csv"));
    const absolute = join(data, "elsewhere", "b.csv");
    assert.equal(await download(`${server.base}/b.csv`, absolute), absolute);
    assert.deepEqual(await Deno.readFile(absolute), BODY);
  }));

Deno.test("an HTTP error names the status and the URL and leaves no file", () =>
  withData(async (data, server) => {
    const url = `${server.base}/missing.csv`;
    await assert.rejects(
      download(url, "m/missing.csv"),
      (error: Error) =>
        error instanceof FusedError && error.message.includes("404") &&
        error.message.includes(url),
    );
    assert.deepEqual(await namesIn(join(data, "m")), []);
  }));

Deno.test("an unreachable server gives an error naming the URL", () =>
  withData(async (_data, server) => {
    await server.close();
    const url = `${server.base}/gone.csv`;
    await assert.rejects(download(url), (error: Error) => error.message.includes(url));
  }));

Deno.test("bad URLs and unsupported schemes are refused with a clear error", () =>
  withData(async () => {
    await assert.rejects(
      download("not a url"),
      (e: Error) => e instanceof ValidationError && /not a URL/.test(e.message),
    );
    await assert.rejects(download("ftp://example.com/a"), /ftp:\/\/ is not supported/);
    await assert.rejects(download("s3://bucket/key"), NotSupportedError);
  }));

Deno.test("a target path that leaves the data directory is refused", () =>
  withData(async (_data, server) => {
    await assert.rejects(download(`${server.base}/a.csv`, "../../etc/a.csv"), /leaves its root/);
    assert.equal(server.requests.length, 0);
  }));

Deno.test("file:// URLs are copied; a missing file is a clear error", () =>
  withData(async (data) => {
    const source = join(data, "source.bin");
    await Deno.writeFile(source, BODY);
    const path = await download(pathToFileURL(source).href);
    assert.match(path, /download\/file\//);
    assert.deepEqual(await Deno.readFile(path), BODY);
    await assert.rejects(
      download(pathToFileURL(join(data, "nope.bin")).href),
      /there is no file at/,
    );
  }));

Deno.test("fd:// URLs are read from the folder a local fdPrefix names", () =>
  withData(async (data) => {
    options.fdPrefix = join(data, "fd");
    const stored = join(data, "fd", "bucket", "t.csv");
    await Deno.mkdir(join(data, "fd", "bucket"), { recursive: true });
    await Deno.writeFile(stored, BODY);
    const path = await download("fd://bucket/t.csv");
    assert.notEqual(path, stored);
    assert.deepEqual(await Deno.readFile(path), BODY);
  }));

Deno.test("fd:// URLs come from the service at baseUrl when fdPrefix is null", () =>
  withData(async (_data, server) => {
    options.baseUrl = server.base;
    Deno.env.set("FUSED_AUTH_TOKEN", "test-token");
    let path: string;
    try {
      path = await download("fd://bucket/t.csv");
    } finally {
      Deno.env.delete("FUSED_AUTH_TOKEN");
    }
    assert.deepEqual(await Deno.readFile(path), BODY);
    assert.deepEqual(server.requests, [
      `/files/get?path=${encodeURIComponent("fd://bucket/t.csv")}`,
    ]);
  }));

Deno.test("URLs differing only in their query get different files", () => {
  const a = downloadPathOf("https://example.com/tile.png?z=1");
  const b = downloadPathOf("https://example.com/tile.png?z=2");
  assert.notEqual(a, b);
  assert.match(a, /^download\/https\/example\.com\/tile_[0-9a-f]{10}\.png$/);
  assert.equal(downloadPathOf("https://example.com/d/"), "download/https/example.com/d/index");
  assert.doesNotMatch(downloadPathOf("https://example.com/%2e%2e/x"), /\.\./);
});

Deno.test("fused.core.download is fused.download, as fused-py's", async () => {
  const core = await import("./api/core.ts");
  assert.equal(core.download, download);
});

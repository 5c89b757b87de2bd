import assert from "node:assert/strict";
import { join } from "node:path";
import { HttpError } from "../client/errors.ts";
import { options } from "../client/options.ts";
import { filesUnder, publishTables, refuseExistingFd } from "./_fd.ts";

/** Staged tables of these tests, removed when the tests end. */
const ROOT = await Deno.makeTempDir({ prefix: "fd_test_" });
globalThis.addEventListener("unload", () => Deno.removeSync(ROOT, { recursive: true }));

/** A fake file service: folders as `path → entries`, uploads recorded, one path made to fail. */
async function withFakeService(
  folders: Record<string, { name: string; dir?: boolean; size?: number }[]>,
  fn: (calls: string[], fail: (path: string) => void) => Promise<void>,
): Promise<void> {
  const calls: string[] = [];
  let failing: string | undefined;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const path = url.searchParams.get("path") ?? "";
    calls.push(`${req.method} ${url.pathname} ${path}`);
    await req.body?.cancel();
    if (url.pathname === "/files/upload") {
      return path === failing
        ? new Response(JSON.stringify({ detail: "disk full" }), { status: 500 })
        : new Response("{}", { status: 201 });
    }
    if (url.pathname === "/files/delete") return Response.json(true);
    const entries = folders[path.replace(/\/$/, "")];
    if (!entries) return Response.json({ detail: `No file or folder at ${path}` }, { status: 404 });
    return Response.json(entries.map((e) => ({
      url: `${path.replace(/\/$/, "")}/${e.name}${e.dir ? "/" : ""}`,
      file_name: e.name,
      is_directory: e.dir ?? false,
      size: e.dir ? null : e.size ?? 1,
    })));
  });
  options.baseUrl = `http://127.0.0.1:${server.addr.port}`;
  Deno.env.set("FUSED_AUTH_TOKEN", "test-token");
  try {
    await fn(calls, (path) => failing = path);
  } finally {
    Deno.env.delete("FUSED_AUTH_TOKEN");
    options.reset();
    await server.shutdown();
  }
}

async function stagedTable(): Promise<string> {
  const dir = await Deno.makeTempDir({ dir: ROOT });
  for (const name of ["_sample", "0.parquet", "1.parquet"]) {
    await Deno.writeTextFile(join(dir, name), name);
  }
  return dir;
}

Deno.test("publishTables uploads every data file first and the main table's _sample last", () =>
  withFakeService({}, async (calls) => {
    const main = await stagedTable();
    const index = await Deno.makeTempDir({ dir: ROOT });
    await Deno.writeTextFile(join(index, "0.parquet"), "index");
    await publishTables([
      { dir: index, url: "fd://b/index" },
      { dir: main, url: "fd://b/main" },
    ], false);
    assert.deepEqual(calls, [
      "PUT /files/upload fd://b/index/0.parquet",
      "PUT /files/upload fd://b/main/0.parquet",
      "PUT /files/upload fd://b/main/1.parquet",
      "PUT /files/upload fd://b/main/_sample",
    ]);
  }));

Deno.test("publishTables with overwrite deletes the old tables before uploading", () =>
  withFakeService({}, async (calls) => {
    await publishTables([{ dir: await stagedTable(), url: "fd://b/main" }], true);
    assert.equal(calls[0], "DELETE /files/delete fd://b/main");
    assert.equal(calls.at(-1), "PUT /files/upload fd://b/main/_sample");
  }));

Deno.test("a failed upload removes what was uploaded, so no half table is left", () =>
  withFakeService({}, async (calls, fail) => {
    fail("fd://b/main/1.parquet");
    await assert.rejects(
      publishTables([{ dir: await stagedTable(), url: "fd://b/main" }], false),
      (e: Error) => e instanceof HttpError && /disk full/.test(e.message),
    );
    assert.deepEqual(calls, [
      "PUT /files/upload fd://b/main/0.parquet",
      "PUT /files/upload fd://b/main/1.parquet",
      "DELETE /files/delete fd://b/main",
    ]);
  }));

Deno.test("refuseExistingFd refuses a folder with files unless overwrite; empty or missing is free", () =>
  withFakeService({ "fd://b/full": [{ name: "0.parquet" }], "fd://b/empty": [] }, async () => {
    await assert.rejects(
      refuseExistingFd("fd://b/full", false),
      /fd:\/\/b\/full already exists and is not empty: pass overwrite: true/,
    );
    await refuseExistingFd("fd://b/full", true);
    await refuseExistingFd("fd://b/empty", false);
    await refuseExistingFd("fd://b/none", false);
  }));

Deno.test("filesUnder lists a folder's files recursively without _ and . names, or one file", () =>
  withFakeService({
    "fd://in": [{ name: "a.csv" }, { name: "_sample" }, { name: "sub", dir: true }],
    "fd://in/sub": [{ name: "b.csv" }, { name: ".hidden" }],
  }, async () => {
    assert.deepEqual(await filesUnder("fd://in"), {
      files: ["fd://in/a.csv", "fd://in/sub/b.csv"],
      folder: true,
    });
    assert.deepEqual(await filesUnder("fd://in/a.csv"), {
      files: ["fd://in/a.csv"],
      folder: false,
    });
    assert.equal(await filesUnder("fd://in/nope.csv"), null);
  }));

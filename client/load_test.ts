import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isSavedReference, load } from "./load.ts";
import { udf } from "./udf.ts";
import { setUdfHost } from "./host_channel.ts";

const FIXTURES = fileURLToPath(new URL("../tests/fixtures/udfs", import.meta.url));
const SOURCE = `export default function udf({ n = 10 }) {\n  return n;\n}\n`;

Deno.test("a .ts file loads with its stem as the name", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/my_udf.ts`, SOURCE);
  const u = await load(`${dir}/my_udf.ts`);
  assert.equal(u.name, "my_udf");
  assert.equal(u.code, SOURCE);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("raw code loads as a UDF", async () => {
  const u = await load(SOURCE);
  assert.equal(u.entrypoint, "default");
});

Deno.test("a directory and a zip written by the model load back identical", async () => {
  const dir = await Deno.makeTempDir();
  const original = udf(SOURCE, {
    name: "counter",
    cacheMaxAge: "1h",
    defaultParameters: { n: 4 },
    headers: { utils: "export const k = 1;\n" },
    metadata: { "fused:description": "counts" },
  });
  await original.toDirectory(`${dir}/counter`);
  await original.toFile(`${dir}/counter.zip`);
  for (const path of [`${dir}/counter`, `${dir}/counter.zip`]) {
    const back = await load(path);
    assert.deepEqual(back.toJSON(), original.toJSON(), path);
    assert.equal(back.version, original.version);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a Fused Python folder loads with name, parameters and metadata, marked as Python", async () => {
  const u = await load(`${FIXTURES}/python_udf`);
  assert.equal(u.name, "Overture_Places");
  assert.equal(u.language, "python");
  assert.equal(u.entrypoint, "udf");
  assert.deepEqual(u.parameters, { release: "2024-09-18-0" });
  assert.equal(u.metadata?.["fused:udfType"], "vector_tile");
  assert.match(u.header("utils") ?? "", /def load_places/);
});

Deno.test("a meta.json with inline code loads too", async () => {
  const u = await load(`${FIXTURES}/inline_udf`);
  assert.equal(u.name, "Inline");
  assert.equal(u.language, "python");
  assert.match(u.code, /return n \* 2/);
});

Deno.test("a GitHub tree URL is resolved to raw file URLs", async () => {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    const prefix = "/fusedio/udfs/main/public/";
    if (!path.startsWith(prefix)) return new Response("no", { status: 404 });
    try {
      return new Response(await Deno.readFile(`${FIXTURES}/${path.slice(prefix.length)}`));
    } catch {
      return new Response("missing", { status: 404 });
    }
  });
  try {
    const u = await load("https://github.com/fusedio/udfs/tree/main/public/python_udf/", {
      rawBaseUrl: `http://127.0.0.1:${server.addr.port}`,
    });
    assert.equal(u.name, "Overture_Places");
    assert.equal(u.language, "python");
    assert.equal(u.metadata?.["fused:gitRepo"], "fusedio/udfs");
    assert.ok(seen.includes("/fusedio/udfs/main/public/python_udf/meta.json"));
    assert.ok(seen.includes("/fusedio/udfs/main/public/python_udf/utils.py"));
    await assert.rejects(
      () =>
        load("https://github.com/fusedio/udfs/tree/main/public/nothing", {
          rawBaseUrl: `http://127.0.0.1:${server.addr.port}`,
        }),
      /No meta.json/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("bad sources get clear errors", async () => {
  await assert.rejects(() => load(""), /needs a path/);
  await assert.rejects(() => load("./does/not/exist.ts"), /No file or folder/);
  await assert.rejects(() => load("https://github.com/only-owner"), /tree\/REF\/PATH/);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.zip`, "not a zip");
  await assert.rejects(() => load(`${dir}/bad.zip`), /not a valid zip/);
  await Deno.mkdir(`${dir}/empty`);
  await assert.rejects(() => load(`${dir}/empty`), /No meta.json/);
  await Deno.writeTextFile(`${dir}/x.csv`, "a,b");
  await assert.rejects(() => load(`${dir}/x.csv`), /expected a .ts/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("isSavedReference tells saved names and tokens from code, URLs and paths", () => {
  for (const ref of ["roads", "alice/roads", "a@b.com/roads", "team/roads", "fsh_0123abcd"]) {
    assert.equal(isSavedReference(ref), true, ref);
  }
  for (const text of [SOURCE, "https://x.org/a.ts", "file:///a", "./roads", "/a/b", "a.ts", ""]) {
    assert.equal(isSavedReference(text), false, text);
  }
});

Deno.test("inside a UDF a saved name and a URL load through the host; paths and code stay", async () => {
  const asked: unknown[][] = [];
  setUdfHost({
    folders: { dataDir: "/nowhere", cacheDir: "/nowhere", tempDir: "/nowhere" },
    call(method, args) {
      asked.push([method, ...args]);
      return Promise.resolve({
        value: udf(SOURCE, { name: "found" }).toJSON(),
        body: new Uint8Array(),
      });
    },
  });
  try {
    assert.equal((await load("alice/roads")).name, "found");
    assert.equal((await load("https://example.com/roads.ts")).name, "found");
    assert.equal((await load(SOURCE)).entrypoint, "default");
    await assert.rejects(load("./missing.ts"), /No file or folder at/);
    assert.deepEqual(asked, [["load", "alice/roads"], ["load", "https://example.com/roads.ts"]]);
  } finally {
    setUdfHost(undefined);
  }
});

Deno.test("a path or GitHub URL to a folder's meta.json loads that folder, as fused-py", async () => {
  const u = await load(`${FIXTURES}/inline_udf/meta.json`);
  assert.equal(u.name, "Inline");
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname.replace("/o/r/main/", "");
    try {
      return new Response(await Deno.readFile(`${FIXTURES}/${path}`));
    } catch {
      return new Response("missing", { status: 404 });
    }
  });
  try {
    const fromGitHub = await load("https://github.com/o/r/blob/main/python_udf/meta.json", {
      rawBaseUrl: `http://127.0.0.1:${server.addr.port}`,
    });
    assert.equal(fromGitHub.name, "Overture_Places");
  } finally {
    await server.shutdown();
  }
});

Deno.test("one-line code is code, never a saved name or a path", async () => {
  for (const code of ["export default () => 1", "export default()=>1"]) {
    assert.equal(isSavedReference(code), false, code);
    const u = await load(code);
    assert.equal(u.code, code);
  }
  assert.equal(isSavedReference("(n)=>n*2"), false);
});

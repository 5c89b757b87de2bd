import assert from "node:assert/strict";
import { Udf, udf } from "./udf.ts";
import { ValidationError } from "./errors.ts";

const SOURCE = `export default function udf({ n = 10, name = "x" }) {\n  return n;\n}\n`;

Deno.test("a UDF from source takes its options and Fused field names", () => {
  const u = udf(SOURCE, {
    name: "counter",
    cacheMaxAge: "48h",
    instanceType: "small",
    defaultParameters: { n: 3 },
    headers: { utils: "export const k = 1;" },
    metadata: { "fused:description": "counts" },
  });
  const json = u.toJSON();
  assert.equal(json.name, "counter");
  assert.equal(json.entrypoint, "default");
  assert.equal(json.cache_max_age, 172800);
  assert.equal(json.instance_type, "small");
  assert.deepEqual(json.parameters, { n: 3 });
  assert.deepEqual(json.headers, [{
    module_name: "utils",
    source_code: "export const k = 1;",
    source_file: "utils.ts",
  }]);
  assert.equal(u.language, "typescript");
  assert.equal(u.header("utils"), "export const k = 1;");
});

Deno.test("a UDF from a function becomes a module with a default export", () => {
  function double({ n = 2 }: { n?: number }) {
    return n * 2;
  }
  const u = udf(double);
  assert.equal(u.name, "double");
  assert.match(u.code, /^export default function double/);
});

Deno.test("JSON round trip keeps every field, unknown ones too", () => {
  const u = udf(SOURCE, { name: "a", cacheMaxAge: 60 });
  const again = Udf.fromJSON(JSON.stringify({ ...u.toJSON(), original_headers: "x", custom: 1 }));
  assert.equal(again.code, u.code);
  assert.equal(again.cacheMaxAge, 60);
  assert.equal(again.toJSON().custom, 1);
  assert.equal(again.toJSON().original_headers, "x");
});

Deno.test("the version changes with code, headers and default parameters, not key order", () => {
  const a = udf(SOURCE, { defaultParameters: { a: 1, b: 2 } });
  const b = udf(SOURCE, { defaultParameters: { b: 2, a: 1 } });
  assert.equal(a.version, b.version);
  assert.notEqual(a.version, udf(SOURCE + "\n").version);
  assert.notEqual(a.version, a.withParameters({ a: 5 }).version);
  assert.notEqual(a.version, udf(SOURCE, { headers: { u: "1" } }).version);
});

Deno.test("bad UDFs are refused with a message naming the fix", () => {
  assert.throws(() => udf("const x = 1;\nconsole.log(x)"), /no entrypoint/);
  assert.throws(() => udf(SOURCE, { cacheMaxAge: "10 min" }), /number followed by s, m, h or d/);
  assert.throws(() => udf(SOURCE, { name: "bad name/../x" }), ValidationError);
  assert.throws(() => udf(SOURCE, { headers: { "not-an-id": "" } }), /identifier/);
  assert.throws(() => Udf.fromJSON({ name: "x" }), /Invalid UDF JSON: code/);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => udf(42 as any), /TypeScript source or a function/);
});

Deno.test("a UDF name that is not a slug is refused wherever a Udf is built or renamed", () => {
  const rule = /Invalid UDF name .*: a UDF name is up to 128 letters, digits/;
  for (const name of ["../evil", "a/b", ".hidden", "-x", "a b", "x".repeat(129), "a\u0000b"]) {
    assert.throws(() => udf(SOURCE, { name }), rule, name);
    assert.throws(() => Udf.fromJSON({ name, code: SOURCE, entrypoint: "default" }), rule, name);
  }
  assert.throws(() => udf(SOURCE, { name: "" }), rule);
  const ok = udf(SOURCE, { name: "my_udf-1.v2" });
  assert.throws(() => (ok.name = "../../x"), rule);
  assert.equal(ok.name, "my_udf-1.v2");
  ok.name = "renamed";
  assert.equal(ok.toJSON().name, "renamed");
});

Deno.test("Python code is recognised and marked as Python", () => {
  const u = udf("@fused.udf\ndef my_udf(n: int = 1):\n    return n\n");
  assert.equal(u.language, "python");
  assert.equal(u.entrypoint, "my_udf");
  assert.equal(u.toJSON().type, "geopandas_v2");
});

Deno.test("toDirectory writes meta.json, code, headers and README, and refuses to overwrite", async () => {
  const dir = await Deno.makeTempDir();
  const u = udf(SOURCE, { name: "counter", headers: { utils: "export const k = 1;" } });
  await u.toDirectory(`${dir}/counter`);
  const names = [...Deno.readDirSync(`${dir}/counter`)].map((e) => e.name).sort();
  assert.deepEqual(names, ["README.md", "counter.ts", "meta.json", "utils.ts"]);
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/counter/meta.json`));
  assert.equal(meta.job_config.steps[0].udf.source, "counter.ts");
  assert.equal(meta.job_config.steps[0].udf.code, undefined);
  await assert.rejects(() => u.toDirectory(`${dir}/counter`), /already exists.*overwrite: true/);
  await u.toDirectory(`${dir}/counter`, { overwrite: true });
  assert.equal(await Deno.readTextFile(`${dir}/counter/counter.ts`), SOURCE);
  const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(leftovers, ["counter"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("toDirectory() without a path writes a folder named after the UDF, as fused-py", async () => {
  const dir = await Deno.makeTempDir();
  const before = Deno.cwd();
  Deno.chdir(dir);
  try {
    await udf(SOURCE, { name: "my_udf" }).toDirectory();
    const meta = JSON.parse(await Deno.readTextFile(`${dir}/my_udf/meta.json`));
    assert.equal(meta.job_config.steps[0].udf.name, "my_udf");
    assert.equal(await Deno.readTextFile(`${dir}/my_udf/my_udf.ts`), SOURCE);
  } finally {
    Deno.chdir(before);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("toFile writes a zip and refuses to overwrite", async () => {
  const dir = await Deno.makeTempDir();
  const u = udf(SOURCE, { name: "counter" });
  await u.toFile(`${dir}/counter.zip`);
  assert.ok((await Deno.stat(`${dir}/counter.zip`)).size > 100);
  await assert.rejects(() => u.toFile(`${dir}/counter.zip`), /already exists/);
  await u.toFile(`${dir}/counter.zip`, { overwrite: true });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("toDirectory over an old folder leaves no temporary beside it, and puts back a folder a killed writer set aside", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/swap`;
  await udf(SOURCE, { name: "swap" }).toDirectory(path);
  await udf(SOURCE.replace(`"x"`, `"hi"`), { name: "swap" }).toDirectory(path, { overwrite: true });
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["swap"]);
  // A writer without the exchange call, killed between its renames, leaves the old folder aside.
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  await Deno.rename(path, `${path}.old-${dead.pid}-abcd1234`);
  await Deno.mkdir(`${path}.tmp-${dead.pid}-abcd1234`);
  // Temporaries of older versions (no pid in the name) go when they are old, not while fresh.
  await Deno.mkdir(`${path}.tmp-0badf00d`);
  const hourAgo = new Date(Date.now() - 3600_000);
  await Deno.utime(`${path}.tmp-0badf00d`, hourAgo, hourAgo);
  await Deno.mkdir(`${path}.tmp-0000beef`);
  await assert.rejects(() => udf(SOURCE, { name: "swap" }).toDirectory(path), /already exists/);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "swap",
    "swap.tmp-0000beef",
  ]);
  assert.match(await Deno.readTextFile(`${path}/swap.ts`), /"hi"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("headers may be file paths, as fused-py's headers=['utils.py']", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fused_headers_" });
  try {
    await Deno.writeTextFile(`${dir}/geo_utils.ts`, "export const k = 2;\n");
    const u = udf(SOURCE, { headers: [`${dir}/geo_utils.ts`] });
    assert.equal(u.headers[0].module_name, "geo_utils");
    assert.equal(u.header("geo_utils"), "export const k = 2;\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad headers are refused naming the header and the fix, not as a ZodError", () => {
  const refused: [unknown, RegExp][] = [
    [["/nonexistent/a.ts"], /Cannot read header file "\/nonexistent\/a.ts"/],
    [[{ moduleName: "my-utils", sourceCode: "" }], /Header "my-utils": a header module name/],
    [[42], /A header is a file path or \{ moduleName, sourceCode \}, got number/],
  ];
  for (const [headers, message] of refused) {
    assert.throws(() => udf(SOURCE, { headers: headers as string[] }), (err: Error) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }
});

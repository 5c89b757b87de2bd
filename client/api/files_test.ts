import assert from "node:assert/strict";
import { tableFromArrays } from "apache-arrow";
import { HttpError, ValidationError } from "../errors.ts";
import { parquetToTable } from "../formats/parquet.ts";
import { withService } from "./_test_util.ts";
import {
  delete as deletePath,
  download,
  get,
  list,
  signUrl,
  signUrlPrefix,
  upload,
} from "./files.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("upload bytes, then list, get and download them back", async () => {
  await withService({}, async (service) => {
    assert.equal(await upload(text("hello"), "fd://notes/hello.txt"), "fd://notes/hello.txt");
    assert.deepEqual(await list("fd://notes/"), ["fd://notes/hello.txt"]);
    assert.deepEqual(await list("fd://"), ["fd://notes/"]);
    assert.equal(new TextDecoder().decode(await get("fd://notes/hello.txt")), "hello");
    const local = await download("fd://notes/hello.txt", `${service.home}/out/`);
    assert.equal(local, `${service.home}/out/hello.txt`);
    assert.equal(await Deno.readTextFile(local), "hello");
  });
});

Deno.test("upload a local file into a folder keeps its name; list details describes it", async () => {
  await withService({}, async (service) => {
    const local = `${service.home}/data.csv`;
    await Deno.writeTextFile(local, "a,b\n1,2\n");
    assert.equal(await upload(local, "fd://tables/"), "fd://tables/data.csv");
    const [entry] = await list("fd://tables/", { details: true });
    assert.equal(entry.url, "fd://tables/data.csv");
    assert.equal(entry.file_name, "data.csv");
    assert.equal(entry.is_directory, false);
    assert.equal(entry.size, 8);
    await assert.rejects(upload(`${service.home}/nope.csv`, "fd://x"), ValidationError);
  });
});

Deno.test("upload an Arrow table stores it as Parquet", async () => {
  await withService({}, async () => {
    const table = tableFromArrays({ id: Int32Array.from([1, 2, 3]), name: ["a", "b", "c"] });
    await upload(table, "fd://tables/t.parquet");
    const back = parquetToTable(await get("fd://tables/t.parquet"));
    assert.equal(back.numRows, 3);
    assert.deepEqual(back.getChild("name")!.toArray(), ["a", "b", "c"]);
  });
});

Deno.test("a missing file is a 404 that names the path", async () => {
  await withService({}, async () => {
    await assert.rejects(get("fd://nothing/here.txt"), (err: HttpError) => {
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 404);
      assert.match(err.message, /No file or folder at fd:\/\/nothing\/here\.txt/);
      return true;
    });
    await assert.rejects(
      list("s3://bucket/"),
      /HTTP 400: Path "s3:\/\/bucket\/" is not an fd:\/\/ path/,
    );
  });
});

Deno.test("signed URLs read files without a token", async () => {
  await withService({}, async () => {
    await upload(text("one"), "fd://signed/a.txt");
    await upload(text("two"), "fd://signed/sub/b.txt");
    const url = await signUrl("fd://signed/a.txt", { expiration: 60 });
    assert.equal(await (await fetch(url)).text(), "one");
    const prefix = await signUrlPrefix("fd://signed/");
    assert.deepEqual(Object.keys(prefix).sort(), ["fd://signed/a.txt", "fd://signed/sub/b.txt"]);
    assert.equal(await (await fetch(prefix["fd://signed/sub/b.txt"])).text(), "two");
  });
});

Deno.test("delete removes files and folders within the depth limit", async () => {
  await withService({}, async () => {
    await upload(text("x"), "fd://deep/a/b/c/d.txt");
    assert.equal(await deletePath("fd://deep/a/b/c/d.txt"), true);
    assert.equal(await deletePath("fd://deep/a/b/c/d.txt"), false);
    await upload(text("x"), "fd://deep/a/b/c/d.txt");
    await assert.rejects(deletePath("fd://deep/", { maxDeletionDepth: 1 }), /HTTP 4\d\d/);
    assert.equal(await deletePath("fd://deep/", { maxDeletionDepth: "unlimited" }), true);
    assert.deepEqual(await list("fd://"), []);
    await assert.rejects(deletePath("fd://x", { maxDeletionDepth: 0 }), /maxDeletionDepth must be/);
  });
});

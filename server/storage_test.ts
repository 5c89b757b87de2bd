import assert from "node:assert/strict";
import { ValidationError } from "../client/errors.ts";
import {
  FileNotFoundError,
  LocalStorage,
  parseFdFilePath,
  parseFdPath,
  removeStaleUploads,
  TooLargeError,
} from "./storage.ts";

function stream(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

Deno.test("fd paths become keys relative to the storage root", () => {
  assert.equal(parseFdPath("fd://tables/roads.parquet"), "tables/roads.parquet");
  assert.equal(parseFdPath("fd://tables/"), "tables");
  assert.equal(parseFdPath("fd://"), "");
});

Deno.test("fd paths that could leave the root are refused", () => {
  for (
    const bad of [
      "fd://../etc/passwd",
      "fd://a/../../b",
      "fd:///etc/passwd",
      "fd://a/%2e%2e/b",
      "fd://a\\..\\b",
      "fd://a//b",
      "fd://./a",
      "fd://a\u0000b",
      "s3://bucket/a",
      "/etc/passwd",
    ]
  ) {
    assert.throws(() => parseFdPath(bad), ValidationError, bad);
  }
});

Deno.test("a path to write that ends in / names a folder and is refused with the fix", () => {
  assert.equal(parseFdFilePath("fd://tables/roads.parquet"), "tables/roads.parquet");
  for (const folder of ["fd://dir/", "fd://a/b/", "fd://"]) {
    assert.throws(() => parseFdFilePath(folder), /names a folder: add a file name/, folder);
  }
});

Deno.test("local storage writes atomically, lists, reads and stats files", async () => {
  const root = await Deno.makeTempDir();
  const storage = new LocalStorage(root);
  await storage.write("a/b.txt", stream("hello"));
  assert.deepEqual((await storage.list("")).map((f) => [f.key, f.isDirectory]), [["a", true]]);
  const [file] = await storage.list("a");
  assert.equal(file.size, 5);
  const { body } = await storage.read("a/b.txt");
  assert.equal(await new Response(body).text(), "hello");
  await assert.rejects(storage.read("a"), FileNotFoundError);
  await assert.rejects(storage.list("missing"), FileNotFoundError);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a write over its byte limit leaves nothing behind", async () => {
  const root = await Deno.makeTempDir();
  const storage = new LocalStorage(root);
  await assert.rejects(
    storage.write("big.bin", stream("x".repeat(100)), { maxBytes: 10 }),
    TooLargeError,
  );
  assert.deepEqual(await storage.list(""), []);
  await Deno.remove(root, { recursive: true });
});

Deno.test("deleting a folder deeper than max depth is refused and deletes nothing", async () => {
  const root = await Deno.makeTempDir();
  const storage = new LocalStorage(root);
  await storage.write("d/e/f/g.txt", stream("x"));
  await assert.rejects(storage.delete("d", { maxDepth: 2 }), /3 levels deep/);
  assert.ok(await storage.stat("d/e/f/g.txt"));
  assert.equal(await storage.delete("d", { maxDepth: 3 }), true);
  assert.equal(await storage.stat("d"), null);
  assert.equal(await storage.delete("d"), false);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a symlink inside the root that points outside it is refused", async () => {
  const root = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  await Deno.writeTextFile(`${outside}/secret.txt`, "secret");
  await Deno.symlink(outside, `${root}/link`);
  const storage = new LocalStorage(root);
  await assert.rejects(storage.read("link/secret.txt"), /outside the storage root/);
  await Deno.remove(root, { recursive: true });
  await Deno.remove(outside, { recursive: true });
});

Deno.test("a write through a link pointing outside is refused before anything is written", async () => {
  const root = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/links`, { recursive: true });
  await Deno.symlink(outside, `${root}/links/out`);
  const storage = new LocalStorage(root);
  await assert.rejects(
    () => storage.write("links/out/x.txt", stream("evil")),
    /fd:\/\/links\/out\/ resolves outside the storage root/,
  );
  await assert.rejects(
    () => storage.write("links/out/deeper/x.txt", stream("evil")),
    ValidationError,
  );
  assert.deepEqual([...Deno.readDirSync(outside)], []);
  await Deno.remove(root, { recursive: true });
  await Deno.remove(outside, { recursive: true });
});

Deno.test("a file used as a folder is a validation error naming the file, for reads and writes", async () => {
  const root = await Deno.makeTempDir();
  const storage = new LocalStorage(root);
  await storage.write("demo/hello.txt", stream("hello"));
  await assert.rejects(
    () => storage.write("demo/hello.txt/child.txt", stream("x")),
    /fd:\/\/demo\/hello\.txt is a file, not a folder/,
  );
  assert.equal(await storage.stat("demo/hello.txt/child.txt"), null);
  await assert.rejects(() => storage.read("demo/hello.txt/child.txt"), FileNotFoundError);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a link pointing outside is left out of its folder's listing", async () => {
  const root = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  const storage = new LocalStorage(root);
  await storage.write("mixed/ok.txt", stream("ok"));
  await Deno.symlink(outside, `${root}/mixed/out`);
  assert.deepEqual((await storage.list("mixed")).map((f) => f.key), ["mixed/ok.txt"]);
  assert.deepEqual(
    (await Array.fromAsync(storage.walk("mixed"))).map((f) => f.key),
    ["mixed/ok.txt"],
  );
  await Deno.remove(root, { recursive: true });
  await Deno.remove(outside, { recursive: true });
});

Deno.test("remnants of cut-off uploads are removed by the start-up sweep", async () => {
  const root = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/a/b`, { recursive: true });
  await Deno.writeTextFile(`${root}/a/b/x.bin.tmp-upload-1234abcd`, "half");
  await Deno.writeTextFile(`${root}/a/b/kept.txt`, "whole");
  assert.equal(await removeStaleUploads(root), 1);
  assert.deepEqual([...Deno.readDirSync(`${root}/a/b`)].map((e) => e.name), ["kept.txt"]);
  await Deno.remove(root, { recursive: true });
});

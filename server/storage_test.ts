import assert from "node:assert/strict";
import { ValidationError } from "../client/errors.ts";
import { FileNotFoundError, LocalStorage, parseFdPath, TooLargeError } from "./storage.ts";

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

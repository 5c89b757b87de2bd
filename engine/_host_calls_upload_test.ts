/**
 * The `files.uploadFile` host call (engine/_host_calls.ts): a file of the caller's data folder is
 * streamed to the caller's host as an upload, and nothing outside that folder is read, symlinks
 * followed first.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { answerHostCall, type HostCallScope } from "./_host_calls.ts";
import type { HostHandler } from "../client/engine_types.ts";
import { hostCallScope } from "./_engine_test_util.ts";

interface Upload {
  args: unknown[];
  text: string;
}

function scope(dataDir: string, uploads: Upload[]): HostCallScope {
  return hostCallScope(dataDir, {
    async files(method: string, args: unknown[], body: unknown) {
      assert.equal(method, "files.upload");
      assert.ok(body instanceof ReadableStream, "the file comes as a stream, not in a frame");
      uploads.push({ args, text: await new Response(body).text() });
      return null;
    },
  } as Partial<HostHandler>);
}

Deno.test("a file of the caller's data folder is streamed to the host's upload", async () => {
  const data = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(data, "staged"));
    await Deno.writeTextFile(join(data, "staged", "0.parquet"), "PAR1 rows PAR1");
    const uploads: Upload[] = [];
    const answer = await answerHostCall(
      "files.uploadFile",
      [pathToFileURL(join(data, "staged", "0.parquet")).href, "fd://t/0.parquet"],
      new Uint8Array(),
      scope(data, uploads),
    );
    assert.equal(answer.value, "fd://t/0.parquet");
    assert.deepEqual(uploads, [{ args: ["fd://t/0.parquet", 14], text: "PAR1 rows PAR1" }]);
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("files outside the caller's data folder are refused, symlinks followed first", async () => {
  const root = await Deno.makeTempDir();
  try {
    const data = join(root, "data");
    await Deno.mkdir(data);
    await Deno.writeTextFile(join(root, "secret.txt"), "not yours");
    await Deno.symlink(join(root, "secret.txt"), join(data, "link.txt"));
    const uploads: Upload[] = [];
    for (
      const path of [
        join(root, "secret.txt"),
        join(data, "link.txt"),
        join(data, "..", "secret.txt"),
      ]
    ) {
      await assert.rejects(
        answerHostCall(
          "files.uploadFile",
          [pathToFileURL(path).href, "fd://t/x"],
          new Uint8Array(),
          scope(data, uploads),
        ),
        /was refused: the file is outside the caller's data folder/,
        path,
      );
    }
    await assert.rejects(
      answerHostCall(
        "files.uploadFile",
        ["not a url", "fd://t/x"],
        new Uint8Array(),
        scope(data, uploads),
      ),
      /must be a file:\/\/ URL/,
    );
    assert.deepEqual(uploads, []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

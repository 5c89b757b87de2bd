/**
 * The `download` host call (engine/_host_calls.ts) writes only inside the caller's data folder:
 * a folder of the target path that is a link leading outside is refused before anything is
 * created, and a plain path is made one folder at a time.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { answerHostCall, type HostCallScope } from "./_host_calls.ts";
import { hostCallScope } from "./_engine_test_util.ts";

function scope(dataDir: string): HostCallScope {
  return hostCallScope(dataDir, {});
}

Deno.test("a download never creates a folder through a link that leads outside", async () => {
  const root = await Deno.makeTempDir();
  const data = join(root, "data");
  const outside = join(root, "outside");
  try {
    await Deno.mkdir(data);
    await Deno.mkdir(outside);
    await Deno.writeTextFile(join(data, "own.txt"), "mine");
    await Deno.symlink(outside, join(data, "out"));
    const source = pathToFileURL(join(data, "own.txt")).href;
    for (const target of ["out/new/deeper/x.txt", "out/x.txt", "own.txt/x.txt"]) {
      await assert.rejects(
        () => answerHostCall("download", [source, target], new Uint8Array(), scope(data)),
        /leads outside the caller's data folder, or is not a folder/,
        target,
      );
    }
    assert.deepEqual([...Deno.readDirSync(outside)], [], "nothing was made outside");
    const answer = await answerHostCall(
      "download",
      [source, "a/b/copy.txt"],
      new Uint8Array(),
      scope(data),
    );
    assert.equal(answer.value, join("a", "b", "copy.txt"));
    assert.equal(await Deno.readTextFile(join(data, "a", "b", "copy.txt")), "mine");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { NotSupportedError, ValidationError } from "./errors.ts";
import {
  checkFdSegments,
  filePath,
  localFdRoot,
  resolveFdPath,
  resolveInside,
} from "./file_path.ts";
import { options } from "./options.ts";

async function withDirs(fn: (data: string, temp: string) => void | Promise<void>): Promise<void> {
  const data = await Deno.makeTempDir({ prefix: "fused_data_" });
  const temp = await Deno.makeTempDir({ prefix: "fused_tmp_" });
  options.update({ dataDirectory: data, tempDirectory: temp });
  try {
    await fn(data, temp);
  } finally {
    options.reset();
    await Deno.remove(data, { recursive: true });
    await Deno.remove(temp, { recursive: true });
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

Deno.test("filePath returns an absolute path under the data directory and creates its folder", () =>
  withDirs((data) => {
    const path = filePath("my_udf/parts/out.parquet");
    assert.equal(path, join(data, "my_udf/parts/out.parquet"));
    assert.ok(isDirectory(join(data, "my_udf/parts")));
    assert.ok(!isDirectory(path), "the file itself is not created");
  }));

Deno.test("filePath creates the folder itself when the path ends with a slash", () =>
  withDirs((data) => {
    const path = filePath("scratch/tiles/");
    assert.equal(path, join(data, "scratch/tiles"));
    assert.ok(isDirectory(path));
  }));

Deno.test("filePath with mkdir false creates nothing", () =>
  withDirs((data) => {
    filePath("not/made/file.txt", { mkdir: false });
    assert.ok(!isDirectory(join(data, "not")));
  }));

Deno.test("filePath with local storage uses the temp directory", () =>
  withDirs((_data, temp) => {
    assert.equal(filePath("x/y.bin", { storage: "local" }), join(temp, "fused_data", "x/y.bin"));
  }));

Deno.test("filePath refuses object storage with the alternatives named", () =>
  withDirs(() => {
    assert.throws(() => filePath("x", { storage: "object" }), NotSupportedError);
  }));

Deno.test("paths that leave their root are refused", () =>
  withDirs((data) => {
    for (const bad of ["../x", "a/../../x", "..", "a/b/../../../etc/passwd"]) {
      assert.throws(() => filePath(bad), (error: Error) =>
        error instanceof ValidationError && error.message.includes('".." parts'), bad);
    }
    assert.equal(filePath("a/../b.txt"), join(data, "b.txt"), "staying inside is fine");
  }));

Deno.test("absolute and empty paths are refused with a clear error", () => {
  assert.throws(() => resolveInside("/root", "/etc/passwd"), /is absolute/);
  assert.throws(() => resolveInside("/root", ""), /is empty/);
});

Deno.test("fd:// names no local folder by default: it is the service's store", () =>
  withDirs(() => {
    assert.equal(localFdRoot(), null);
    assert.equal(resolveFdPath("fd://bucket/t/p.parquet"), null);
  }));

Deno.test("a local fdPrefix makes fd:// that folder; a remote one is refused", () =>
  withDirs((_data, temp) => {
    options.fdPrefix = pathToFileURL(join(temp, "store")).href;
    assert.equal(localFdRoot(), join(temp, "store"));
    options.fdPrefix = join(temp, "other");
    assert.equal(resolveFdPath("fd://b/k"), join(temp, "other", "b/k"));
    assert.equal(resolveFdPath("fd://a%20b/c"), join(temp, "other", "a b/c"));
    options.fdPrefix = "s3://bucket/prefix";
    assert.throws(() => localFdRoot(), NotSupportedError);
  }));

Deno.test("resolveFdPath refuses other schemes and escapes from the root", () =>
  withDirs((_data, temp) => {
    options.fdPrefix = join(temp, "store");
    assert.throws(() => resolveFdPath("s3://bucket/x"), /not an fd:\/\/ URL/);
    assert.throws(() => resolveFdPath("fd://bucket/../../x"), ValidationError);
  }));

Deno.test("a refused fd:// path states the rule and names no folder", () =>
  withDirs((data, temp) => {
    options.fdPrefix = join(temp, "store");
    for (const bad of ["fd://../x", "fd://a/../../b", "fd://a/%2e%2e/b", "fd://./a", "fd://.."]) {
      for (const check of [() => resolveFdPath(bad), () => checkFdSegments(bad)]) {
        assert.throws(check, (error: Error) => {
          assert.ok(error instanceof ValidationError, bad);
          assert.match(error.message, /fd:\/\/ paths may not contain \.\. segments/, bad);
          assert.ok(!error.message.includes(temp), `${bad}: ${error.message} names the folder`);
          return true;
        });
      }
    }
    checkFdSegments("fd://a/..b/c.d");
    assert.throws(() => filePath("../x"), (error: Error) => !error.message.includes(data));
  }));

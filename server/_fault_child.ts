/**
 * A writer for fault_test.ts to kill with SIGKILL at a bad moment: it rewrites a UDF folder with
 * `toDirectory(..., { overwrite: true })` or a cache entry with `writeCache`, forever, printing
 * "writing" once it has started.
 *
 * ```sh
 * deno run -A server/_fault_child.ts directory /tmp/x/udf_folder
 * deno run -A server/_fault_child.ts cache /tmp/x/cache
 * ```
 *
 * @module
 */
import { writeCache } from "../client/cache.ts";
import { options } from "../client/options.ts";
import { udf } from "../client/udf.ts";

const [mode, path] = Deno.args;
if (mode === "directory") {
  // Two versions whose files must never mix: the code and the README carry the same number.
  const versions = [1, 2].map((n) =>
    udf(`export default function udf() { return ${n} }\n// ${"x".repeat(200_000)}\n`, {
      name: "faulty",
      metadata: { "fused:description": `version ${n}` },
    })
  );
  console.log("writing");
  for (let i = 0;; i++) await versions[i % 2].toDirectory(path, { overwrite: true });
} else if (mode === "cache") {
  options.cacheDirectory = path;
  console.log("writing");
  for (let i = 0;; i++) {
    // Values of 4 MB: a write takes long enough to be cut off in the middle.
    await writeCache("entry", new Uint8Array(4 * 1024 * 1024).fill(i % 251), { folder: "fault" });
  }
} else {
  console.error("usage: _fault_child.ts directory|cache PATH");
  Deno.exit(2);
}

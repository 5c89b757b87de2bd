/**
 * The README's first TypeScript example runs as printed (against a service started here; only
 * its port differs from the default).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer } from "../server/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("the README's example runs as printed", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "the README has a TypeScript example");
  const home = await Deno.makeTempDir({ prefix: "fused-readme-" });
  const server = await startServer({ dataDir: join(home, "server"), port: 0, quiet: true });
  // Inside the project, so "fused" resolves through deno.json as it does for a user here.
  const script = join(ROOT, `.readme_example_${crypto.randomUUID().slice(0, 8)}.ts`);
  try {
    await Deno.writeTextFile(
      script,
      example.replaceAll("127.0.0.1:8783", new URL(server.url).host),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-worker-options", script],
      cwd: ROOT,
      env: {
        FUSED_HOME: join(home, "fused"),
        FUSED_SERVER_DIR: join(home, "server"),
        FUSED_BASE_URL: server.baseUrl,
        FUSED_CACHE_DIRECTORY: join(home, "cache"),
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const url = stdout.trim().split("\n").at(-1)!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/fsh_[0-9a-f]+\.parquet\?prefix=Fr$/);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.ok((await response.arrayBuffer()).byteLength > 100);
  } finally {
    await Deno.remove(script).catch(() => {});
    await server.close();
    await Deno.remove(home, { recursive: true });
  }
});

/**
 * Hostile UDFs through the service's share tokens: each gets a JSON error that names its
 * cause, the service keeps serving (the next run works), and no UDF reads the service's data
 * or another user's.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { saveUdf, shareUdf, withServer } from "./_testing.ts";

const HOSTILE: Record<string, { code: string; detail: RegExp }> = {
  huge_strings: {
    code: `export default function udf() { const s = "x".repeat(2 ** 28); return [s, s, s]; }`,
    // On a loaded machine the 3 s run timeout may come first; either names the cause.
    detail: /out of memory|Invalid string length|over the .* limit|did not finish within/,
  },
  heap_hog: {
    code:
      `export default function udf() { const a = []; while (true) a.push(new Array(20_000_000).fill(1.5)); }`,
    detail: /out of memory|did not finish within/,
  },
  eval_spin: {
    code: `export default function udf() { eval("while (true) {}") }`,
    detail: /did not finish within/,
  },
  regex: {
    code: `export default function udf() { return /^(a+)+$/.test("a".repeat(40) + "b") }`,
    detail: /did not finish within/,
  },
  exits: {
    code: `export default function udf() { Deno.exit(7) }`,
    detail: /exited with code 7/,
  },
  environ: {
    code: `export default function udf() { return Deno.readTextFileSync("/proc/self/environ") }`,
    detail: /NotCapable: Requires read access/,
  },
  spawn: {
    code:
      `export default async function udf() { return (await new Deno.Command("/bin/sh", { args: ["-c", ":(){ :|:& };:"] }).output()).code }`,
    detail: /NotCapable: Requires run access/,
  },
  registry: {
    code: `export default function udf({ p = "" }) { return Deno.readFileSync(p).length }`,
    detail: /NotCapable: Requires read access/,
  },
};

const CHATTY =
  `export default function udf() { for (let i = 0; i < 10_000_000; i++) console.log("line", i); return "done" }`;

async function errorOf(res: Response): Promise<string> {
  const text = await res.text();
  assert.ok(res.status >= 400, `expected an error, got ${res.status} ${text.slice(0, 200)}`);
  const meta = res.headers.get("x-fused-metadata");
  return `${text} ${meta ?? ""}`;
}

Deno.test({
  name: "hostile UDFs behind share tokens fail alone and the service keeps serving",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withServer(async (server) => {
      const ok = await saveUdf(server, "ok", "export default function udf() { return 1 }");
      const okToken = await shareUdf(server, ok.id);
      for (const [name, { code, detail }] of Object.entries(HOSTILE)) {
        const saved = await saveUdf(server, name, code);
        const token = await shareUdf(server, saved.id);
        const secret = join(server.dataDir, "registry.db");
        const query = name === "registry" ? `&p=${encodeURIComponent(secret)}` : "";
        const res = await fetch(`${server.url}/${token}.json?cache_max_age=0${query}`);
        const error = await errorOf(res);
        assert.match(error, detail, `${name}: ${error.slice(0, 300)}`);
        const next = await fetch(`${server.url}/${okToken}.json?cache_max_age=0`);
        assert.equal(next.status, 200, `${name}: the service stopped serving`);
        assert.equal(await next.text(), "1");
      }
    }, { runTimeoutMs: 3000 });
  },
});

Deno.test({
  name: "a 10,000,000-line log through the service is capped, and the service keeps serving",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withServer(async (server) => {
      const token = await shareUdf(server, (await saveUdf(server, "chatty", CHATTY)).id);
      const res = await fetch(`${server.url}/${token}.json?cache_max_age=0`);
      const text = await res.text();
      if (res.status === 200) {
        assert.equal(text, '"done"');
        // Logs travel in a header: capped, never the 130 MB the UDF wrote.
        assert.ok((res.headers.get("x-fused-metadata") ?? "").length < 64 * 1024);
      } else {
        assert.match(text, /did not finish within/); // a loaded machine: the timeout names it
      }
      const ok = await shareUdf(
        server,
        (await saveUdf(server, "ok", "export default function udf() { return 1 }")).id,
      );
      assert.equal(await (await fetch(`${server.url}/${ok}.json?cache_max_age=0`)).text(), "1");
    }, { runTimeoutMs: 60_000 });
  },
});

Deno.test({
  name: "a UDF on the service cannot read another user's data folder",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withServer(async (server) => {
      const other = join(server.dataDir, "udf", "users", "someone-else", "data");
      await Deno.mkdir(other, { recursive: true });
      await Deno.writeTextFile(join(other, "secret.txt"), "theirs");
      const saved = await saveUdf(
        server,
        "peek",
        `export default function udf({ p = "" }) { return Deno.readTextFileSync(p) }`,
      );
      const token = await shareUdf(server, saved.id);
      const res = await fetch(
        `${server.url}/${token}.json?cache_max_age=0&p=${
          encodeURIComponent(join(other, "secret.txt"))
        }`,
      );
      assert.match(await errorOf(res), /NotCapable: Requires read access/);
    });
  },
});

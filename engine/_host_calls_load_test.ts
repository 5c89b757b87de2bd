/**
 * The `load` host call (engine/_host_calls.ts): a saved UDF's reference goes to the caller's host,
 * an http(s) URL is fetched under the run's network scope and a cap, and nothing else is read:
 * a path or code a UDF sends is refused, so the host never reads its own files for a UDF.
 */
import assert from "node:assert/strict";
import { udf } from "../client/udf.ts";
import { answerHostCall, type HostCallScope } from "./_host_calls.ts";
import { hostCallScope } from "./_engine_test_util.ts";

const CODE = "export default function udf({ n = 1 }) { return n; }";

function scope(net: boolean | string[], loaded: string[]): HostCallScope {
  return hostCallScope("/nowhere", {
    load(ref: string) {
      loaded.push(ref);
      return Promise.resolve(udf(CODE, { name: "saved" }));
    },
  }, net);
}

Deno.test("a saved name goes to the caller's host; paths and code are refused", async () => {
  const loaded: string[] = [];
  const answer = await answerHostCall(
    "load",
    ["alice/roads"],
    new Uint8Array(),
    scope(false, loaded),
  );
  assert.equal((answer.value as { name: string }).name, "saved");
  for (const ref of ["/etc/passwd", "./secrets", "file:///etc/passwd", "x.zip", CODE]) {
    await assert.rejects(
      answerHostCall("load", [ref], new Uint8Array(), scope(true, loaded)),
      /through the host: give a saved UDF's NAME/,
      ref,
    );
  }
  assert.deepEqual(loaded, ["alice/roads"]);
});

Deno.test("a URL loads only within the run's network scope, and at most 5 MB", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const big = new URL(request.url).pathname === "/big.ts";
    return new Response(big ? "x".repeat(5_000_001) : CODE);
  });
  const host = `127.0.0.1:${server.addr.port}`;
  const call = (path: string, net: boolean | string[]) =>
    answerHostCall("load", [`http://${host}${path}`], new Uint8Array(), scope(net, []));
  try {
    await assert.rejects(call("/hello.ts", false), /the run does not allow network/);
    await assert.rejects(call("/hello.ts", true), /loopback.*allowNet/);
    const answer = await call("/hello.ts", [host]);
    assert.equal((answer.value as { name: string }).name, "hello");
    await assert.rejects(call("/big.ts", [host]), /larger than 5000000 bytes/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a nested run of a path or code is refused before the host is asked", async () => {
  for (const udf of ["/etc/passwd", "./x.ts", CODE]) {
    await assert.rejects(
      answerHostCall(
        "run",
        [{ udf, engine: "local", parameters: {} }],
        new Uint8Array(),
        scope(false, []),
      ),
      /Cannot run .* through the host: give a Udf or a saved UDF's NAME/,
    );
  }
});

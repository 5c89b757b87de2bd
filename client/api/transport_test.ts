import assert from "node:assert/strict";
import { z } from "zod";
import { FusedError, HttpError, UdfCancelledError, UdfRuntimeError } from "../errors.ts";
import { serve, withScope } from "./_test_util.ts";
import { Transport } from "./transport.ts";

const FAST = { requestRetryBaseDelay: 0.001, requestMaxRetries: 5, requestTimeout: 5 };

function json(value: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

Deno.test("the transport sends the bearer token and the default run headers", async () => {
  const server = serve(() => json({ ok: true }));
  try {
    await withScope(
      { ...FAST, defaultRunHeaders: { "X-Fused-Cache-Disable": "true" } },
      async () => {
        const transport = new Transport({ baseUrl: server.url, token: "tok123" });
        const value = await transport.json(z.object({ ok: z.boolean() }), "/user/self");
        assert.deepEqual(value, { ok: true });
        const request = server.requests[0];
        assert.equal(request.headers.get("authorization"), "Bearer tok123");
        assert.equal(request.headers.get("x-fused-cache-disable"), "true");
        assert.equal(new URL(request.url).pathname, "/user/self");
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("the transport retries 503 answers with backoff and returns the first success", async () => {
  const server = serve((_request, index) =>
    index < 2 ? new Response("busy", { status: 503 }) : json([1])
  );
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      assert.deepEqual(
        await transport.json(z.array(z.number()), "/x", { method: "POST", json: {} }),
        [1],
      );
      assert.equal(server.requests.length, 3);
      assert.ok(server.requests.every((r) => r.method === "POST"));
    });
  } finally {
    await server.close();
  }
});

Deno.test("the transport gives up after requestMaxRetries retries of a 502", async () => {
  const server = serve(() => json({ detail: "gateway down" }, 502));
  try {
    await withScope({ ...FAST, requestMaxRetries: 2 }, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      const err = await transport.fetch("/x").then(() => null, (e) => e);
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 502);
      assert.match(err.message, /gateway down/);
      assert.equal(server.requests.length, 3);
    });
  } finally {
    await server.close();
  }
});

Deno.test("the transport does not retry a 500", async () => {
  const server = serve(() => json({ message: "boom" }, 500));
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      await assert.rejects(transport.fetch("/x"), (err: HttpError) => {
        assert.equal(err.status, 500);
        assert.match(err.message, /HTTP 500: boom/);
        assert.equal(err.body, '{"message":"boom"}');
        return true;
      });
      assert.equal(server.requests.length, 1);
    });
  } finally {
    await server.close();
  }
});

Deno.test("the transport stops a request that takes longer than requestTimeout", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = serve(async () => {
    await released;
    return json({});
  });
  try {
    await withScope({ ...FAST, requestTimeout: 0.1 }, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      await assert.rejects(transport.fetch("/slow"), (err: FusedError) => {
        assert.ok(err instanceof FusedError);
        assert.match(err.message, /timed out after 0.1 s.*requestTimeout/);
        return true;
      });
      // A timeout is not retried: the service may still be working on the first request.
      assert.equal(server.requests.length, 1);
    });
  } finally {
    release();
    await server.close();
  }
});

/** A URL on 127.0.0.1 where nothing listens (connections are refused). */
function deadUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  // The transport leaves an unreachable base URL out for 30 s, module-wide: the path keeps a
  // later test's server, given the same port by the kernel, from being taken for this one.
  return `http://127.0.0.1:${port}/dead`;
}

/** Backoff so long that a request which waits at all is stopped by its 10 s signal. */
const NO_WAITING = { ...FAST, requestRetryBaseDelay: 600 };

Deno.test("a refused connection fails at once, without retries that wait", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await withScope(NO_WAITING, async () => {
    const transport = new Transport({ baseUrl: `http://127.0.0.1:${port}/v1`, token: "t" });
    await assert.rejects(
      transport.fetch("/user/self", { signal: AbortSignal.timeout(10_000) }),
      /Cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/user\/self.*baseUrl/,
    );
  });
});

Deno.test("with one service of the list down, requests go to the other without waiting", async () => {
  const dead = deadUrl();
  const b = serve(() => json({ at: "b" }));
  try {
    await withScope(NO_WAITING, async () => {
      const transport = new Transport({ baseUrl: [dead, b.url], token: "t" });
      const signal = AbortSignal.timeout(10_000);
      for (let i = 0; i < 4; i++) {
        const at = await transport.json(z.object({ at: z.string() }), "/user/self", { signal });
        assert.equal(at.at, "b");
      }
      // A refused connection sent nothing, so even a POST without a key goes on to B.
      await transport.fetch("/udf/new", { method: "POST", json: {}, signal });
      assert.equal(b.requests.length, 5);
    });
  } finally {
    await b.close();
  }
});

Deno.test("when every service of the list refuses, the request fails at once naming them", async () => {
  const [a, b] = [deadUrl(), deadUrl()];
  await withScope(NO_WAITING, async () => {
    const transport = new Transport({ baseUrl: [a, b], token: "t" });
    const err = await transport.fetch("/user/self", { signal: AbortSignal.timeout(10_000) })
      .then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof FusedError, String(err));
    assert.match(err.message, /Cannot reach any of/);
    assert.ok(err.message.includes(a) && err.message.includes(b), err.message);
  });
});

Deno.test("a service that drops connections is left out of the list for a while", async () => {
  // Accepts connections and closes them at once: a network failure after connecting.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })();
  const b = serve(() => json({ at: "b" }));
  try {
    await withScope(NO_WAITING, async () => {
      // With a path, as deadUrl: a later server on this port is not left out with it.
      const dropping = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/dropping`;
      const transport = new Transport({ baseUrl: [dropping, b.url], token: "t" });
      const signal = AbortSignal.timeout(10_000);
      for (let i = 0; i < 4; i++) {
        await transport.json(z.object({ at: z.string() }), "/user/self", { signal });
      }
      assert.equal(b.requests.length, 4);
      assert.equal(accepted, 1);
    });
  } finally {
    listener.close();
    await accepting.catch(() => {});
    await b.close();
  }
});

Deno.test("a 503 sends requests safe to repeat to the next service, other POSTs stay", async () => {
  const a = serve(() => new Response("down", { status: 503 }));
  const b = serve(() => json({ at: "b" }));
  try {
    await withScope({ ...FAST, requestMaxRetries: 2 }, async () => {
      const transport = new Transport({ baseUrl: [a.url, b.url], token: "t" });
      const keyed = { "Idempotency-Key": "k1" };
      await transport.fetch("/run", { method: "POST", json: {}, headers: keyed });
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
      assert.equal(b.requests[0].headers.get("idempotency-key"), "k1");
      // Without a key, a POST that reached a service may have done something: never elsewhere.
      const fresh = new Transport({ baseUrl: [a.url, b.url], token: "t" });
      await assert.rejects(fresh.fetch("/udf/new", { method: "POST", json: {} }), /HTTP 503/);
      assert.equal(a.requests.length, 1 + 3);
      assert.equal(b.requests.length, 1);
    });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("when every service of the list answers 503, backoff grows per round, not per try", async () => {
  const a = serve(() => new Response("down", { status: 503 }));
  const b = serve(() => new Response("down", { status: 503 }));
  try {
    // The default backoff (1 s, 5 retries): rounds A B, 1 s, A B, 2 s, A B = 3 s of waiting.
    // Per attempt (1 service's schedule) it was 2 + 8 s: past the caller's 6 s limit.
    await withScope({ ...FAST, requestRetryBaseDelay: 1 }, async () => {
      const transport = new Transport({ baseUrl: [a.url, b.url], token: "t" });
      const signal = AbortSignal.timeout(6_000);
      await assert.rejects(transport.fetch("/user/self", { signal }), /HTTP 503/);
      assert.equal(a.requests.length, 3);
      assert.equal(b.requests.length, 3);
    });
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a failed UDF run becomes a UdfRuntimeError with the logs and line", async () => {
  const meta = {
    stdout: "starting\n",
    stderr: "warn\n",
    has_exception: true,
    exception_class: "TypeError",
    errormsg: "x is not a function",
    lineno: 3,
    line: "  x();",
  };
  const server = serve(() =>
    json({ detail: "UDF failed" }, 422, { "x-fused-metadata": JSON.stringify(meta) })
  );
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      await assert.rejects(
        transport.fetch("/run", { udfName: "hello" }),
        (err: UdfRuntimeError) => {
          assert.ok(err instanceof UdfRuntimeError);
          assert.equal(err.udfName, "hello");
          assert.equal(err.lineno, 3);
          assert.equal(err.exceptionClass, "TypeError");
          assert.deepEqual(err.logs, { stdout: "starting\n", stderr: "warn\n" });
          assert.match(err.message, /line 3: x\(\);.*x is not a function/);
          return true;
        },
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("an answer of the wrong shape is refused with the route and the field", async () => {
  const server = serve(() => json({ email: 42 }));
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      await assert.rejects(
        transport.json(z.object({ email: z.string() }), "/user/self"),
        /\/user\/self answered an unexpected shape \(email: /,
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("a request that needs a token fails clearly when not logged in", async () => {
  const server = serve(() => json({}));
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: server.url });
      await assert.rejects(transport.fetch("/user/self"), /Not logged in: call fused\.api\.login/);
      assert.equal(server.requests.length, 0);
      // Optional auth goes out without a header.
      await transport.fetch("/files/list", { auth: "optional" });
      assert.equal(server.requests[0].headers.get("authorization"), null);
    });
  } finally {
    await server.close();
  }
});

Deno.test("FUSED_AUTH_TOKEN is used before the credentials file", async () => {
  const server = serve(() => json({}));
  try {
    await withScope(FAST, async (home) => {
      await Deno.writeTextFile(`${home}/credentials`, JSON.stringify({ access_token: "fromfile" }));
      const transport = new Transport({ baseUrl: server.url });
      await transport.fetch("/a");
      Deno.env.set("FUSED_AUTH_TOKEN", "fromenv");
      await transport.fetch("/b");
      assert.equal(server.requests[0].headers.get("authorization"), "Bearer fromfile");
      assert.equal(server.requests[1].headers.get("authorization"), "Bearer fromenv");
    });
  } finally {
    await server.close();
  }
});

Deno.test("a UDF run cancelled through its signal becomes a UdfCancelledError", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = serve(async () => {
    await released;
    return json({});
  });
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      const controller = new AbortController();
      const pending = transport.fetch("/run", { udfName: "slow", signal: controller.signal });
      controller.abort("user stop");
      await assert.rejects(pending, (err: Error) => {
        assert.ok(err instanceof UdfCancelledError);
        assert.match(err.message, /"slow" was cancelled: user stop/);
        return true;
      });
    });
  } finally {
    release();
    await server.close();
  }
});

Deno.test("a list of base URLs sends requests to each service in turn", async () => {
  const a = serve(() => json({ at: "a" }));
  const b = serve(() => json({ at: "b" }));
  try {
    await withScope(FAST, async () => {
      const transport = new Transport({ baseUrl: [a.url, `${b.url}/`], token: "t" });
      const seen = [];
      for (let i = 0; i < 4; i++) {
        seen.push((await transport.json(z.object({ at: z.string() }), "/user/self")).at);
      }
      assert.deepEqual(seen, ["a", "b", "a", "b"]);
    });
    await withScope({ ...FAST, baseUrl: [a.url, b.url] }, () => {
      const transport = new Transport({ token: "t" });
      assert.deepEqual([transport.baseUrl, transport.baseUrl, transport.baseUrl], [
        a.url,
        b.url,
        a.url,
      ]);
      return Promise.resolve();
    });
  } finally {
    await a.close();
    await b.close();
  }
});

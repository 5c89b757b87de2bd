import assert from "node:assert/strict";
import type * as arrow from "apache-arrow";
import { CorruptDataError, UnsupportedResultError } from "./errors.ts";
import { Raster } from "./raster.ts";
import { fromTransferable, toTransferable, type TransferMessage } from "./transfer.ts";

/** Sends one request to a fresh test Worker and collects its replies (bounded in count and time). */
async function askWorker(kind: string, replies: number): Promise<unknown[]> {
  const worker = new Worker(new URL("./testdata/transfer_worker.ts", import.meta.url), {
    type: "module",
  });
  const got: unknown[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the test Worker did not answer within 20 s")),
        20_000,
      );
      worker.onmessage = (e) => {
        got.push(e.data);
        if (got.length >= replies || (e.data as { ok?: boolean }).ok === false) {
          clearTimeout(timer);
          resolve();
        }
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        reject(e.error ?? new Error(e.message));
      };
      worker.postMessage(kind);
    });
  } finally {
    worker.terminate();
  }
  return got;
}

Deno.test("a table crosses a real Worker boundary as Arrow IPC with its values", async () => {
  const [reply] = await askWorker("table", 2) as [{ message: TransferMessage }];
  assert.equal(reply.message.kind, "table");
  const t = await fromTransferable(reply.message) as arrow.Table;
  assert.deepEqual([...t.getChild("id")!.toArray()], [1, 2, 3]);
  assert.deepEqual(t.getChild("cat")!.toArray(), ["a", "b", "a"]);
});

Deno.test("a raster crosses a real Worker boundary by transfer, leaving the sender's array detached", async () => {
  const [reply, after] = await askWorker("raster", 2) as [
    { message: TransferMessage },
    { detached: boolean },
  ];
  const r = await fromTransferable(reply.message) as Raster;
  assert.ok(r instanceof Raster);
  assert.deepEqual([...r.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(r.shape, [2, 3]);
  assert.deepEqual(r.bounds, [0, 1, 2, 3]);
  assert.equal(after.detached, true);
});

Deno.test("a record of results crosses a real Worker boundary entry by entry", async () => {
  const [reply] = await askWorker("multi", 2) as [{ message: TransferMessage }];
  const back = await fromTransferable(reply.message) as Record<string, unknown>;
  assert.equal((back.t as arrow.Table).getChild("x")!.get(0), 0.5);
  assert.deepEqual((back.r as Raster).shape, [2, 2]);
  assert.equal(back.n, 1);
});

Deno.test("an unsupported value is refused inside the Worker with a clear message", async () => {
  const [reply] = await askWorker("map", 1) as [{ ok: boolean; name: string; error: string }];
  assert.equal(reply.ok, false);
  assert.equal(reply.name, "UnsupportedResultError");
  assert.match(reply.error, /Map \(convert it with Object\.fromEntries\(map\)\).*a UDF may return/);
});

Deno.test("copy: true keeps the sender's raster usable", async () => {
  const r = Raster.from(Uint16Array.from([1, 2, 3, 4]), [2, 2]);
  const { message, transfer } = await toTransferable(r, { copy: true });
  const back = await fromTransferable(structuredClone(message, { transfer })) as Raster;
  assert.deepEqual([...back.data], [1, 2, 3, 4]);
  assert.deepEqual([...r.data], [1, 2, 3, 4]);
});

Deno.test("a view on a larger buffer is copied, not the whole buffer transferred", async () => {
  const big = new Float64Array(100);
  const r = Raster.from(big.subarray(10, 14), [2, 2]);
  const { transfer } = await toTransferable(r);
  assert.equal(transfer[0].byteLength, 32);
  assert.equal(big.byteLength, 800, "the original buffer is not detached");
});

Deno.test("JSON, strings, bytes and null pass through", async () => {
  const make = () => [{ a: [1, "x"] }, "text", Uint8Array.from([9]), null];
  const expected = make();
  for (const [i, value] of make().entries()) {
    const { message, transfer } = await toTransferable(value);
    assert.deepEqual(await fromTransferable(structuredClone(message, { transfer })), expected[i]);
  }
});

Deno.test("unsupported values are refused before anything is sent", async () => {
  await assert.rejects(() => toTransferable({ f: () => 1 }), UnsupportedResultError);
  await assert.rejects(() => fromTransferable({ kind: "nope" } as never), CorruptDataError);
});

Deno.test("the transfer path statically imports no npm package (apache-arrow loads on demand)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("./transfer.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { specifier: string; code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
    redirects: Record<string, string>;
  };
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [graph.roots[0]];
  while (stack.length) {
    const spec = stack.pop()!;
    const resolved = graph.redirects[spec] ?? spec;
    if (seen.has(resolved)) continue;
    seen.add(resolved);
    for (const dep of bySpecifier.get(resolved)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) stack.push(dep.code.specifier);
    }
  }
  const npm = [...seen].filter((s) => !s.startsWith("file:"));
  assert.deepEqual(npm, [], `static imports reach ${npm.join(", ")}`);
  assert.ok(seen.size >= 4, "the walk found the transfer module's own files");
});

Deno.test("a UDF's { data: Float32Array, shape } crosses as a raster, bounds included", async () => {
  const value = { data: new Float32Array(12).fill(0.5), shape: [3, 4], bounds: [0, 0, 4, 3] };
  const { message, transfer } = await toTransferable(value);
  const back = await fromTransferable(structuredClone(message, { transfer }));
  assert.ok(back instanceof Raster);
  assert.deepEqual([back.dtype, back.height, back.width, back.bounds], [
    "float32",
    3,
    4,
    [0, 0, 4, 3],
  ]);
});

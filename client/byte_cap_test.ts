import assert from "node:assert/strict";
import { byteCap } from "./byte_cap.ts";

const chunks = (...sizes: number[]) => ReadableStream.from(sizes.map((n) => new Uint8Array(n)));

Deno.test("byteCap passes a stream up to its cap whole", async () => {
  const out = await new Response(chunks(3, 2).pipeThrough(byteCap(5, () => new Error("over"))))
    .arrayBuffer();
  assert.equal(out.byteLength, 5);
});

Deno.test("byteCap fails past its cap with the count seen, forwarding nothing of that chunk", async () => {
  const got: number[] = [];
  const sink = new WritableStream<Uint8Array>({ write: (chunk) => void got.push(chunk.length) });
  await assert.rejects(
    () => chunks(3, 2, 1).pipeThrough(byteCap(5, (seen) => new RangeError(`${seen}`))).pipeTo(sink),
    (err: unknown) => err instanceof RangeError && err.message === "6",
  );
  assert.deepEqual(got, [3, 2]);
});

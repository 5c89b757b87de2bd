/**
 * The frames between the executor and its UDF processes (engine/_frames.ts), over a real unix
 * socket pair: what is written is read back whole, and a frame over the caps is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeFrame, type Frame, FrameError, readFrames, writeAll } from "./_frames.ts";

/** A connected unix socket pair in a temporary folder; `close` removes it. */
async function socketPair(): Promise<{ a: Deno.Conn; b: Deno.Conn; close(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "frames_test_" });
  const listener = Deno.listen({ transport: "unix", path: join(dir, "s") });
  const [a, b] = await Promise.all([
    listener.accept(),
    Deno.connect({ transport: "unix", path: join(dir, "s") }),
  ]);
  listener.close();
  return {
    a,
    b,
    async close() {
      a.close();
      try {
        b.close();
      } catch {
        // closed by the reader already
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const LIMITS = { maxHeaderBytes: 1 << 20, maxBodyBytes: 1 << 24 };

Deno.test("a frame's header is its JSON, multi-byte characters included", async () => {
  const header = { type: "result", text: "Zürich 東京 🗺️", n: [1, 2.5, null] };
  const frame = encodeFrame(header);
  const length = new DataView(frame.buffer, frame.byteOffset).getUint32(0, true);
  assert.equal(length, new TextEncoder().encode(JSON.stringify(header)).byteLength);
  assert.equal(frame.byteLength, 8 + length);
  const pair = await socketPair();
  try {
    await writeAll(pair.a, frame);
    pair.a.close();
    const frames: Frame[] = [];
    for await (const f of readFrames(pair.b, LIMITS)) frames.push(f);
    assert.deepEqual(frames.map((f) => f.header), [header]);
    assert.equal(frames[0].body.byteLength, 0);
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("body parts arrive concatenated, frame after frame", async () => {
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  const pair = await socketPair();
  try {
    const sent = [
      encodeFrame({ id: 1 }, [new Uint8Array([1, 2]), new Uint8Array([3])]),
      encodeFrame({ id: 2, note: "é" }, [big]),
      encodeFrame({ id: 3 }),
    ];
    const writing = (async () => {
      for (const frame of sent) await writeAll(pair.a, frame);
      pair.a.close();
    })();
    const frames: Frame[] = [];
    for await (const f of readFrames(pair.b, LIMITS)) frames.push(f);
    await writing;
    assert.deepEqual(frames.map((f) => f.header), [{ id: 1 }, { id: 2, note: "é" }, { id: 3 }]);
    assert.deepEqual([...frames[0].body], [1, 2, 3]);
    assert.deepEqual(frames[1].body, big);
    assert.equal(frames[2].body.byteLength, 0);
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("frames split over many small writes are read whole", async () => {
  const pair = await socketPair();
  try {
    const bytes = new Uint8Array([
      ...encodeFrame({ id: 1, text: "première" }, [new Uint8Array([7, 8, 9])]),
      ...encodeFrame({ id: 2 }),
    ]);
    const writing = (async () => {
      // Three bytes at a time, each after the reader had a chance to read what came before.
      for (let at = 0; at < bytes.byteLength; at += 3) {
        await writeAll(pair.a, bytes.subarray(at, at + 3));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      pair.a.close();
    })();
    const frames: Frame[] = [];
    for await (const f of readFrames(pair.b, LIMITS)) frames.push(f);
    await writing;
    assert.deepEqual(frames.map((f) => f.header), [{ id: 1, text: "première" }, { id: 2 }]);
    assert.deepEqual([...frames[0].body], [7, 8, 9]);
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("a body over the cap is refused before it is read", async () => {
  const pair = await socketPair();
  try {
    await writeAll(pair.a, encodeFrame({ id: 1 }, [new Uint8Array(100)]));
    const reading = (async () => {
      for await (const _ of readFrames(pair.b, { maxHeaderBytes: 1 << 10, maxBodyBytes: 99 })) {
        // nothing arrives
      }
    })();
    await assert.rejects(reading, (err) => {
      assert.ok(err instanceof FrameError);
      assert.match(err.message, /body of 100 bytes over the cap of 99/);
      return true;
    });
  } finally {
    await pair.close().catch(() => {});
  }
});

/**
 * The frames between the executor and its UDF processes (engine/_frames.ts), over a real unix
 * socket pair: what is written is read back whole and in order, and a frame over the caps is
 * refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FrameError, FrameWriter, readFrames } from "./_frames.ts";

/** A frame's bytes, encoded here as the format says (not by the module under test). */
function encodeFrame(header: unknown, parts: Uint8Array[] = []): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const bodyLength = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(8 + head.byteLength + bodyLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, head.byteLength, true);
  view.setUint32(4, bodyLength, true);
  out.set(head, 8);
  let at = 8 + head.byteLength;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

interface Frame {
  header: Record<string, unknown>;
  body: Uint8Array;
}

/** Every frame until the other side closes. */
async function readAll(conn: Deno.Conn): Promise<Frame[]> {
  const frames: Frame[] = [];
  await readFrames(conn, LIMITS, (header, body) => frames.push({ header, body }));
  return frames;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) done += await conn.write(bytes.subarray(done));
}

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
      for (const conn of [a, b]) {
        try {
          conn.close();
        } catch {
          // closed by the test or the reader already
        }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const LIMITS = { maxHeaderBytes: 1 << 20, maxBodyBytes: 1 << 24 };

Deno.test("a frame's header is its JSON, multi-byte characters included", async () => {
  const header = { type: "result", text: "Zürich 東京 🗺️", n: [1, 2.5, null] };
  const pair = await socketPair();
  try {
    new FrameWriter(pair.a, (err) => assert.fail(err)).send(header);
    // The bytes as the format says: the header's UTF-8 length, no body, the header.
    const expected = encodeFrame(header);
    const bytes: number[] = [];
    const chunk = new Uint8Array(1024);
    while (bytes.length < expected.byteLength) {
      const n = await pair.b.read(chunk);
      if (n === null) break;
      bytes.push(...chunk.subarray(0, n));
    }
    assert.deepEqual(new Uint8Array(bytes), expected);
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("a frame's header is read back as the JSON object it was", async () => {
  const header = { type: "result", text: "Zürich 東京 🗺️", n: [1, 2.5, null] };
  const pair = await socketPair();
  try {
    await writeAll(pair.a, encodeFrame(header));
    pair.a.close();
    const frames = await readAll(pair.b);
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
    const frames = await readAll(pair.b);
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
    const frames = await readAll(pair.b);
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
    const seen: unknown[] = [];
    const reading = readFrames(
      pair.b,
      { maxHeaderBytes: 1 << 10, maxBodyBytes: 99 },
      (header) => seen.push(header),
    );
    await assert.rejects(reading, (err) => {
      assert.ok(err instanceof FrameError);
      assert.match(err.message, /body of 100 bytes over the cap of 99/);
      return true;
    });
    assert.deepEqual(seen, []);
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("a writer sends frames in order, each whole, while earlier ones are still written", async () => {
  const pair = await socketPair();
  try {
    const writer = new FrameWriter(pair.a, (err) => assert.fail(err));
    const frames: Frame[] = [];
    let arrived = (_: number) => {};
    const reading = readFrames(pair.b, LIMITS, (header, body) => {
      frames.push({ header, body });
      arrived(frames.length);
    });
    const count = (n: number) =>
      new Promise<void>((resolve) => {
        arrived = (got) => got === n && resolve();
        arrived(frames.length);
      });
    // Sent at once: all but the first queue behind a write in flight, and a large one takes
    // many writes. Each must arrive as it was when sent, none overwritten by the next.
    const big = new Uint8Array(2_000_000).map((_, i) => i % 253);
    for (let id = 0; id < 50; id++) {
      const parts = id === 10 ? [big] : [new Uint8Array([id, id + 1])];
      writer.send({ id, text: "x".repeat(id * 100) }, parts);
    }
    await count(50);
    // And again once idle, through the buffer it keeps for that.
    writer.sendJson(`{"id":50,"text":"é"}`, [new Uint8Array([9])]);
    await count(51);
    pair.a.close();
    await reading;
    assert.deepEqual(frames.map((f) => f.header.id), [...Array(51).keys()]);
    for (const [id, frame] of frames.entries()) {
      if (id === 50) {
        assert.deepEqual(frame.header, { id: 50, text: "é" });
        assert.deepEqual([...frame.body], [9]);
      } else {
        assert.equal(frame.header.text, "x".repeat(id * 100));
        assert.deepEqual(frame.body, id === 10 ? big : new Uint8Array([id, id + 1]));
      }
    }
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("a writer whose connection failed says so once and writes nothing after", async () => {
  const pair = await socketPair();
  try {
    const errors: Error[] = [];
    let failed = () => {};
    const writer = new FrameWriter(pair.a, (err) => {
      errors.push(err);
      failed();
    });
    pair.a.close();
    await new Promise<void>((resolve) => {
      failed = resolve;
      writer.send({ id: 1 });
      writer.send({ id: 2 }); // queued behind the failing one: dropped with it
    });
    writer.send({ id: 3 }); // after the failure: dropped
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Error);
  } finally {
    await pair.close().catch(() => {});
  }
});

Deno.test("turnsBeforeRead lets a frame's work of that many microtask turns finish before the next frame", async () => {
  const pair = await socketPair();
  try {
    // Both frames in one write: without the turns the second is handed over at once.
    await writeAll(pair.a, new Uint8Array([...encodeFrame({ n: 1 }), ...encodeFrame({ n: 2 })]));
    await pair.a.closeWrite();
    const seen: string[] = [];
    const work = async (n: unknown) => {
      await undefined;
      await undefined;
      await undefined;
      seen.push(`answered ${n}`);
    };
    await readFrames(pair.b, LIMITS, (header) => {
      seen.push(`frame ${header.n}`);
      void work(header.n);
    }, 3);
    assert.deepEqual(seen, ["frame 1", "answered 1", "frame 2", "answered 2"]);
  } finally {
    await pair.close();
  }
});

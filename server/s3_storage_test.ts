/**
 * The `Storage` contract on both stores (a local folder, and S3 through s3rver from
 * tests/_s3.ts), then what only the S3 store does: multipart streaming, ranged reads, presigned
 * URLs, invisible partial uploads and clear errors when the store cannot be used.
 */
import assert from "node:assert/strict";
import { createBucket, s3Env, startS3, stopS3 } from "../tests/_s3.ts";
import { BackendUnavailableError } from "./backend_errors.ts";
import { parseS3Url, S3Storage } from "./s3_storage.ts";
import {
  FileNotFoundError,
  LocalStorage,
  RangeNotSatisfiableError,
  type Storage,
  TooLargeError,
} from "./storage.ts";

const text = (s: string) => ReadableStream.from([new TextEncoder().encode(s)]);
const readAll = async (body: ReadableStream<Uint8Array>) => await new Response(body).text();

async function s3Store(prefix = "root/sub"): Promise<S3Storage> {
  const env = await s3Env();
  return new S3Storage(`s3://${await createBucket("storage")}/${prefix}`, {
    client: {
      endpoint: env.AWS_ENDPOINT_URL,
      region: env.AWS_REGION,
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      },
    },
  });
}

const STORES: { name: string; open(): Promise<{ store: Storage; done(): Promise<void> }> }[] = [
  {
    name: "local folder",
    open: async () => {
      const dir = await Deno.makeTempDir();
      return {
        store: new LocalStorage(dir),
        done: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
  {
    name: "S3",
    open: async () => {
      const store = await s3Store();
      return { store, done: () => Promise.resolve(store.close()) };
    },
  },
];

for (const { name, open } of STORES) {
  const test = (title: string, fn: (store: Storage) => Promise<void>) =>
    Deno.test(`${name}: ${title}`, async () => {
      const { store, done } = await open();
      try {
        await fn(store);
      } finally {
        await done();
      }
    });

  test("a written file lists, stats and reads back, and its folder lists", async (s) => {
    const info = await s.write("a/b.txt", text("hello"));
    assert.equal(info.size, 5);
    assert.deepEqual((await s.list("")).map((f) => [f.key, f.isDirectory]), [["a", true]]);
    const [file] = await s.list("a");
    assert.deepEqual([file.key, file.isDirectory, file.size], ["a/b.txt", false, 5]);
    assert.ok(file.lastModified instanceof Date);
    assert.equal((await s.stat("a"))?.isDirectory, true);
    assert.equal((await s.stat("a/b.txt"))?.size, 5);
    assert.equal(await s.stat("nothing"), null);
    assert.equal(await readAll((await s.read("a/b.txt")).body), "hello");
    await assert.rejects(s.read("a"), FileNotFoundError);
    await assert.rejects(s.read("missing.txt"), FileNotFoundError);
    await assert.rejects(s.list("missing"), FileNotFoundError);
  });

  test("a write over the byte limit is refused and leaves nothing", async (s) => {
    await assert.rejects(
      s.write("big.bin", text("x".repeat(100)), { maxBytes: 10 }),
      TooLargeError,
    );
    assert.deepEqual(await s.list(""), []);
  });

  test("a write replaces a file, and a folder cannot be written over", async (s) => {
    await s.write("f/x.txt", text("one"));
    await s.write("f/x.txt", text("two"));
    assert.equal(await readAll((await s.read("f/x.txt")).body), "two");
    await assert.rejects(s.write("f", text("no")), /is a folder/);
  });

  test("a ranged read gives only the bytes asked for", async (s) => {
    await s.write("r.txt", text("0123456789"));
    const mid = await s.read("r.txt", { range: { start: 5, end: 9 } });
    assert.equal(mid.size, 5);
    assert.deepEqual(mid.range, { start: 5, end: 9, total: 10 });
    assert.equal(await readAll(mid.body), "56789");
    assert.equal(await readAll((await s.read("r.txt", { range: { start: 7 } })).body), "789");
    const past = await s.read("r.txt", { range: { start: 8, end: 100 } });
    assert.deepEqual([await readAll(past.body), past.range?.end], ["89", 9]);
    await assert.rejects(s.read("r.txt", { range: { start: 10 } }), RangeNotSatisfiableError);
  });

  test("walk yields every file under a folder", async (s) => {
    for (const k of ["w/1.txt", "w/d/2.txt", "w/d/e/3.txt", "other.txt"]) await s.write(k, text(k));
    const keys = [];
    for await (const f of s.walk("w")) keys.push(f.key);
    assert.deepEqual(keys.sort(), ["w/1.txt", "w/d/2.txt", "w/d/e/3.txt"]);
  });

  test("deleting a folder deeper than max_depth is refused", async (s) => {
    await s.write("d/e/f/g.txt", text("x"));
    await assert.rejects(s.delete("d", { maxDepth: 2 }), /3 levels deep/);
    assert.ok(await s.stat("d/e/f/g.txt"));
    assert.equal(await s.delete("d", { maxDepth: 3 }), true);
    assert.equal(await s.stat("d"), null);
    assert.equal(await s.delete("d"), false);
    await s.write("one.txt", text("x"));
    assert.equal(await s.delete("one.txt"), true);
    assert.equal(await s.stat("one.txt"), null);
  });
}

Deno.test("S3: storage URLs name a bucket and a prefix, and bad ones are refused", () => {
  assert.deepEqual(parseS3Url("s3://my-bucket/a/b/"), { bucket: "my-bucket", prefix: "a/b/" });
  assert.deepEqual(parseS3Url("s3://my-bucket"), { bucket: "my-bucket", prefix: "" });
  assert.throws(() => parseS3Url("http://x/y"), /write it as s3:\/\/BUCKET\/PREFIX/);
  assert.throws(() => parseS3Url("s3://b-1/../x"), /"\.\." segment/);
});

Deno.test("S3: the store keeps its files under its prefix and sees nothing outside it", async () => {
  const store = await s3Store("team/a");
  const env = await s3Env();
  const sibling = new S3Storage(`s3://${store.bucket}/team`, {
    client: {
      endpoint: env.AWS_ENDPOINT_URL,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    },
  });
  try {
    await store.write("x.txt", text("x"));
    assert.deepEqual((await sibling.list("")).map((f) => f.key), ["a"]);
    assert.deepEqual((await sibling.list("a")).map((f) => f.key), ["a/x.txt"]);
  } finally {
    store.close();
    sibling.close();
  }
});

Deno.test("S3: a 40 MB upload streams in parts and reads back byte for byte", async () => {
  const store = await s3Store();
  try {
    const chunk = new Uint8Array(1 << 20);
    let produced = 0;
    const size = 40 << 20;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= size) return controller.close();
        chunk.fill(produced / (1 << 20));
        controller.enqueue(chunk.slice());
        produced += chunk.byteLength;
      },
    });
    const info = await store.write("big/file.bin", body);
    assert.equal(info.size, size);
    const { body: back, size: got } = await store.read("big/file.bin");
    assert.equal(got, size);
    let offset = 0;
    for await (const part of back) {
      for (let i = 0; i < part.byteLength; i += 4096) {
        assert.equal(part[i], Math.floor((offset + i) / (1 << 20)) % 256);
      }
      offset += part.byteLength;
    }
    assert.equal(offset, size);
  } finally {
    store.close();
  }
});

Deno.test("S3: a presigned URL reads the file with a plain fetch", async () => {
  const store = await s3Store();
  try {
    await store.write("s/a.txt", text("signed"));
    const url = await store.signUrl("s/a.txt", 60);
    assert.match(url, /X-Amz-Signature=/);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "signed");
  } finally {
    store.close();
  }
});

Deno.test("S3: an upload that fails half-way leaves no object behind", async () => {
  const store = await s3Store();
  try {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // 20 MiB (two parts and a half), then the client goes away.
        if (sent >= 20 << 20) return controller.error(new Error("client disconnected"));
        controller.enqueue(new Uint8Array(1 << 20));
        sent += 1 << 20;
      },
    });
    await assert.rejects(store.write("half/upload.bin", body), /client disconnected/);
    assert.equal(await store.stat("half/upload.bin"), null);
    assert.deepEqual(await store.list(""), []);
  } finally {
    store.close();
  }
});

Deno.test("S3: a path through an existing file is refused", async () => {
  const store = await s3Store();
  try {
    await store.write("demo/hello.txt", text("x"));
    await assert.rejects(store.write("demo/hello.txt/child.txt", text("y")), /is a file/);
  } finally {
    store.close();
  }
});

Deno.test("S3: an unreachable store, a missing bucket and a wrong key fail clearly, and it recovers", async () => {
  const store = await s3Store();
  const env = await s3Env();
  const wrongKey = new S3Storage(`s3://${store.bucket}/x`, {
    client: {
      endpoint: env.AWS_ENDPOINT_URL,
      credentials: { accessKeyId: "NOT-A-KEY", secretAccessKey: "x" },
    },
  });
  const noBucket = new S3Storage(`s3://no-such-bucket-${crypto.randomUUID().slice(0, 8)}/x`, {
    client: {
      endpoint: env.AWS_ENDPOINT_URL,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    },
  });
  const clear = (pattern: RegExp) => (e: Error) => {
    assert.ok(e instanceof BackendUnavailableError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  };
  try {
    await assert.rejects(wrongKey.check(), clear(/refused the credentials \(InvalidAccessKeyId/));
    await assert.rejects(noBucket.check(), clear(/The bucket "no-such-bucket-.*" does not exist/));
    await store.write("k.txt", text("kept"));
    await stopS3();
    try {
      await assert.rejects(store.stat("k.txt"), clear(/^Cannot reach the object store s3:\/\//));
    } finally {
      await startS3();
    }
    assert.equal(await readAll((await store.read("k.txt")).body), "kept");
  } finally {
    store.close();
    wrongKey.close();
    noBucket.close();
  }
});

Deno.test("S3: a folder that holds only folders lists beside the files", async () => {
  const store = await s3Store();
  try {
    await store.write("jobs/a/0.json", text("1"));
    await store.write("jobs/b/0.json", text("2"));
    await store.write("top.txt", text("3"));
    assert.deepEqual((await store.list("")).map((f) => [f.key, f.isDirectory]), [
      ["jobs", true],
      ["top.txt", false],
    ]);
    assert.deepEqual((await store.list("jobs")).map((f) => f.key), ["jobs/a", "jobs/b"]);
  } finally {
    store.close();
  }
});

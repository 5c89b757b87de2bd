/**
 * The questions a batch job's process asks its runner for saved UDFs (_saved_calls.ts): they go
 * through files, are answered as the job's owner, and a run through a share token asks as that
 * token's UDF owner, never as anyone else.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FusedError } from "../../client/errors.ts";
import { udf } from "../../client/udf.ts";
import type { CallerContext } from "../../client/engine_types.ts";
import { ObjectCache } from "../object_cache.ts";
import { SqliteRegistry } from "../registry/sqlite.ts";
import { FileNotFoundError, LocalStorage, type Storage } from "../storage.ts";
import type { SavedUdf } from "../saved_udfs.ts";
import {
  answerSavedCalls,
  type CacheAnswers,
  findForJob,
  jobFinder,
  jobLedger,
  jobObjectCache,
  jobStorage,
  type JobTokens,
  type Ledger,
  type SavedCall,
  watchQuestions,
} from "./_saved_calls.ts";
import { TIMED_OUT, within } from "./_process.ts";
import { writeFileAtomic } from "../../client/atomic_write.ts";

function callerNamed(id: string): CallerContext {
  return { id, depth: 1 } as CallerContext;
}

/** Answers the folder's questions with `answer` (and `ledger`) until `work` settles. */
async function served<T>(
  dir: string,
  answer: (call: SavedCall) => Promise<SavedUdf>,
  work: Promise<T>,
  ledger?: Ledger,
  cache?: CacheAnswers,
  files?: Storage,
): Promise<T> {
  let done = false;
  const settled = work.finally(() => (done = true));
  settled.catch(() => {}); // awaited below, once the loop sees it settled
  while (!done) {
    await answerSavedCalls(dir, answer, ledger, cache, files);
    await new Promise((r) => setTimeout(r, 10));
  }
  return await settled;
}

Deno.test("a job's questions are answered through files, as its owner or a token's", async () => {
  const dir = await Deno.makeTempDir();
  const asked: SavedCall[] = [];
  const answer = (call: SavedCall): Promise<SavedUdf> => {
    asked.push(call);
    if (call.ref === "missing") throw new FusedError('No UDF "missing" of bob');
    const found = udf("export default () => 1", { name: call.ref.replace(/\W/g, "_") });
    return Promise.resolve(
      call.ref.startsWith("fsh_")
        ? { udf: found, actAs: "bob", cache: false, token: call.ref }
        : { udf: found, actAs: call.via ? "bob" : "alice", cache: true },
    );
  };
  const find = jobFinder(dir, "alice");
  try {
    const own = await served(dir, answer, find("roads", "load", callerNamed("alice")));
    assert.equal(own.udf.name, "roads");
    const token = await served(dir, answer, find("fsh_1234", "run", callerNamed("alice")));
    assert.deepEqual([token.actAs, token.cache], ["bob", false]);
    // The token's run acts as bob: its own questions name the token that made it so.
    await served(dir, answer, find("tiles", "load", callerNamed("bob")));
    assert.deepEqual(asked.at(-1), { ref: "tiles", purpose: "load", via: "fsh_1234" });
    await assert.rejects(
      served(dir, answer, find("missing", "load", callerNamed("bob"))),
      /No UDF "missing" of bob/,
    );
    await assert.rejects(find("roads", "load", callerNamed("mallory")), /only the job's owner/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no question or answer is left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a question through a share token is answered as its UDF's owner while enabled", async () => {
  const registry = new SqliteRegistry(":memory:");
  try {
    const alice = await registry.createUser({ email: "alice@example.com" });
    const bob = await registry.createUser({ email: "bob@example.com" });
    const body = (name: string) => JSON.stringify({ name, code: "export default () => 1" });
    const fields = { udfType: "auto", allowPublicRead: false, allowPublicList: false };
    const shared = await registry.createUdf(bob.id, { slug: "a", udfBody: body("a"), ...fields });
    await registry.createUdf(bob.id, { slug: "b", udfBody: body("b"), ...fields });
    const { token } = await registry.createShareToken(shared.id, bob.id);
    const asBob = await findForJob(registry, alice.id, { ref: "b", purpose: "load", via: token });
    assert.deepEqual([asBob.udf.name, asBob.actAs], ["b", bob.id]);
    await assert.rejects(
      findForJob(registry, alice.id, { ref: "b", purpose: "load" }),
      /The caller has no saved UDF "b"/,
    );
    await registry.updateShareToken(token, { enabled: false });
    await assert.rejects(
      findForJob(registry, alice.id, { ref: "b", purpose: "load", via: token }),
      /is disabled/,
    );
  } finally {
    await registry.close();
  }
});

Deno.test("a job's records of fd:// owners reach the service's registry through files", async () => {
  const dir = await Deno.makeTempDir();
  const registry = new SqliteRegistry(":memory:");
  const noUdfs = () => Promise.reject(new Error("not asked"));
  const ledger = jobLedger(dir, { id: "alice", storedBytes: 1000 });
  try {
    // What the owner holds is answered without a service: what they held, and the job's records.
    assert.equal(await ledger.storedBytes("alice"), 1000);
    await served(dir, noUdfs, ledger.recordFile("jobs/j1/0.json", "alice", 300), registry);
    await served(dir, noUdfs, ledger.recordFile("x.bin", "alice", 20), registry);
    assert.equal(await registry.storedBytes("alice"), 320);
    assert.equal(await ledger.storedBytes("alice"), 1320);
    assert.equal(await ledger.storedBytes("alice", "x.bin"), 1300);
    await served(dir, noUdfs, ledger.forgetFiles("jobs"), registry);
    assert.equal(await registry.storedBytes("alice"), 20);
    assert.equal(await ledger.storedBytes("alice"), 1020);
    // Another user's share (a share token's run acts as its UDF's owner) is asked.
    await registry.recordFile("b.bin", "bob", 7);
    assert.equal(await served(dir, noUdfs, ledger.storedBytes("bob"), registry), 7);
    // A runner that keeps no record refuses, and says so.
    await assert.rejects(
      served(dir, noUdfs, ledger.storedBytes("bob")),
      /keeps no record of fd:\/\/ owners/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no question or answer is left behind");
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** An entry's name: its folder's digest and its key's. */
const KEY = `${"0123456789abcdef".repeat(4)}/${"a".repeat(64)}`;
const noUdfs = () => Promise.reject(new Error("not asked"));

Deno.test("a job's cacheStorage \"object\" entries are the service's, as its owner or a token's", async () => {
  const dir = await Deno.makeTempDir();
  const calls = join(dir, "calls");
  const service = new ObjectCache(new LocalStorage(join(dir, "store")));
  const answers: CacheAnswers = {
    store: service,
    maxBytes: 8,
    // The runner resolves a token to its UDF's owner (findForJob's rule, tested above).
    actor: (via) => Promise.resolve(via === undefined ? "alice" : via === "fsh_b" ? "bob" : "?"),
  };
  const tokens: JobTokens = new Map();
  const cache = jobObjectCache(calls, "alice", tokens);
  try {
    assert.equal(
      await served(calls, noUdfs, cache.get("alice", KEY, 60), undefined, answers),
      null,
    );
    await served(
      calls,
      noUdfs,
      cache.put("alice", KEY, new Uint8Array([1, 2])),
      undefined,
      answers,
    );
    assert.deepEqual((await service.get("alice", KEY, 60))?.bytes, new Uint8Array([1, 2]));
    const back = await served(calls, noUdfs, cache.get("alice", KEY, 60), undefined, answers);
    assert.deepEqual(back?.bytes, new Uint8Array([1, 2]), "the service's entry, read back");
    // A share token's run acts as its UDF's owner: the question names the token, not a user.
    tokens.set("bob", "fsh_b");
    assert.equal(await served(calls, noUdfs, cache.get("bob", KEY, 60), undefined, answers), null);
    await served(calls, noUdfs, cache.put("bob", KEY, new Uint8Array([3])), undefined, answers);
    assert.deepEqual((await service.get("bob", KEY, 60))?.bytes, new Uint8Array([3]));
    await assert.rejects(cache.get("mallory", KEY, 60), /only the job's owner/);
    // Over the service's cap: refused, naming it; nothing written.
    await assert.rejects(
      served(calls, noUdfs, cache.put("alice", KEY, new Uint8Array(9)), undefined, answers),
      /\(9 bytes\) is larger than the limit of 8 bytes/,
    );
    assert.deepEqual((await service.get("alice", KEY, 60))?.bytes, new Uint8Array([1, 2]));
    // A runner with no object cache refuses, and says so.
    await assert.rejects(
      served(calls, noUdfs, cache.get("alice", KEY, 60)),
      /keeps no cacheStorage "object" entries/,
    );
    assert.deepEqual([...Deno.readDirSync(calls)], [], "no question, body or answer is left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a job's cache question with a bad key is refused before its body is read", async () => {
  const dir = await Deno.makeTempDir();
  const read: string[] = [];
  const answers: CacheAnswers = {
    store: {
      get: () => Promise.reject(new Error("never read")),
      put: () => Promise.reject(new Error("never written")),
    },
    maxBytes: 1024,
    actor: (via) => {
      read.push(`actor ${via}`);
      return Promise.resolve("alice");
    },
  };
  try {
    const cases: [string, unknown][] = [
      ["11111111-1111-1111-1111-111111111111", { cache: "put", key: "../bob/" + KEY }],
      ["22222222-2222-2222-2222-222222222222", { cache: "get", key: KEY.toUpperCase(), maxAge: 1 }],
      ["33333333-3333-3333-3333-333333333333", { cache: "get", key: KEY, maxAge: -1 }],
      ["44444444-4444-4444-4444-444444444444", { cache: "list", key: KEY }],
    ];
    for (const [id, call] of cases) {
      // A body that is a link: reading it would read another file.
      await Deno.symlink("/etc/passwd", join(dir, `${id}.bytes`));
      await Deno.writeTextFile(join(dir, `${id}.json`), JSON.stringify(call));
    }
    await answerSavedCalls(dir, noUdfs, undefined, answers);
    const replies = cases.map(([id]) =>
      JSON.parse(Deno.readTextFileSync(join(dir, `${id}.answer`)))
    );
    assert.deepEqual(replies.map((r) => r.ok), [false, false, false, false]);
    assert.match(replies[0].error.message, /two SHA-256 hex digests \(64 characters/);
    assert.match(replies[1].error.message, /two SHA-256 hex digests \(64 characters/);
    assert.match(replies[2].error.message, /max age in seconds/);
    assert.match(replies[3].error.message, /"get"\|"put"/);
    assert.deepEqual(read, [], "no actor was looked up for a refused question");
    const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(left, cases.map(([id]) => `${id}.answer`).sort(), "bodies removed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a job's fd:// calls are answered on the service's store, and a failed write leaves nothing", async () => {
  const dir = await Deno.makeTempDir();
  const calls = join(dir, "calls");
  const store = new LocalStorage(join(dir, "store"));
  const job = jobStorage(calls);
  const noUdfs = () => Promise.reject(new FusedError("no UDFs here"));
  const serve = <T>(work: Promise<T>) => served(calls, noUdfs, work, undefined, undefined, store);
  try {
    const bytes = new TextEncoder().encode("0123456789");
    const info = await serve(job.write("out/a.txt", ReadableStream.from([bytes])));
    assert.equal(info.size, 10);
    assert.ok(info.lastModified instanceof Date);
    assert.equal(await Deno.readTextFile(join(dir, "store", "out", "a.txt")), "0123456789");
    assert.deepEqual((await serve(job.list("out"))).map((f) => f.key), ["out/a.txt"]);
    assert.deepEqual((await serve(Array.fromAsync(job.walk("")))).map((f) => f.key), [
      "out/a.txt",
    ]);
    assert.equal((await serve(job.stat("out/a.txt")))?.size, 10);
    assert.equal(await serve(job.stat("out/b.txt")), null);
    const part = await serve(job.read("out/a.txt", { range: { start: 2, end: 4 } }));
    assert.deepEqual(part.range, { start: 2, end: 4, total: 10 });
    assert.equal(await new Response(part.body).text(), "234");
    await assert.rejects(serve(job.read("out/b.txt")), FileNotFoundError);

    // A body that fails midway (a quota passed, a UDF stopped) is never asked: nothing written.
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes);
        controller.error(new Error("stopped midway"));
      },
    });
    await assert.rejects(serve(job.write("out/c.txt", failing)), /stopped midway/);
    assert.equal(await store.stat("out/c.txt"), null);
    assert.deepEqual([...Deno.readDirSync(calls)], [], "no question or body left behind");

    assert.equal(await serve(job.delete("out", { maxDepth: null })), true);
    assert.equal(await store.stat("out/a.txt"), null);
    await serve(job.check());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a question put in a job's calls folder wakes the runner's watch; other files do not", async () => {
  const dir = await Deno.makeTempDir();
  const calls = join(dir, "calls"); // made by the watch
  const watch = await watchQuestions(calls);
  try {
    let woken = false;
    const next = watch.next().then(() => (woken = true));
    await writeFileAtomic(join(calls, `${crypto.randomUUID()}.answer`), "{}");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(woken, false, "an answer is no question");
    await writeFileAtomic(join(calls, `${crypto.randomUUID()}.json`), "{}");
    assert.notEqual(await within(next, 10_000), TIMED_OUT);
    // One seen while nobody waited is not lost: the next wait returns at once.
    await writeFileAtomic(join(calls, `${crypto.randomUUID()}.json`), "{}");
    await new Promise((r) => setTimeout(r, 200));
    assert.notEqual(await within(watch.next(), 10_000), TIMED_OUT);
  } finally {
    watch.close();
    await Deno.remove(dir, { recursive: true });
  }
});

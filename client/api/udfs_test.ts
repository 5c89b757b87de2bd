import assert from "node:assert/strict";
import { HttpError, ValidationError } from "../errors.ts";
import { load } from "../load.ts";
import { udf } from "../udf.ts";
import { join } from "node:path";
import { cache } from "../cache.ts";
import { options } from "../options.ts";
import { createUser, withService } from "./_test_util.ts";
import "./mod.ts";
import { remoteRun } from "./realtime.ts";
import {
  catalogUrl,
  createAccessToken,
  deleteCache,
  deleteObjectCache,
  deleteSaved,
  getAccessTokens,
  getSavedUdf,
  getUdfs,
  loadSavedUdf,
  toFused,
} from "./udfs.ts";

const CODE = "export default function udf({ n = 1 }) {\n  return { doubled: n * 2 };\n}\n";

Deno.test("toFused saves a UDF and records its id and slug in the metadata", async () => {
  await withService({}, async () => {
    const hello = udf(CODE, { name: "hello", metadata: { "fused:description": "doubles" } });
    const record = await toFused(hello);
    assert.equal(record.slug, "hello");
    assert.equal(hello.metadata?.["fused:id"], record.id);
    assert.equal(hello.metadata?.["fused:slug"], "hello");
    const saved = JSON.parse(record.udf_body);
    assert.equal(saved.code, CODE);
    // Where it is saved is not part of the saved body.
    assert.deepEqual(saved.metadata, { "fused:description": "doubles" });
  });
});

Deno.test("fused.load finds a saved UDF by name, handle/name, email/name, team/name and id", async () => {
  await withService({}, async () => {
    const record = await toFused(udf(CODE, { name: "finder" }));
    for (
      const ref of ["finder", "admin/finder", "admin@localhost/finder", "team/finder", record.id]
    ) {
      const found = await load(ref);
      assert.equal(found.name, "finder", ref);
      assert.equal(found.code, CODE, ref);
      assert.equal(found.metadata?.["fused:id"], record.id, ref);
    }
  });
});

Deno.test("loading an unknown UDF says it is not there", async () => {
  await withService({}, async () => {
    await assert.rejects(loadSavedUdf("admin/missing"), (err: HttpError) => {
      assert.ok(err instanceof HttpError);
      assert.equal(err.status, 404);
      assert.match(err.message, /No UDF "missing" of @admin/);
      return true;
    });
  });
});

Deno.test("a name clash is refused unless overwrite is given, which replaces the code", async () => {
  await withService({}, async () => {
    const first = await toFused(udf(CODE, { name: "clash" }));
    const second = udf(CODE.replace("n * 2", "n * 3"), { name: "clash" });
    await assert.rejects(toFused(second), (err: Error) => {
      assert.ok(err instanceof ValidationError);
      assert.match(err.message, /A UDF named "clash" is already saved: pass \{ overwrite: true \}/);
      return true;
    });
    const replaced = await toFused(second, { overwrite: true });
    assert.equal(replaced.id, first.id);
    assert.match((await loadSavedUdf("clash")).code, /n \* 3/);
  });
});

Deno.test("saving a loaded UDF again updates it in place", async () => {
  await withService({}, async () => {
    await toFused(udf(CODE, { name: "again" }));
    const loaded = await loadSavedUdf("again");
    loaded.parameters = { n: 5 };
    const record = await toFused(loaded);
    assert.equal(record.id, loaded.metadata?.["fused:id"]);
    assert.deepEqual((await loadSavedUdf("again")).parameters, { n: 5 });
  });
});

Deno.test("getUdfs lists your UDFs keyed by name, id or slug, and pages with n and skip", async () => {
  await withService({}, async () => {
    const ids: string[] = [];
    for (const name of ["a_one", "b_two", "c_three"]) {
      ids.push((await toFused(udf(CODE, { name }))).id);
    }
    const byName = await getUdfs();
    assert.deepEqual(Object.keys(byName).sort(), ["a_one", "b_two", "c_three"]);
    assert.equal(byName.b_two.code, CODE);
    assert.deepEqual(Object.keys(await getUdfs({ by: "id" })).sort(), [...ids].sort());
    assert.deepEqual(Object.keys(await getUdfs({ n: 2 })), ["a_one", "b_two"]);
    assert.deepEqual(Object.keys(await getUdfs({ skip: 2 })), ["c_three"]);
    assert.deepEqual(Object.keys(await getUdfs({ whose: "public" })), []);
    await assert.rejects(getUdfs({ whose: "nobody" as "self" }), /Unknown whose "nobody"/);
  });
});

Deno.test("another user cannot read a private UDF, and is told why", async () => {
  await withService({}, async (service) => {
    await toFused(udf(CODE, { name: "secret" }));
    Deno.env.set("FUSED_AUTH_TOKEN", await createUser(service, { email: "eve@example.com" }));
    await assert.rejects(getSavedUdf("admin/secret"), (err: HttpError) => {
      assert.equal(err.status, 403);
      assert.match(err.message, /is not shared with you/);
      return true;
    });
  });
});

Deno.test("deleteSaved removes the UDF and its id from the metadata", async () => {
  await withService({}, async () => {
    const gone = udf(CODE, { name: "gone" });
    await toFused(gone);
    await deleteSaved(gone);
    assert.equal(gone.metadata, null);
    await assert.rejects(loadSavedUdf("gone"), /HTTP 404/);
    await assert.rejects(
      deleteSaved(gone),
      /Cannot delete UDF "gone": it is not saved; call udf\.toFused\(\) first/,
    );
  });
});

Deno.test("createAccessToken and getAccessTokens share a saved UDF", async () => {
  await withService({}, async () => {
    const shared = udf(CODE, { name: "shared" });
    const other = udf(CODE, { name: "other" });
    await assert.rejects(createAccessToken(shared), /Cannot share UDF "shared": it is not saved/);
    await toFused(shared);
    await toFused(other);
    const token = await createAccessToken(shared);
    await createAccessToken(other);
    assert.match(token.token, /^fsh_/);
    assert.equal(token.udf_id, shared.metadata?.["fused:id"]);
    assert.equal(token.client_id, "local");
    assert.deepEqual((await getAccessTokens(shared)).map((t) => t.token), [token.token]);
    // Its owner can load the code behind the token; fused.load(token) goes here.
    const loaded = await loadSavedUdf(token.token);
    assert.equal(loaded.name, "shared");
    assert.equal(loaded.code, CODE);
  });
});

Deno.test("catalogUrl links a saved UDF and is null for an unsaved one", async () => {
  await withService({}, async (service) => {
    const linked = udf(CODE, { name: "linked" });
    assert.equal(catalogUrl(linked), null);
    const record = await toFused(linked);
    assert.equal(catalogUrl(linked), `${service.url}/workbench/catalog/linked-${record.id}`);
  });
});

Deno.test("deleteCache asks the service to forget the cached results of a saved UDF", async () => {
  await withService({}, async () => {
    const cached = udf(CODE, { name: "cached" });
    await assert.rejects(deleteCache(cached), /it is not saved/);
    await toFused(cached);
    const first = await remoteRun(cached, { parameters: { n: 2 } });
    const second = await remoteRun(cached, { parameters: { n: 2 } });
    assert.deepEqual([first.cached, second.cached], [false, true]);
    await deleteCache(cached);
    // The service's memory cache is cleared; its runner's disk cache still answers (see report).
    const third = await remoteRun(cached, { parameters: { n: 2 } });
    assert.deepEqual(third.data, { doubled: 4 });
  });
});

Deno.test("deleteObjectCache deletes the caller's object cache entries for every machine", async () => {
  await withService({}, async ({ dataDir }) => {
    let calls = 0;
    const square = cache((n: number) => (calls++, n * n), { cacheStorage: "object" });
    // Each "machine" has its own disk cache in front of the service's store.
    const onMachine = (name: string) => {
      options.cacheDirectory = join(dataDir, name); // withService restores it
      return square(4);
    };
    assert.equal(await onMachine("m1"), 16);
    assert.equal(await onMachine("m2"), 16);
    assert.equal(calls, 1, "the second machine read the first one's entry from the store");
    assert.equal(await deleteObjectCache(), true);
    assert.equal(await onMachine("m3"), 16);
    assert.equal(calls, 2, "gone from the store: computed again");
    assert.equal(await deleteObjectCache(), true);
    assert.equal(await deleteObjectCache(), false, "nothing left");
  });
});

Deno.test("deleteObjectCache({ folder }) and udf.deleteCache() delete one folder's object entries", async () => {
  await withService({}, async ({ dataDir }) => {
    let calls = 0;
    const inTmp = cache((n: number) => (calls++, n + 1), {
      cacheStorage: "object",
      cacheVerbose: false,
    });
    const named = udf("export default () => 1", { name: "obj_clear" });
    const inUdf = cache((n: number) => (calls++, n + 2), {
      cacheStorage: "object",
      cacheFolderPath: "udf/obj_clear",
      cacheVerbose: false,
    });
    let machine = 0;
    // Each call on a new "machine": an empty disk cache, so only the store can answer.
    const fresh = <T>(f: () => Promise<T>) => {
      options.cacheDirectory = join(dataDir, `m${machine++}`); // withService restores it
      return f();
    };
    assert.deepEqual([await fresh(() => inTmp(1)), await fresh(() => inUdf(1))], [2, 3]);
    assert.deepEqual([await fresh(() => inTmp(1)), await fresh(() => inUdf(1))], [2, 3]);
    assert.equal(calls, 2, "both read back from the store");

    // Logged in to the service, the UDF's clear reaches its folder on the store.
    await named.deleteCache();
    assert.equal(await fresh(() => inUdf(1)), 3);
    assert.equal(calls, 3, "the UDF's folder was cleared on the store: computed again");
    assert.equal(await fresh(() => inTmp(1)), 2);
    assert.equal(calls, 3, "the other folder's entry is still there");

    assert.equal(await deleteObjectCache({ folder: "tmp" }), true);
    assert.equal(await fresh(() => inTmp(1)), 2);
    assert.equal(calls, 4, "tmp was cleared: computed again");
    assert.equal(await fresh(() => inUdf(1)), 3);
    assert.equal(calls, 4, "the UDF's new entry is kept");
    assert.equal(await deleteObjectCache({ folder: "nothing/here" }), false);
  });
});

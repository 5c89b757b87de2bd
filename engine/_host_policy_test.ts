import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import { LOCAL_POLICY } from "../client/engine_types.ts";
import {
  checkFetch,
  downloadCap,
  fetchChecked,
  HostCallRefused,
  openInside,
  tooLarge,
  writeCapped,
} from "./_host_policy.ts";
import type { CallerContext } from "../client/engine_types.ts";
import { QuotaExceededError } from "../client/errors.ts";

const isPublicAddress = (address: string) => ipaddr.process(address).range() === "unicast";
const SERVICE = { ...LOCAL_POLICY, privateNetwork: "never" as const };

Deno.test("openInside reads files of the data folder and nothing a path or symlink leads to outside", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-policy-" });
  const data = join(root, "data");
  await Deno.mkdir(join(data, "sub"), { recursive: true });
  await Deno.writeTextFile(join(data, "sub", "a.txt"), "mine");
  await Deno.writeTextFile(join(root, "secret.txt"), "host secret");
  await Deno.symlink(join(root, "secret.txt"), join(data, "link"));
  await Deno.symlink(root, join(data, "dirlink"));
  await Deno.symlink(join(data, "sub", "a.txt"), join(data, "inlink"));
  try {
    const url = (path: string) => new URL(`file://${path}`);
    const file = await openInside(data, url(join(data, "sub", "a.txt")));
    assert.equal(await new Response(file.readable).text(), "mine");
    // A link that stays inside is followed.
    const inside = await openInside(data, url(join(data, "inlink")));
    assert.equal(await new Response(inside.readable).text(), "mine");
    for (
      const path of [
        join(root, "secret.txt"),
        join(data, "..", "secret.txt"),
        join(data, "link"),
        join(data, "dirlink", "secret.txt"),
        "/etc/shadow",
        join(root, "missing.txt"), // a missing file outside looks like any file outside
      ]
    ) {
      await assert.rejects(
        () => openInside(data, url(path)),
        (error: Error) =>
          error instanceof HostCallRefused &&
          /outside the caller's data folder/.test(error.message) &&
          /fused\.filePath\(\)/.test(error.message),
        path,
      );
    }
    await assert.rejects(() => openInside(data, url(join(data, "sub"))), /not a regular file/);
    await assert.rejects(() => openInside(data, url(join(data, "nope.txt"))), /there is no file/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkFetch needs network, a listed host and a public address", () => {
  const refuses = (
    url: string,
    net: boolean | string[],
    policy: typeof LOCAL_POLICY,
    says: RegExp,
  ) => {
    assert.throws(
      () => checkFetch(new URL(url), { net, policy }),
      (error: Error) => error instanceof HostCallRefused && says.test(error.message),
      url,
    );
  };
  refuses("http://example.com/a", false, LOCAL_POLICY, /does not allow network.*allowNet/);
  refuses("http://example.com/a", ["other.org"], LOCAL_POLICY, /not in the run's allowNet/);
  refuses("ftp://example.com/a", true, LOCAL_POLICY, /ftp:/);
  for (
    const url of [
      "http://127.0.0.1:8783/v1/user/self",
      "http://localhost/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://192.168.1.1/",
      "http://0.0.0.0/",
      "http://2130706433/", // 127.0.0.1 as one number
      "http://0x7f.1/",
    ]
  ) {
    refuses(url, true, SERVICE, /not a public address.*--allow-private-network/);
    refuses(url, true, LOCAL_POLICY, /not a public address.*allowNet/);
  }
  // A name is checked when it is connected; allowed: the operator's flag, or a listed host here.
  assert.equal(
    checkFetch(new URL("http://example.com/"), { net: true, policy: SERVICE }),
    "public",
  );
  assert.equal(
    checkFetch(new URL("http://127.0.0.1:9/"), {
      net: true,
      policy: { ...SERVICE, privateNetwork: "always" },
    }),
    "any",
  );
  assert.equal(
    checkFetch(new URL("http://127.0.0.1:9/"), { net: ["127.0.0.1:9"], policy: LOCAL_POLICY }),
    "any",
  );
  refuses("http://127.0.0.1:9/", ["127.0.0.1:9"], SERVICE, /--allow-private-network/);
  refuses("http://127.0.0.1:10/", ["127.0.0.1:9"], LOCAL_POLICY, /allowNet list/);
});

Deno.test("a name that resolves to a private address is refused when it is connected", async () => {
  // This machine's own name resolves (through /etc/hosts) to a loopback or private address.
  const name = Deno.hostname();
  const [{ address }] = await lookup(name, { all: true });
  assert.ok(!isPublicAddress(address), `${name} resolves to the public ${address} here`);
  let hits = 0;
  const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen() {} }, () => {
    hits++;
    return new Response("inside");
  });
  const url = new URL(`http://${name}:${server.addr.port}/`);
  try {
    await assert.rejects(
      () => fetchChecked(url, { net: true, policy: SERVICE }, {}),
      (error: Error) =>
        error instanceof HostCallRefused && error.message.includes(`(${address}:`) &&
        /--allow-private-network/.test(error.message),
    );
    assert.equal(hits, 0, "the private address was never asked");
    // The same name with the operator's flag: the request goes through.
    const response = await fetchChecked(url, {
      net: true,
      policy: { ...SERVICE, privateNetwork: "always" },
    }, {});
    assert.equal(await response.text(), "inside");
    assert.equal(hits, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("fetchChecked checks every redirect before following it", async () => {
  const target = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    hits++;
    return new Response("private data");
  });
  let hits = 0;
  const redirector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.redirect(`http://127.0.0.1:${target.addr.port}/secret`, 302),
  );
  try {
    const listedOne = [`127.0.0.1:${redirector.addr.port}`];
    await assert.rejects(
      () =>
        fetchChecked(new URL(`http://127.0.0.1:${redirector.addr.port}/`), {
          net: listedOne,
          policy: LOCAL_POLICY,
        }, {}),
      /127\.0\.0\.1:\d+ is not in the run's allowNet list/,
    );
    assert.equal(hits, 0, "the redirect's target was never asked");
    const both = [...listedOne, `127.0.0.1:${target.addr.port}`];
    const response = await fetchChecked(
      new URL(`http://127.0.0.1:${redirector.addr.port}/`),
      { net: both, policy: LOCAL_POLICY },
      {},
    );
    assert.equal(await response.text(), "private data");
  } finally {
    await redirector.shutdown();
    await target.shutdown();
  }
});

Deno.test("writeCapped keeps nothing of a file over the cap", async () => {
  const cap = { bytes: 99, refuse: () => tooLarge("Downloading x", 99) };
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "f");
    await assert.rejects(
      () => writeCapped(new Response(new Uint8Array(100)).body!, path, cap),
      /larger than 99 bytes/,
    );
    await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);
    await writeCapped(new Response(new Uint8Array(99)).body!, path, cap);
    assert.equal((await Deno.stat(path)).size, 99);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A caller with a quota of `limit` bytes that holds `store` + `folders` bytes. */
function quotaCaller(limit: number, store: number, folders: number): CallerContext {
  return {
    id: "u1",
    depth: 0,
    dataDir: "/nonexistent/data",
    cacheDir: "/nonexistent/cache",
    host: {} as CallerContext["host"],
    policy: { ...SERVICE, maxDownloadBytes: 1000 },
    quota: { limitBytes: limit, usage: () => Promise.resolve({ store, folders }) },
  };
}

Deno.test("a download is capped at what is left of the caller's quota, and the refusal names it", async () => {
  const cap = await downloadCap(quotaCaller(500, 200, 100), "Downloading x");
  assert.equal(cap.bytes, 200);
  const refusal = cap.refuse(201);
  assert.ok(refusal instanceof QuotaExceededError);
  assert.match(refusal.message, /Downloading x is refused: it would pass the disk quota/);
  assert.match(refusal.message, /quota of 500 bytes; used 300 bytes/);
  assert.match(refusal.message, /fd:\/\/ files 200 bytes, data and cache folders 100 bytes/);
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => writeCapped(new Response(new Uint8Array(201)).body!, join(dir, "f"), cap),
      QuotaExceededError,
    );
    await assert.rejects(() => Deno.stat(join(dir, "f")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a quota larger than the download cap leaves the cap and its own refusal", async () => {
  const cap = await downloadCap(quotaCaller(1e9, 0, 0), "Downloading x");
  assert.equal(cap.bytes, 1000);
  assert.ok(cap.refuse(1001) instanceof HostCallRefused);
});

/**
 * Bad input against a real service, as an attacker holding an ordinary (non-admin) API token
 * would send it: generated requests with traversal in every field that names a thing (UDF names,
 * slugs, tokens, fd:// paths, job and run ids), symlinks pointing in and out of the storage, odd
 * and oversized names, bodies, headers and methods. The bar: no answer of 500 or more, no 2xx for
 * a refused thing, every 4xx a JSON `{detail}` that names the problem, and nothing created or
 * changed outside the data folder (its sibling "outside" is walked before and after).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { options } from "../client/options.ts";
import { LocalEngine } from "../engine/mod.ts";
import { localRunner } from "./runner.ts";
import { startServer } from "./serve.ts";

/** One generated request and what it must get. */
interface Probe {
  label: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: BodyInit;
  /** "refused": must be a 4xx; "any": any answer below 500. */
  expect: "refused" | "any";
  /** What the detail of a 4xx must mention. */
  names?: RegExp;
}

/** Every file and folder under `root` with what would show a change (size, time, link). */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const stat = await Deno.lstat(path);
      const link = stat.isSymlink ? await Deno.readLink(path) : "";
      out.set(path, `${stat.size}:${stat.mtime?.getTime()}:${stat.mode}:${link}`);
      if (stat.isDirectory) await walk(path);
    }
  }
  await walk(root);
  return out;
}

const CODE = "export function udf({ x = 1 }: { x?: number }) { return { x } }";

Deno.test("hostile requests get 4xx answers naming the problem and write nothing outside", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-hostile-" });
  const data = join(root, "data");
  const outside = join(root, "outside");
  await Deno.mkdir(join(outside, "folder"), { recursive: true });
  await Deno.writeTextFile(join(outside, "secret.txt"), "outside secret");
  // The storage as an admin of the machine may leave it: a file, links out and a link in.
  const files = join(data, "files");
  await Deno.mkdir(join(files, "demo"), { recursive: true });
  await Deno.mkdir(join(files, "links"), { recursive: true });
  await Deno.writeTextFile(join(files, "demo", "hello.txt"), "hello");
  await Deno.symlink(outside, join(files, "links", "out"));
  await Deno.symlink(join(outside, "secret.txt"), join(files, "links", "secret"));
  await Deno.symlink(join(outside, "missing"), join(files, "links", "dangling"));
  await Deno.symlink(join(files, "demo"), join(files, "links", "in"));

  options.update({ cacheDirectory: join(data, "cache") });
  const engine = new LocalEngine({ dataDir: join(data, "engine"), maxWorkers: 2 });
  const server = await startServer({
    port: 0,
    dataDir: data,
    runner: localRunner({ engine }),
    runTimeoutMs: 10_000,
    maxBodyBytes: 64 * 1024,
    maxUploadBytes: 64 * 1024,
    quiet: true,
  });
  const before = await snapshot(outside);
  const admin = { authorization: `Bearer ${server.adminToken}` };
  try {
    // An ordinary user with its own token, and one saved UDF with a share token.
    const user = await (await fetch(`${server.baseUrl}/admin/users`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ email: "mallory@example.com", handle: "mallory" }),
    })).json();
    const issued = await (await fetch(`${server.baseUrl}/admin/tokens`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user.id }),
    })).json();
    const auth = { authorization: `Bearer ${issued.access_token}` };
    const json = { ...auth, "content-type": "application/json" };
    const saved = await fetch(`${server.baseUrl}/udf/new`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({
        slug: "mine",
        udf_body: JSON.stringify({ name: "mine", type: "deno_v1", code: CODE }),
      }),
    });
    assert.equal(saved.status, 201, await saved.clone().text());
    const savedId = (await saved.json()).id;
    const shared = await fetch(`${server.baseUrl}/udf-access-token/new`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ udf_id: savedId }),
    });
    assert.equal(shared.status, 201, await shared.clone().text());
    const shareToken = (await shared.json()).token;

    const escape = `${"../".repeat(12)}${outside.slice(1)}`;
    const badNames = [
      "../evil",
      `${escape}/evil`,
      "a/b",
      "a\\b",
      "..",
      ".",
      ".hidden",
      "-dash",
      "",
      " ",
      "a b",
      "x".repeat(129),
      "y".repeat(10_000),
      "%2e%2e%2fevil",
      "nul\u0000byte",
      "new\nline",
      "名前",
      "😀",
      "/etc/passwd",
      "C:\\evil",
    ];
    const badIds = [
      "../../etc/passwd",
      `..%2f..%2f${outside.slice(1)}`,
      "%00",
      "x".repeat(5000),
      "; DROP TABLE jobs",
      "' OR 1=1 --",
      "fsh_../../x",
      "{}",
    ];
    const badFd = [
      "fd://../x",
      "fd://a/../../b",
      `fd://${escape}/x`,
      "fd:///etc/passwd",
      "fd://a/%2e%2e/b",
      "fd://a\\..\\b",
      "fd://a//b",
      "fd://./a",
      "fd://a\u0000b",
      "/etc/passwd",
      "s3://bucket/x",
      `fd://${"a/".repeat(3000)}x`,
      "fd://links/secret",
      "fd://links/out/secret.txt",
      "fd://links/out/folder/",
      "fd://links/dangling",
    ];
    const probes: Probe[] = [];
    let names: RegExp | undefined;
    const add = (p: Probe) => probes.push({ names, ...p });
    const run = `${server.baseUrl}/realtime/local/api/v1/run/udf`;

    names = /UDF name|udf_body|No route|No public UDF|step_config|Invalid/;
    for (const name of badNames) {
      const udf = { name, type: "deno_v1", code: CODE };
      const body = JSON.stringify({ step_config: JSON.stringify({ type: "udf", udf }) });
      const encoded = encodeURIComponent(name || "%20");
      add({
        label: `run ${name}`,
        method: "POST",
        url: `${run}?cache_max_age=0`,
        headers: json,
        body,
        expect: "refused",
      });
      add({
        label: `start ${name}`,
        method: "POST",
        url: `${run}/start`,
        headers: json,
        body,
        expect: "refused",
      });
      add({
        label: `tile run ${name}`,
        method: "POST",
        url: `${run}/tiles/0/0/0`,
        headers: json,
        body,
        expect: "refused",
      });
      add({
        label: `save slug ${name}`,
        method: "POST",
        url: `${server.baseUrl}/udf/new`,
        headers: json,
        body: JSON.stringify({ slug: name, udf_body: JSON.stringify({ ...udf, name: "ok" }) }),
        expect: "refused",
      });
      add({
        label: `save body name ${name}`,
        method: "POST",
        url: `${server.baseUrl}/udf/new`,
        headers: json,
        body: JSON.stringify({ udf_body: JSON.stringify(udf) }),
        expect: "refused",
      });
      add({
        label: `overwrite ${name}`,
        method: "POST",
        url: `${server.baseUrl}/udf/by-id/${savedId}`,
        headers: json,
        body: JSON.stringify({ slug: name, udf_body: JSON.stringify({ ...udf, name: "mine" }) }),
        expect: "refused",
      });
      add({
        label: `job step ${name}`,
        method: "POST",
        url: `${server.baseUrl}/run`,
        headers: json,
        body: JSON.stringify({ config: { steps: [{ type: "udf", udf }] } }),
        expect: "refused",
      });
      add({
        label: `saved run ${name}`,
        method: "GET",
        url: `${run}/saved/mallory/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `by slug ${name}`,
        method: "GET",
        url: `${server.baseUrl}/udf/by-user-handle/mallory/by-slug/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `public slug ${name}`,
        method: "GET",
        url: `${server.baseUrl}/udf/public/by-slug/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `token UDF_${name}`,
        method: "GET",
        url: `${server.url}/UDF_${encoded}/run/file`,
        expect: "refused",
      });
    }
    names = undefined;
    for (const id of badIds) {
      const encoded = encodeURIComponent(id);
      add({
        label: `job ${id}`,
        method: "GET",
        url: `${server.baseUrl}/run/by-id/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `job cancel ${id}`,
        method: "POST",
        url: `${server.baseUrl}/run/by-id/${encoded}/cancel`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `job results ${id}`,
        method: "GET",
        url: `${server.baseUrl}/run/by-id/${encoded}/results`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `job logs ${id}`,
        method: "GET",
        url: `${server.baseUrl}/logs/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `poll ${id}`,
        method: "GET",
        url: `${run}/get/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `udf id ${id}`,
        method: "GET",
        url: `${server.baseUrl}/udf/by-id/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `delete udf ${id}`,
        method: "DELETE",
        url: `${server.baseUrl}/udf/by-id/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `token ${id}`,
        method: "GET",
        url: `${server.url}/${encoded}/run/file`,
        expect: "refused",
      });
      add({
        label: `shared token ${id}`,
        method: "GET",
        url: `${server.baseUrl}/realtime-shared/${encoded}/run/file`,
        expect: "refused",
      });
      add({
        label: `token code ${id}`,
        method: "GET",
        url: `${server.baseUrl}/udf/shared/by-token/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `token update ${id}`,
        method: "DELETE",
        url: `${server.baseUrl}/udf-access-token/by-token/${encoded}`,
        headers: auth,
        expect: "refused",
      });
      add({
        label: `run id header ${id}`,
        method: "POST",
        url: `${run}/start`,
        headers: { ...json, "fused-run-id": id.replace(/[^\x20-\x7e]/g, "?") },
        body: JSON.stringify({
          step_config: JSON.stringify({ udf: { name: "ok", type: "deno_v1", code: CODE } }),
        }),
        expect: "refused",
      });
    }
    add({
      label: "token fsh_ too long",
      method: "GET",
      url: `${server.url}/fsh_${"0".repeat(200)}/run/file`,
      expect: "refused",
    });
    add({
      label: "token fsh_ unknown",
      method: "GET",
      url: `${server.url}/fsh_${"a".repeat(32)}.json`,
      expect: "refused",
    });

    names = /fd:\/\/|path|signed URL|signature/i;
    for (const path of badFd) {
      const q = `path=${encodeURIComponent(path)}`;
      // A broken link inside reads as missing: an empty prefix to sign, nothing to delete.
      const missing = path === "fd://links/dangling";
      for (const route of ["list", "list-details", "get", "sign", "sign_prefix"]) {
        const expect = missing && route === "sign_prefix" ? "any" : "refused";
        add({
          label: `${route} ${path}`,
          method: "GET",
          url: `${server.baseUrl}/files/${route}?${q}`,
          headers: auth,
          expect,
        });
      }
      add({
        label: `upload ${path}`,
        method: "POST",
        url: `${server.baseUrl}/files/upload?${q}`,
        headers: auth,
        body: "evil",
        expect: "refused",
      });
      add({
        label: `delete ${path}`,
        method: "DELETE",
        url: `${server.baseUrl}/files/delete?${q}`,
        headers: auth,
        expect: missing ? "any" : "refused",
      });
      add({
        label: `signed ${path}`,
        method: "GET",
        url: `${server.baseUrl}/files/signed?${q}&expires=9999999999&signature=${"0".repeat(64)}`,
        expect: "refused",
      });
    }
    // Writes through links and files: refused before anything is written.
    for (
      const path of [
        "fd://links/out/x.txt",
        "fd://links/out/folder/x.txt",
        "fd://links/dangling/x.txt",
        "fd://demo/hello.txt/child.txt",
        "fd://demo/hello.txt/a/b.txt",
        "fd://demo",
      ]
    ) {
      for (const method of ["POST", "PUT"]) {
        add({
          label: `${method} upload ${path}`,
          method,
          url: `${server.baseUrl}/files/upload?path=${encodeURIComponent(path)}`,
          headers: auth,
          body: "evil",
          expect: "refused",
        });
      }
    }
    // A path ending in "/" names a folder, new or not: an upload to it is refused, not renamed.
    names = /names a folder: add a file name/;
    for (const path of ["fd://dir/", "fd://demo/", "fd://new/deeper/", "fd://", "fd://links/in/"]) {
      for (const method of ["POST", "PUT"]) {
        add({
          label: `${method} upload to the folder ${path}`,
          method,
          url: `${server.baseUrl}/files/upload?path=${encodeURIComponent(path)}`,
          headers: auth,
          body: "evil",
          expect: "refused",
        });
      }
    }
    // A signed URL with another spelling of its expiry, under the original signature: the
    // expiry signed is the expiry checked, on both routes of signed URLs.
    const signed = new URL(
      await (await fetch(`${server.baseUrl}/files/sign?path=fd://demo/hello.txt`, {
        headers: auth,
      })).json(),
    );
    const expires = signed.searchParams.get("expires")!;
    names = /signed URL|signature|altered/i;
    for (
      const spelling of [
        `${expires}.0`,
        `${expires}.`,
        `0${expires}`,
        `00${expires}`,
        `+${expires}`,
        ` ${expires}`,
        `${expires} `,
        `${expires}e0`,
        `${Number(expires) / 10}e1`,
        `0x${Number(expires).toString(16)}`,
        `0o${Number(expires).toString(8)}`,
        `${expires}\u0000`,
      ]
    ) {
      for (const route of ["files/signed", "job-results/signed"]) {
        const url = new URL(`${server.baseUrl}/${route}${signed.search}`);
        url.searchParams.set("expires", spelling);
        add({
          label: `${route} expires=${spelling}`,
          method: "GET",
          url: url.href,
          expect: "refused",
        });
      }
    }
    names = undefined;
    // What is fine must stay fine: the link inside, and a folder holding links out.
    for (const route of ["list", "list-details", "sign_prefix"]) {
      add({
        label: `${route} of a folder with links out`,
        method: "GET",
        url: `${server.baseUrl}/files/${route}?path=fd://links/`,
        headers: auth,
        expect: "any",
      });
    }
    add({
      label: "get through the inside link",
      method: "GET",
      url: `${server.baseUrl}/files/get?path=fd://links/in/hello.txt`,
      headers: auth,
      expect: "any",
    });
    add({
      label: "upload over the limit",
      method: "POST",
      url: `${server.baseUrl}/files/upload?path=fd://big.bin`,
      headers: auth,
      body: new Uint8Array(65 * 1024),
      expect: "refused",
    });

    names = undefined;
    // Headers.
    for (
      const value of [
        "Bearer ../../etc/passwd",
        `Bearer ${"a".repeat(8000)}`,
        "Basic YTpi",
        "Bearer",
        "bearer  x",
        "Bearer fsh_0000000000000000",
        `Bearer ${server.adminToken}x`,
      ]
    ) {
      add({
        label: `authorization ${value.slice(0, 30)}`,
        method: "GET",
        url: `${server.baseUrl}/user/self`,
        headers: { authorization: value },
        expect: "refused",
      });
    }
    add({
      label: "no authorization",
      method: "GET",
      url: `${server.baseUrl}/files/list?path=fd://`,
      expect: "refused",
    });
    add({
      label: "admin route as a user",
      method: "POST",
      url: `${server.baseUrl}/admin/users`,
      headers: json,
      body: JSON.stringify({ email: "x@example.com", handle: "x", is_admin: true }),
      expect: "refused",
    });
    add({
      label: "huge header",
      method: "GET",
      url: `${server.baseUrl}/user/self`,
      headers: { ...auth, "x-filler": "z".repeat(30_000) },
      expect: "any",
    });

    // Bodies.
    const bodies: [string, BodyInit][] = [
      ["malformed JSON", "{"],
      ["a JSON array", "[1,2]"],
      ["a JSON string", '"x"'],
      ["step_config not JSON", JSON.stringify({ step_config: "{nope" })],
      ["step_config a number", JSON.stringify({ step_config: 7 })],
      ["udf not an object", JSON.stringify({ step_config: JSON.stringify({ udf: "x" }) })],
      [
        "code not text",
        JSON.stringify({ step_config: JSON.stringify({ udf: { name: "ok", code: 7 } }) }),
      ],
      ["deep nesting", `${"[".repeat(5000)}${"]".repeat(5000)}`],
      ["over the body limit", JSON.stringify({ step_config: "x".repeat(70 * 1024) })],
      ["binary", new Uint8Array([0, 255, 254, 0, 1])],
      [
        "bad format",
        JSON.stringify({
          format: "../../x",
          step_config: JSON.stringify({ udf: { name: "ok", type: "deno_v1", code: CODE } }),
        }),
      ],
    ];
    for (const [label, body] of bodies) {
      add({
        label: `run body ${label}`,
        method: "POST",
        url: run,
        headers: json,
        body,
        expect: "refused",
      });
      add({
        label: `save body ${label}`,
        method: "POST",
        url: `${server.baseUrl}/udf/new`,
        headers: json,
        body,
        expect: "refused",
      });
      add({
        label: `token body ${label}`,
        method: "POST",
        url: `${server.baseUrl}/udf-access-token/new`,
        headers: json,
        body,
        expect: "refused",
      });
    }
    // Parameters of a valid UDF reach the engine: odd ones may be refused or run, never a 5xx.
    const valid = JSON.stringify({
      step_config: JSON.stringify({ udf: { name: "ok", type: "deno_v1", code: CODE } }),
    });
    for (
      const query of [
        `x=${encodeURIComponent(escape)}`,
        "x=NaN",
        "x=1e999",
        `x=${"9".repeat(5000)}`,
        "__proto__=1",
        "constructor=1",
        "x=%00",
        "x[]=1&x[]=2",
      ]
    ) {
      add({
        label: `run parameter ${query.slice(0, 40)}`,
        method: "POST",
        url: `${run}?cache_max_age=0&${query}`,
        headers: json,
        body: valid,
        expect: "any",
      });
    }
    add({
      label: "token run with a traversal parameter",
      method: "GET",
      url: `${server.url}/${shareToken}/run/file?x=${encodeURIComponent(escape)}`,
      expect: "any",
    });
    // Query strings of runs.
    for (
      const query of [
        "format=../../x",
        "cache_max_age=-1",
        "cache_max_age=abc",
        "dtype_out_vector=../x",
      ]
    ) {
      add({
        label: `run query ${query}`,
        method: "POST",
        url: `${run}?${query}`,
        headers: json,
        body: JSON.stringify({
          step_config: JSON.stringify({ udf: { name: "ok", type: "deno_v1", code: CODE } }),
        }),
        expect: "refused",
      });
    }
    // Tile coordinates: digits only, the zoom in range, x and y inside it, on every tile route.
    const tileRoutes: [string, string, (tile: string) => string][] = [
      ["run", "POST", (tile) => `${run}/tiles/${tile}`],
      ["start", "POST", (tile) => `${run}/start/tiles/${tile}`],
      ["saved", "GET", (tile) => `${run}/saved/mallory/mine/tiles/${tile}`],
      ["token", "GET", (tile) => `${server.url}/${shareToken}/run/tiles/${tile}`],
      [
        "shared",
        "GET",
        (tile) => `${server.baseUrl}/realtime-shared/${shareToken}/run/tiles/${tile}`,
      ],
    ];
    names = /tile|zoom/i;
    for (
      const tile of [
        "1e1/0/0",
        "0x1/0/0",
        "1.0/0/0",
        "+1/0/0",
        "-0/0/0",
        "%201/0/0",
        "1%20/0/0",
        "31/0/0",
        "99999999999999999999/0/0",
        "1/2/0",
        "1/0/2",
        "0/1/0",
        "2/4/0",
        "2/-1/0",
        "1/+0/0",
        "1/0x0/0",
        "1/0/1e0",
        "1/0/0.5",
        "a/b/c",
      ]
    ) {
      for (const [route, method, url] of tileRoutes) {
        add({
          label: `${route} tile ${tile}`,
          method,
          url: url(tile),
          headers: method === "POST" ? json : auth,
          body: method === "POST" ? valid : undefined,
          expect: "refused",
        });
      }
    }
    names = undefined;
    // Methods (OPTIONS is left out: CORS preflights are answered for everyone, by design).
    for (const method of ["PUT", "PATCH", "DELETE", "FOO"]) {
      for (
        const path of ["/user/self", "/files/get?path=fd://demo/hello.txt", "/udf/self", "/health"]
      ) {
        add({
          label: `${method} ${path}`,
          method,
          url: `${server.baseUrl}${path}`,
          headers: auth,
          expect: "refused",
        });
      }
    }

    assert.ok(probes.length >= 200, `only ${probes.length} requests were generated`);
    const failures: string[] = [];
    for (const probe of probes) {
      let res: Response;
      try {
        res = await fetch(probe.url, {
          method: probe.method,
          headers: probe.headers,
          body: probe.body,
        });
      } catch (err) {
        failures.push(`${probe.label}: the request failed (${(err as Error).message})`);
        continue;
      }
      const text = await res.text();
      if (res.status >= 500) failures.push(`${probe.label}: ${res.status} ${text.slice(0, 200)}`);
      else if (probe.expect === "refused" && res.status < 400) {
        failures.push(`${probe.label}: a refused thing got ${res.status} ${text.slice(0, 200)}`);
      }
      if (res.status >= 400 && res.status < 500) {
        let detail: unknown;
        try {
          detail = JSON.parse(text).detail;
        } catch {
          detail = undefined;
        }
        if (typeof detail !== "string" || detail.length < 12) {
          failures.push(
            `${probe.label}: ${res.status} without a JSON detail naming the problem: ${
              text.slice(0, 200)
            }`,
          );
        } else if (probe.names && !probe.names.test(detail)) {
          failures.push(
            `${probe.label}: the detail does not name the problem: ${detail.slice(0, 200)}`,
          );
        } else if (detail.includes(root)) {
          failures.push(`${probe.label}: the detail shows a server path: ${detail.slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${probes.length} requests failed the bar`,
    );

    // A folder with links out still lists, without them; the file the link points to is intact.
    const listed =
      await (await fetch(`${server.baseUrl}/files/list?path=fd://links/`, { headers: auth }))
        .json();
    assert.deepEqual(listed, ["fd://links/in/"]);
    // No upload to a folder path left a file or folder under its name.
    const top = await (await fetch(`${server.baseUrl}/files/list?path=fd://`, { headers: auth }))
      .json();
    assert.deepEqual(top, ["fd://demo/", "fd://links/"]);
  } finally {
    await server.close();
    await engine.close();
    options.reset();
  }
  assert.deepEqual(await snapshot(outside), before, "something changed in the folder outside");
  for await (const entry of Deno.readDir(root)) {
    assert.ok(
      ["data", "outside"].includes(entry.name),
      `${entry.name} was created beside the data folder`,
    );
  }
  await Deno.remove(root, { recursive: true });
});

const QUOTA_UDF = `import * as fused from "fused";
export default async function udf({ mode = "", n = 0, name = "f.bin" }) {
  if (mode === "upload") return await fused.api.upload(new Uint8Array(n), "fd://udf/" + name);
  if (mode === "stage") {
    // ingest's way: a file of the data folder, streamed to fd:// by the host
    await Deno.writeFile(fused.filePath(name), new Uint8Array(n));
    return await fused.api.upload(fused.filePath(name), "fd://udf/" + name);
  }
  if (mode === "write") {
    await Deno.writeFile(fused.filePath(name), new Uint8Array(n));
    return n;
  }
  if (mode === "remove") {
    await Deno.remove(fused.filePath(name));
    return 0;
  }
  if (mode === "download") return await fused.download("fd://blob.bin", name);
  return "read only";
}`;

Deno.test("writes past a user's disk quota get 507 naming the quota and the usage, and nothing is kept", async () => {
  const root = await Deno.makeTempDir({ prefix: "fused-hostile-quota-" });
  const data = join(root, "data");
  const quota = 256 * 1024;
  options.update({ cacheDirectory: join(data, "cache") });
  const engine = new LocalEngine({ dataDir: join(data, "engine"), maxWorkers: 2 });
  const server = await startServer({
    port: 0,
    dataDir: data,
    engine,
    runTimeoutMs: 30_000,
    maxUploadBytes: 4 * quota,
    quotaBytes: quota,
    quiet: true,
  });
  const admin = { authorization: `Bearer ${server.adminToken}` };
  try {
    const user = await (await fetch(`${server.baseUrl}/admin/users`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ email: "hoarder@example.com", handle: "hoarder" }),
    })).json();
    const issued = await (await fetch(`${server.baseUrl}/admin/tokens`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user.id }),
    })).json();
    const auth = { authorization: `Bearer ${issued.access_token}` };
    const upload = (path: string, body: BodyInit, headers = auth) =>
      fetch(`${server.baseUrl}/files/upload?path=${encodeURIComponent(path)}`, {
        method: "PUT",
        headers,
        body,
      });
    /** A body without a Content-Length (sent chunked): `n` zero bytes. */
    const chunked = (n: number) => ReadableStream.from([new Uint8Array(n)]);
    const run = (parameters: Record<string, string | number>, headers = auth) =>
      fetch(
        `${server.baseUrl}/realtime/local/api/v1/run/udf?cache_max_age=0&${new URLSearchParams(
          Object.entries(parameters).map(([k, v]) => [k, String(v)]),
        )}`,
        {
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({
            step_config: JSON.stringify({
              udf: { name: "quota", type: "deno_v1", code: QUOTA_UDF, entrypoint: "default" },
            }),
          }),
        },
      );
    const listing = async () =>
      await (await fetch(`${server.baseUrl}/files/list?path=fd://`, { headers: auth })).json();
    const failures: string[] = [];
    /** A refused write: 507 with a detail naming the quota and the usage, never a 2xx. */
    const refused = async (label: string, response: Promise<Response>, usage: RegExp) => {
      const res = await response;
      const text = await res.text();
      let detail = "";
      try {
        detail = String(JSON.parse(text).detail);
      } catch {
        // checked below
      }
      if (res.status !== 507) failures.push(`${label}: ${res.status} ${text.slice(0, 300)}`);
      else if (!/disk quota of 262144 bytes; used/.test(detail) || !usage.test(detail)) {
        failures.push(`${label}: the detail does not name quota and usage: ${detail}`);
      } else if (detail.includes(root)) {
        failures.push(`${label}: the detail shows a server path: ${detail}`);
      }
    };
    const ok = async (label: string, response: Promise<Response>) => {
      const res = await response;
      const text = await res.text();
      if (res.status >= 300) failures.push(`${label}: expected success, got ${res.status} ${text}`);
    };

    // Uploads over HTTP: a known length is refused before it is read, a chunked body once past.
    for (const size of [quota + 1, 2 * quota, 4 * quota]) {
      await refused(
        `upload of ${size} bytes`,
        upload(`fd://big-${size}.bin`, new Uint8Array(size)),
        /used 0 bytes/,
      );
      await refused(
        `chunked upload of ${size} bytes`,
        upload(`fd://chunked-${size}.bin`, chunked(size)),
        /used 0 bytes/,
      );
    }
    await refused(
      "upload into a new folder",
      upload("fd://a/b/c.bin", new Uint8Array(quota + 1)),
      /used 0 bytes/,
    );
    assert.deepEqual(await listing(), [], "a refused upload left something behind");
    await ok("an upload under the quota", upload("fd://mine.bin", new Uint8Array(200 * 1024)));
    await refused(
      "an upload past what is left",
      upload("fd://more.bin", new Uint8Array(57 * 1024)),
      /fd:\/\/ files 204800 bytes/,
    );
    await refused(
      "a chunked upload past what is left",
      upload("fd://more.bin", chunked(57 * 1024)),
      /fd:\/\/ files 204800 bytes/,
    );
    // Replacing one's own file counts its new size only.
    await ok("an overwrite of one's own file", upload("fd://mine.bin", new Uint8Array(250 * 1024)));
    // A teammate who overwrites the file takes its bytes; a delete frees them.
    await ok("an overwrite by another user", upload("fd://mine.bin", new Uint8Array(10), admin));
    await ok(
      "an upload after the bytes moved",
      upload("fd://mine2.bin", new Uint8Array(200 * 1024)),
    );
    await ok(
      "a delete",
      fetch(`${server.baseUrl}/files/delete?path=fd://mine2.bin`, {
        method: "DELETE",
        headers: auth,
      }),
    );
    await ok("an upload after a delete", upload("fd://mine3.bin", new Uint8Array(100 * 1024)));

    // A UDF's writes, as the same user (100 KiB used in fd:// now).
    const settle = () => new Promise((resolve) => setTimeout(resolve, 1100)); // folders re-measured
    await refused(
      "a UDF's fd:// upload past the quota",
      run({ mode: "upload", n: 200 * 1024 }),
      /fd:\/\/ files 102400 bytes/,
    );
    await ok(
      "a UDF's data file under the quota",
      run({ mode: "write", n: 10 * 1024, name: "w.bin" }),
    );
    // A file larger than the quota stops the process at the quota; the run can delete what is left.
    await refused(
      "a UDF's data file larger than the quota",
      run({ mode: "write", n: quota + 4096, name: "huge.bin" }),
      /Writing a file larger than the user's disk quota/,
    );
    await ok("a UDF's delete of the cut file", run({ mode: "remove", name: "huge.bin" }));
    await settle();
    // The blob a UDF downloads is the admin's: 200 KiB, more than this user has left.
    await ok("the admin's blob", upload("fd://blob.bin", new Uint8Array(200 * 1024), admin));
    await refused(
      "a UDF's download into its data folder past the quota",
      run({ mode: "download", name: "blob.bin" }),
      /it needs 204800 bytes/,
    );
    // Files each under the quota can take a run past it: then the uploads of them are refused,
    // and the next runs may read and delete, but write nothing.
    await refused(
      "a UDF's upload of a staged file past the quota",
      run({ mode: "stage", n: 160 * 1024, name: "s.bin" }),
      /data and cache folders/,
    );
    await settle();
    await refused("an upload at the quota", upload("fd://x.bin", new Uint8Array(1)), /used/);
    await refused(
      "a UDF's write of one byte at the quota",
      run({ mode: "write", n: 1, name: "one.bin" }),
      /holds their whole disk quota/,
    );
    await ok("a UDF that only reads, at the quota", run({ mode: "" }));
    await ok("a UDF's delete at the quota", run({ mode: "remove", name: "s.bin" }));
    await settle();
    await ok("a UDF's write after the delete", run({ mode: "write", n: 1, name: "one.bin" }));
    assert.deepEqual(failures, [], `${failures.length} writes failed the bar`);
    assert.deepEqual(await listing(), ["fd://blob.bin", "fd://mine.bin", "fd://mine3.bin"]);
  } finally {
    await server.close();
    await engine.close();
    options.reset();
    await Deno.remove(root, { recursive: true });
  }
});

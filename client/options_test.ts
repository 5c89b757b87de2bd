import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { ValidationError } from "./errors.ts";
import { FUSED_NAMES, FusedOptions, OPTION_NAMES } from "./options.ts";

async function withHome(fn: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "fused_home_" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("defaults follow the Fused SDK where they have the same meaning", () => {
  const options = new FusedOptions({ home: null, env: {} });
  assert.equal(options.requestTimeout, 5);
  assert.equal(options.runTimeout, 130);
  assert.equal(options.requestMaxRetries, 5);
  assert.equal(options.maxRecursionFactor, 5);
  assert.equal(options.maxWorkers, 16);
  assert.equal(options.cacheStorage, "auto");
  assert.equal(options.defaultUdfRunEngine, "local");
  assert.equal(options.baseUrl, "http://127.0.0.1:8783/v1");
});

Deno.test("every option has a Fused name", () => {
  assert.deepEqual(Object.keys(FUSED_NAMES).sort(), [...OPTION_NAMES].sort());
});

Deno.test("data directory defaults to data inside the settings home", () => {
  const options = new FusedOptions({ home: "/somewhere/.fused", env: {} });
  assert.equal(options.dataDirectory, join("/somewhere/.fused", "data"));
});

Deno.test("the settings home comes from FUSED_HOME, then HOME", () => {
  assert.equal(new FusedOptions({ env: { FUSED_HOME: "/a/b" } }).home, "/a/b");
  assert.equal(new FusedOptions({ env: { HOME: "/u" } }).home, join("/u", ".fused"));
  assert.equal(new FusedOptions({ env: {} }).home, null);
});

Deno.test("a valid assignment changes the value and records its source", () => {
  const options = new FusedOptions({ home: null, env: {} });
  options.requestTimeout = 60;
  assert.equal(options.requestTimeout, 60);
  assert.equal(options.sourceOf("requestTimeout"), "set");
});

Deno.test("a bad assignment throws a ValidationError and keeps the old value", () => {
  const options = new FusedOptions({ home: null, env: {} });
  assert.throws(
    () => (options.requestTimeout = "soon" as unknown as number),
    (error: Error) =>
      error instanceof ValidationError && /fused\.options\.requestTimeout/.test(error.message),
  );
  assert.throws(() => (options.defaultUdfRunEngine = "gpu" as "local"), ValidationError);
  assert.throws(() => (options.dataDirectory = "relative/dir"), /absolute path/);
  assert.equal(options.requestTimeout, 5);
});

Deno.test("assigning an unknown option throws instead of being ignored", () => {
  const options = new FusedOptions({ home: null, env: {} });
  assert.throws(() => {
    (options as unknown as Record<string, unknown>).requestTimout = 3;
  }, TypeError);
});

Deno.test("the base URL must be http(s) and loses its trailing slash", () => {
  const options = new FusedOptions({ home: null, env: {} });
  options.baseUrl = "https://example.com/server/v1/";
  assert.equal(options.baseUrl, "https://example.com/server/v1");
  assert.throws(() => (options.baseUrl = "ftp://example.com"), ValidationError);
});

Deno.test("update sets several options, or none when one is invalid", () => {
  const options = new FusedOptions({ home: null, env: {} });
  options.update({ runTimeout: 300, maxWorkers: 4 });
  assert.equal(options.runTimeout, 300);
  assert.equal(options.maxWorkers, 4);
  assert.throws(() => options.update({ runTimeout: 10, maxWorkers: -1 }), ValidationError);
  assert.equal(options.runTimeout, 300);
  assert.throws(
    () => options.update({ nope: 1 } as unknown as Record<string, number>),
    /Unknown option "nope"/,
  );
});

Deno.test("FUSED_* environment variables override defaults, coerced to the option type", () => {
  const options = new FusedOptions({
    home: null,
    env: {
      FUSED_REQUEST_TIMEOUT: "60",
      FUSED_BASE_URL: "https://www.fused.io/server/v1",
      FUSED_NEVER_IMPORT: "true",
      FUSED_VERBOSE_UDF_RUNS: "0",
      FUSED_DEFAULT_RUN_HEADERS: '{"X-Test": "1"}',
      FUSED_REALTIME_CLIENT_ID: "abc",
    },
  });
  assert.equal(options.requestTimeout, 60);
  assert.equal(options.baseUrl, "https://www.fused.io/server/v1");
  assert.equal(options.neverImport, true);
  assert.equal(options.verboseUdfRuns, false);
  assert.deepEqual(options.defaultRunHeaders, { "X-Test": "1" });
  assert.equal(options.realtimeClientId, "abc");
  assert.equal(options.sourceOf("requestTimeout"), "env");
});

Deno.test("a bad environment value throws an error naming the variable", () => {
  assert.throws(
    () => new FusedOptions({ home: null, env: { FUSED_REQUEST_TIMEOUT: "a minute" } }),
    (error: Error) =>
      error instanceof ValidationError && error.message.includes("FUSED_REQUEST_TIMEOUT"),
  );
  assert.throws(
    () => new FusedOptions({ home: null, env: { FUSED_DEFAULT_UDF_RUN_ENGINE: "gpu" } }),
    /FUSED_DEFAULT_UDF_RUN_ENGINE/,
  );
});

Deno.test("save writes only non-default values and a new object loads them", async () => {
  await withHome(async (home) => {
    const options = new FusedOptions({ home, env: {} });
    options.requestTimeout = 42;
    options.cacheStorage = "mount";
    const path = await options.save();
    assert.equal(path, join(home, "settings.toml"));
    assert.deepEqual({ ...parseToml(await Deno.readTextFile(path)) }, {
      request_timeout: 42,
      cache_storage: "mount",
    });
    const reloaded = new FusedOptions({ home, env: {} });
    assert.equal(reloaded.requestTimeout, 42);
    assert.equal(reloaded.cacheStorage, "mount");
    assert.equal(reloaded.sourceOf("requestTimeout"), "settings");
    const entries = [...Deno.readDirSync(home)].map((entry) => entry.name);
    assert.deepEqual(entries, ["settings.toml"], "no temporary file is left behind");
  });
});

Deno.test("environment variables win over the settings file, assignments over both", async () => {
  await withHome(async (home) => {
    await Deno.writeTextFile(
      join(home, "settings.toml"),
      "request_timeout = 42\nrun_timeout = 9\n",
    );
    const options = new FusedOptions({ home, env: { FUSED_REQUEST_TIMEOUT: "7" } });
    assert.equal(options.requestTimeout, 7);
    assert.equal(options.runTimeout, 9);
    options.runTimeout = 11;
    assert.equal(options.runTimeout, 11);
  });
});

Deno.test("save keeps keys of the settings file it does not know", async () => {
  await withHome(async (home) => {
    const path = join(home, "settings.toml");
    await Deno.writeTextFile(path, 'gcs_secret = "mine"\nrequest_timeout = 42\n');
    const options = new FusedOptions({ home, env: {} });
    options.requestTimeout = 5; // back to the default: the line goes away
    options.maxWorkers = 3;
    await options.save();
    assert.deepEqual({ ...parseToml(await Deno.readTextFile(path)) }, {
      gcs_secret: "mine",
      max_workers: 3,
    });
  });
});

Deno.test("a bad value in the settings file throws an error naming the file and key", async () => {
  await withHome(async (home) => {
    await Deno.writeTextFile(join(home, "settings.toml"), 'max_workers = "many"\n');
    assert.throws(
      () => new FusedOptions({ home, env: {} }),
      (error: Error) =>
        error instanceof ValidationError && error.message.includes("max_workers") &&
        error.message.includes("settings.toml"),
    );
    await Deno.writeTextFile(join(home, "settings.toml"), "this is = = not toml\n");
    assert.throws(() => new FusedOptions({ home, env: {} }), /not valid TOML/);
  });
});

Deno.test("save without a settings home throws a clear error", async () => {
  const options = new FusedOptions({ home: null, env: {} });
  await assert.rejects(options.save(), /no settings home/);
});

Deno.test("reset drops assignments but keeps the settings file and the environment", async () => {
  await withHome(async (home) => {
    await Deno.writeTextFile(join(home, "settings.toml"), "run_timeout = 9\n");
    const options = new FusedOptions({ home, env: { FUSED_MAX_WORKERS: "2" } });
    options.runTimeout = 100;
    options.maxWorkers = 8;
    options.neverImport = true;
    options.reset();
    assert.equal(options.runTimeout, 9);
    assert.equal(options.maxWorkers, 2);
    assert.equal(options.neverImport, false);
  });
});

Deno.test("toJSON returns a copy that does not change the options", () => {
  const options = new FusedOptions({ home: null, env: {} });
  const json = options.toJSON();
  json.defaultRunHeaders["X-Changed"] = "1";
  assert.deepEqual(options.defaultRunHeaders, {});
  assert.equal(json.requestTimeout, options.requestTimeout);
});

Deno.test("inspecting the options lists every option and where changed ones came from", () => {
  const options = new FusedOptions({ home: null, env: { FUSED_RUN_TIMEOUT: "30" } });
  const text = Deno.inspect(options);
  for (const name of OPTION_NAMES) assert.match(text, new RegExp(`\\b${name}: `));
  assert.match(text, /runTimeout: 30 {2}\(env FUSED_RUN_TIMEOUT\)/);
});

Deno.test("the module loads without env or write permission, as in a Worker", async () => {
  const script = `import { options } from ${JSON.stringify(import.meta.resolve("./options.ts"))};
console.log(JSON.stringify({ t: options.requestTimeout, home: options.home }));`;
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "probe.ts");
    await Deno.writeTextFile(file, script);
    const root = new URL("..", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--config=${join(root, "deno.json")}`,
        `--allow-read=${root},${dir}`,
        file,
      ],
      env: { FUSED_REQUEST_TIMEOUT: "99" },
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const printed = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.deepEqual(printed, { t: 5, home: null }, "no env permission: env is not read");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("requestTimeout takes fused-py's (connect, read) pair or null, and the transport obeys", async () => {
  const { options, requestTimeoutMs } = await import("./options.ts");
  const { Transport } = await import("./api/transport.ts");
  const before = options.requestTimeout;
  // A service that answers after 1.5 s, on 127.0.0.1.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async () => {
    await new Promise((r) => setTimeout(r, 1500));
    return Response.json({ ok: true });
  });
  const transport = new Transport({ baseUrl: `http://127.0.0.1:${server.addr.port}/v1` });
  try {
    options.requestTimeout = [0.2, 0.3];
    assert.deepEqual(options.requestTimeout, [0.2, 0.3]);
    assert.equal(requestTimeoutMs(options.requestTimeout), 500);
    await assert.rejects(
      () => transport.fetch("/slow", { retry: false, auth: "none" }),
      /timed out after 0\.5 s: raise fused\.options\.requestTimeout/,
    );
    options.requestTimeout = null;
    const answer = await transport.fetch("/slow", { retry: false, auth: "none" });
    assert.deepEqual(await answer.json(), { ok: true });
    assert.throws(() => (options.requestTimeout = [1] as unknown as number), ValidationError);
  } finally {
    options.requestTimeout = before;
    await server.shutdown();
  }
});

Deno.test("each fused-py option with no meaning here says why, on reading and on setting", async () => {
  const { NotSupportedError } = await import("./errors.ts");
  const { UNSUPPORTED_OPTIONS } = await import("./options.ts");
  const options = new FusedOptions({ home: null, env: {} }) as unknown as Record<string, unknown>;
  const documented = [
    "auth",
    "promptToLogin",
    "noLogin",
    "baseWebUrl",
    "defaultValidateImports",
    "defaultSendStatusEmail",
    "logging",
    "gcsSecret",
    "gcsFilename",
    "gcpProjectName",
    "pyodideAsyncRequests",
  ];
  for (const name of documented) {
    assert.ok(name in UNSUPPORTED_OPTIONS, name);
    assert.throws(
      () => options[name],
      (e: Error) => e instanceof NotSupportedError && /is not supported here: \w/.test(e.message),
    );
    assert.throws(() => (options[name] = true), NotSupportedError);
  }
  assert.throws(
    () => (options.noLogin = true),
    /Option noLogin \(fused-py's no_login\) is not supported here: .*fused\.api\.login/,
  );
  assert.throws(
    () => (options as unknown as FusedOptions).update({ logging: true } as never),
    /Option logging .* use verboseUdfRuns/,
  );
});

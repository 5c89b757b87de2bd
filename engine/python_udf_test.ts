/**
 * Python UDFs (fused-py's own code) on the local engine: warm processes of Debian's python3 inside
 * the OS wall, fused-py's API, parameters coerced as fused-py does, results decoded into the
 * tables and rasters every other path uses, and hostile code contained.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as arrow from "apache-arrow";
import { FusedError, UdfRuntimeError, ValidationError } from "../client/errors.ts";
import { geoMetadata } from "../client/formats/geo.ts";
import { isRaster } from "../client/formats/raster.ts";
import { isTable } from "../client/formats/types.ts";
import { load } from "../client/load.ts";
import { type Udf, udf } from "../client/udf.ts";
import { localCaller } from "./_local_host.ts";
import type { LocalEngine } from "./local_engine.ts";
import type { UdfEngine } from "../client/engine_types.ts";
import { serviceCallers } from "../server/runner.ts";
import { LocalStorage } from "../server/storage.ts";
import {
  makeVenv,
  processesWith,
  runtimeError,
  withEngine,
  writeCatalogFolder,
} from "./_engine_test_util.ts";

function py(code: string, name = "p"): Udf {
  return udf(code, { name });
}

const DATAFRAME = `import datetime
import fused
import pandas as pd

@fused.udf(cache_max_age="1h")
def udf(n: int = 2, scale: float = 1.0, label: str = "a", flag: bool = False, tags: list = None):
    print("rows", n)
    return pd.DataFrame({
        "i": pd.Series(range(n), dtype="int64"),
        "x": [i * scale if i < 2 else float("nan") for i in range(n)],
        "label": [label if i else None for i in range(n)],
        "flag": [flag] * n,
        "when": [datetime.datetime(2024, 1, 1 + i) for i in range(n)],
        "day": [datetime.date(2024, 2, 1 + i) if i else None for i in range(n)],
        "maybe": pd.array([i if i % 2 else None for i in range(n)], dtype="Int64"),
        "tags": [",".join(tags or [])] * n,
        "objs": pd.Series([i if i else None for i in range(n)], dtype=object),
    })
`;

Deno.test("a DataFrame UDF with typed parameters returns an Arrow table, dtypes and nulls kept", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const run = await engine.run({
      udf: py(DATAFRAME, "frame"),
      parameters: { n: "3", scale: "0.5", label: "b", flag: "true", tags: '["p", "q"]' },
    });
    assert.ok(isTable(run.value));
    const table = run.value as arrow.Table;
    assert.equal(run.logs.stdout, "rows 3\n");
    assert.deepEqual(
      table.schema.fields.map((f) => `${f.name}:${f.type}`),
      [
        "i:Int64",
        "x:Float64",
        "label:Utf8",
        "flag:Bool",
        "when:Timestamp<NANOSECOND>",
        "day:Date32<DAY>",
        "maybe:Int64",
        "tags:Utf8",
        "objs:Int64",
      ],
    );
    assert.deepEqual([...table.getChild("i")!], [0n, 1n, 2n]);
    assert.deepEqual([...table.getChild("x")!], [0, 0.5, null]); // NaN is null, as in pyarrow
    assert.deepEqual([...table.getChild("label")!], [null, "b", "b"]);
    assert.deepEqual([...table.getChild("flag")!], [true, true, true]);
    assert.deepEqual([...table.getChild("maybe")!], [null, 1n, null]);
    assert.deepEqual([...table.getChild("tags")!], ["p,q", "p,q", "p,q"]);
    assert.deepEqual([...table.getChild("objs")!], [null, 1n, 2n]); // Python ints in an object column
    const when = table.getChild("when")!.get(1);
    assert.equal(new Date(Number(when)).toISOString(), "2024-01-02T00:00:00.000Z"); // Arrow: ms
    const days = table.getChild("day")!;
    assert.equal(days.get(0), null);
    assert.equal(new Date(days.get(2)!).toISOString(), "2024-02-03T00:00:00.000Z");
    // Warm: the second run is served by the same process.
    const again = await engine.run({ udf: py(DATAFRAME, "frame"), parameters: { n: 1 } });
    assert.equal((again.value as arrow.Table).numRows, 1);
    assert.equal(engine.stats.started, 1);
  });
});

Deno.test("parameters the UDF does not take are refused, naming those it takes", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    await assert.rejects(
      engine.run({ udf: py(DATAFRAME, "frame"), parameters: { rows: 3 } }),
      (err: Error) =>
        err instanceof ValidationError &&
        /takes no parameter 'rows': it takes n, scale, label, flag, tags/.test(err.message),
    );
    await assert.rejects(
      engine.run({ udf: py(DATAFRAME, "frame"), parameters: { n: "many" } }),
      (err: Error) => err instanceof ValidationError && /"n" must be int/.test(err.message),
    );
    const signature = await engine.describe(py(DATAFRAME, "frame"));
    assert.deepEqual(signature.parameters.slice(0, 2), [
      { name: "n", type: "number", default: 2 },
      { name: "scale", type: "number", default: 1 },
    ]);
  });
});

Deno.test("a GeoDataFrame becomes a geo table: WKB geometry, its CRS in the geo metadata", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `import fused
import geopandas as gpd
from shapely.geometry import Point

@fused.udf
def udf(bounds: fused.types.Bounds = None):
    w, s, e, n = bounds
    return gpd.GeoDataFrame({"name": ["sw", "ne"]}, geometry=[Point(w, s), Point(e, n)], crs="EPSG:4326")
`;
    const run = await engine.run({ udf: py(code, "points"), parameters: { bounds: "1,2,3,4" } });
    const table = run.value as arrow.Table;
    const geo = geoMetadata(table)!;
    assert.equal(geo.primary_column, "geometry");
    assert.deepEqual(geo.columns.geometry.geometry_types, ["Point"]);
    assert.deepEqual(geo.columns.geometry.bbox, [1, 2, 3, 4]);
    assert.match(JSON.stringify(geo.columns.geometry.crs), /"code":4326/);
    assert.deepEqual([...table.getChild("name")!], ["sw", "ne"]);
  });
});

Deno.test("numpy arrays become rasters, with bounds when returned as (array, bounds)", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `import fused
import numpy as np

@fused.udf
def udf(bounds: fused.types.Bounds = None, kind: str = "tile"):
    arr = np.arange(6, dtype="uint8").reshape(2, 3)
    if kind == "bare":
        return arr.astype("float32")
    return arr, bounds
`;
    const tile = await engine.run({ udf: py(code, "raster"), tile: { x: 0, y: 0, z: 0 } });
    assert.ok(isRaster(tile.value));
    assert.equal(tile.value.dtype, "uint8");
    assert.deepEqual(tile.value.shape, [2, 3]);
    assert.deepEqual([...tile.value.data], [0, 1, 2, 3, 4, 5]);
    assert.equal(tile.value.bounds![0], -180);
    const bare = await engine.run({ udf: py(code, "raster"), parameters: { kind: "bare" } });
    assert.ok(isRaster(bare.value) && bare.value.dtype === "float32" && !bare.value.bounds);
  });
});

Deno.test("str, bytes, dict, list and None come back as themselves", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `import fused

@fused.udf
def udf(kind: str = "str"):
    return {"str": "hé", "bytes": b"\\x00\\x01", "dict": {"a": [1, 2.5, None]}, "list": [True],
            "none": None}[kind]
`;
    const value = async (kind: string) =>
      (await engine.run({ udf: py(code, "kinds"), parameters: { kind } })).value;
    assert.equal(await value("str"), "hé");
    assert.deepEqual(await value("bytes"), new Uint8Array([0, 1]));
    assert.deepEqual(await value("dict"), { a: [1, 2.5, null] });
    assert.deepEqual(await value("list"), [true]);
    assert.equal(await value("none"), null);
  });
});

Deno.test("a Python error comes back as a UdfRuntimeError at the UDF's own line", async () => {
  await withEngine({ maxWorkers: 1, maxResultBytes: 1024 }, async (engine) => {
    const code = `import fused

def helper(d):
    return d["missing"]

@fused.udf
def udf():
    print("before")
    return helper({})
`;
    const err = await runtimeError(engine.run({ udf: py(code, "fails") }));
    assert.equal(err.exceptionClass, "KeyError");
    assert.equal(err.lineno, 4);
    assert.equal(err.line, "    return helper({})".replace("helper({})", 'd["missing"]'));
    assert.match(err.stack!, /at fails\.py:9 in udf\n\s+at fails\.py:4 in helper/);
    assert.equal(err.logs?.stdout, "before\n");
    const unsupported = await runtimeError(
      engine.run({ udf: py(`@fused.udf\ndef udf():\n    return object()\n`, "obj") }),
    );
    assert.match(unsupported.message, /unsupported value \(it is a builtins\.object/);
    const big = await runtimeError(engine.run({
      udf: py(`@fused.udf\ndef udf():\n    return b"x" * 4096\n`, "big"),
    }));
    assert.equal(big.exceptionClass, "ResultTooLargeError");
    assert.match(big.message, /over the limit of 1024 \(options\.maxResultBytes\)/);
  });
});

Deno.test("a header module is imported by its name, without importing fused", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const u = udf(
      `from utils import triple\n\n@fused.udf\ndef udf(n: int = 1):\n    return triple(n)\n`,
      {
        name: "with_header",
        headers: { utils: "def triple(n):\n    return 3 * n\n" },
      },
    );
    assert.equal((await engine.run({ udf: u, parameters: { n: 5 } })).value, 15);
  });
});

Deno.test("@fused.cache keeps results on disk across runs and processes, bare and with arguments", async () => {
  const folders = await Deno.makeTempDir({ prefix: "py_cache_" });
  const code = `import fused

def computed(tag):
    with open(fused.file_path("computed.txt"), "a") as log:
        log.write(tag)

@fused.cache
def square(n):
    computed("s")
    return n * n

@fused.cache(cache_max_age="1d", cache_verbose=False)
def cube(n):
    computed("c")
    return n ** 3

@fused.cache(cache_reset=True)
def always(n):
    computed("a")
    return -n

@fused.udf
def udf(n: int = 2):
    return [square(n), cube(n), always(n)]
`;
  const computed = () => Deno.readTextFile(join(folders, "data", "computed.txt"));
  try {
    for (const round of [1, 2]) {
      // A new engine each round: the second round's process is not the first's.
      await withEngine({ maxWorkers: 1 }, async (engine) => {
        const caller = {
          ...localCaller(engine),
          dataDir: join(folders, "data"),
          cacheDir: join(folders, "cache"),
        };
        const run = (n: number) =>
          engine.run({ udf: py(code, "cached"), parameters: { n }, caller });
        assert.deepEqual((await run(2)).value, [4, 8, -2]);
        assert.equal(await computed(), round === 1 ? "sca" : "scaaa");
        const again = await run(2);
        assert.deepEqual(again.value, [4, 8, -2]);
        assert.equal(await computed(), round === 1 ? "scaa" : "scaaaa");
        if (round === 2) assert.match(again.logs.stderr, /^Cached output of square found$/m);
      });
    }
  } finally {
    await Deno.remove(folders, { recursive: true });
  }
});

Deno.test("fused.file_path and fused.download reach the caller's data folder through the host", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine, dataDir) => {
    const data = join(dataDir, "caller");
    await Deno.mkdir(data);
    await Deno.writeTextFile(join(data, "source.txt"), "hello");
    const caller = { ...localCaller(engine), dataDir: data, cacheDir: join(dataDir, "cache") };
    const code = `import fused

@fused.udf
def udf(url: str = "", target: str = "copies/copy.txt"):
    path = fused.download(url, target)
    with open(fused.file_path("out/result.txt"), "w") as f:
        f.write(open(path).read().upper())
    return path
`;
    const url = `file://${join(data, "source.txt")}`;
    const run = await engine.run({ udf: py(code, "files"), parameters: { url }, caller });
    assert.equal(run.value, join(data, "copies/copy.txt"));
    assert.equal(await Deno.readTextFile(join(data, "out/result.txt")), "HELLO");
    // A host call refused as the caller: the host's own error, at the UDF's line.
    const err = await runtimeError(
      engine.run({
        udf: py(code, "files"),
        parameters: { url: "file:///etc/hostname", target: "h" },
        caller,
      }),
    );
    assert.equal(err.lineno, 5);
  });
});

Deno.test("a TypeScript UDF runs a Python UDF through fused.run", async () => {
  await withEngine({ maxWorkers: 2 }, async (engine) => {
    const ts = udf(
      `import { run, udf } from "fused";
export default async function udf_({ n = 1 }) {
  const double = udf("import fused\\n@fused.udf\\ndef udf(n: int = 1):\\n    return {'doubled': n * 2}\\n", { name: "double" });
  return await run(double, { parameters: { n } });
}`,
      { name: "caller" },
    );
    const run = await engine.run({ udf: ts, parameters: { n: 21 } });
    assert.deepEqual(run.value, { doubled: 42 });
  });
});

Deno.test("no Python process starts without the OS wall", async () => {
  await withEngine({ maxWorkers: 1, wall: "deno" }, async (engine) => {
    await assert.rejects(
      engine.run({ udf: py(DATAFRAME, "frame") }),
      (err: Error) =>
        err instanceof FusedError &&
        /runs only inside its own namespaces \(Deno's permission flags do not apply to Python\), and the wall chosen is "deno"/
          .test(err.message),
    );
    assert.equal(engine.stats.started, 0);
  });
  await withEngine({ maxWorkers: 1, python: "/nonexistent/python3" }, async (engine) => {
    await assert.rejects(
      engine.run({ udf: py(DATAFRAME, "frame") }),
      /the Python interpreter \/nonexistent\/python3 does not exist/,
    );
  });
});

/** No Python process of this host is left: their folders are named `fused-udf-<host pid>-…`. */
async function noneLeft(): Promise<void> {
  const marker = `fused-udf-${Deno.pid}-`;
  // SIGKILLed processes are gone once their parent reaps them: a bounded wait.
  for (let i = 0; i < 100 && processesWith(marker, "python/_runner.py").length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(processesWith(marker, "python/_runner.py"), []);
}

Deno.test("hostile Python UDFs are contained, with clear errors and nothing left running", async () => {
  await withEngine({ maxWorkers: 2, memoryLimitMb: 256, maxTasks: 32 }, async (engine) => {
    const hostile = (body: string, name: string) =>
      py(`import fused\n\n@fused.udf\ndef udf():\n${body}\n`, name);
    const shadow = await runtimeError(
      engine.run({ udf: hostile(`    return open("/etc/shadow").read()`, "shadow") }),
    );
    assert.equal(shadow.exceptionClass, "FileNotFoundError");
    assert.match(shadow.message, /a UDF runs in a sandbox/);
    const etc = await engine.run({
      udf: hostile(`    import os\n    return sorted(os.listdir("/etc"))`, "etc"),
    });
    assert.deepEqual(etc.value, ["alternatives", "localtime"]);
    // A shell sees the same wall; writing outside the UDF's folders fails.
    const shell = await engine.run({
      udf: hostile(
        `    import os, subprocess
    out = subprocess.run(["cat", "/etc/shadow"], capture_output=True)
    return [out.returncode, os.system("touch /usr/owned 2>/dev/null")]`,
        "shell",
      ),
    });
    assert.equal((shell.value as number[])[0], 1);
    assert.notEqual((shell.value as number[])[1], 0);
    const write = await runtimeError(
      engine.run({ udf: hostile(`    open("/usr/lib/owned", "w")`, "write") }),
    );
    assert.equal(write.exceptionClass, "OSError");
    assert.match(write.message, /Read-only file system/);
    Deno.env.set("FUSED_TEST_SECRET", "s3cret");
    const env = await engine.run({
      udf: hostile(`    import os\n    return dict(os.environ)`, "environ"),
      env: { GIVEN: "yes" },
    });
    assert.equal((env.value as Record<string, string>).GIVEN, "yes");
    assert.doesNotMatch(JSON.stringify(env.value), /s3cret/);
    const socket = await runtimeError(engine.run({
      udf: hostile(
        `    import socket\n    socket.create_connection(("127.0.0.1", 5432), timeout=2)`,
        "socket",
      ),
    }));
    assert.match(socket.exceptionClass, /ConnectionRefusedError|OSError/);
    await assert.rejects(
      engine.run({ udf: hostile(`    while True:\n        pass`, "spin"), timeoutMs: 1500 }),
      (err: Error) => err.name === "UdfTimeoutError",
    );
    const forks = await runtimeError(engine.run({
      udf: hostile(
        `    import os, time\n    while True:\n        if os.fork() == 0:\n            time.sleep(60)`,
        "forks",
      ),
      timeoutMs: 20_000,
    }));
    assert.match(forks.message, /Resource temporarily unavailable/);
    const memory = await assert.rejects(
      engine.run({ udf: hostile(`    return len(bytearray(1024 * 2**20))`, "memory") }),
      (err: Error) =>
        (err instanceof UdfRuntimeError && err.exceptionClass === "MemoryError") ||
        /ran out of memory \(limit 256 MB\)/.test(err.message),
    );
    assert.equal(memory, undefined);
    // Still serving after all that.
    const ok = await engine.run({ udf: hostile(`    return 1`, "fine") });
    assert.equal(ok.value, 1);
    await engine.close();
    await noneLeft();
  });
});

/** Waits (bounded) until the engine has a spare Python process with its libraries imported. */
async function spareReady(engine: LocalEngine): Promise<void> {
  for (let i = 0; i < 600 && engine.stats.spares === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(engine.stats.spares, 1, "no spare Python process became ready within 30 s");
}

Deno.test("a new Python UDF version takes over a spare process with pandas imported, in its own wall", async () => {
  await withEngine({ maxWorkers: 4, maxTasks: 32 }, async (engine, dataDir) => {
    const version = (i: number, body: string) =>
      py(`# version ${i}\nimport sys\nimport fused\n\n@fused.udf\ndef udf():\n${body}\n`, "edited");
    const imported = `    return "pandas" in sys.modules`;
    // The first version starts its own process (nothing imported yet); a spare follows it.
    assert.equal((await engine.run({ udf: version(1, imported) })).value, false);
    await spareReady(engine);
    assert.equal(engine.stats.workers, 2);
    const second = await engine.run({ udf: version(2, imported) });
    assert.equal(second.value, true);
    assert.equal(engine.stats.workers, 3, "the second version ran in the spare; a new spare came");
    // The spare's wall has no module folders: not the first version's code, not the udfs folder.
    await spareReady(engine);
    const sees = await engine.run({
      udf: version(
        3,
        `    import os\n    return os.path.exists(${JSON.stringify(join(dataDir, "udfs"))})`,
      ),
    });
    assert.equal(sees.value, false);
    // A timeout kills a process that was a spare.
    await spareReady(engine);
    await assert.rejects(
      engine.run({ udf: version(4, `    while True:\n        pass`), timeoutMs: 1500 }),
      (err: Error) => err.name === "UdfTimeoutError",
    );
    // Another caller never gets this caller's spare: its first run starts a process of its own.
    await spareReady(engine);
    const other = { ...localCaller(engine), id: "someone-else" };
    const started = engine.stats.started;
    assert.equal((await engine.run({ udf: version(5, imported), caller: other })).value, false);
    assert.ok(engine.stats.started > started);
    await engine.close();
    await noneLeft();
  });
});

Deno.test("the first run of a UDF never run before takes over its caller's spare, with its own cache folder", async () => {
  await withEngine({ maxWorkers: 4, maxTasks: 32 }, async (engine, dataDir) => {
    const caller = { ...localCaller(engine), dataDir, cacheDir: join(dataDir, "cache") };
    const code = `import sys

@fused.cache
def kept():
    return 1

@fused.udf
def udf():
    kept()
    return "pandas" in sys.modules
`;
    assert.equal((await engine.run({ udf: py(code, "first"), caller })).value, false);
    await spareReady(engine);
    const started = engine.stats.started;
    assert.equal((await engine.run({ udf: py(code, "second"), caller })).value, true);
    assert.equal(engine.stats.started, started + 1, "only the next spare started");
    // Each UDF's fused.cache entries stay in its own folder of the caller's cache.
    for (const name of ["first", "second"]) {
      const entries = [...Deno.readDirSync(join(dataDir, "cache", "udf", name, "python", "kept"))];
      assert.equal(entries.filter((e) => e.name.endsWith(".pickle")).length, 1);
    }
    // A slot of another UDF's idle process is not taken for a spare: "first" stays warm.
    const warm = engine.stats.started;
    assert.equal((await engine.run({ udf: py(code, "first"), caller })).value, false);
    assert.equal(engine.stats.started, warm);
  });
});

Deno.test("another interpreter: a venv is bound read-only and its packages import", async () => {
  const dir = await Deno.makeTempDir({ prefix: "py_venv_" });
  try {
    const python = await makeVenv(dir);
    await withEngine({ maxWorkers: 1, python }, async (engine) => {
      const code = `import sys
import venv_marker

@fused.udf
def udf():
    try:
        open(sys.prefix + "/written", "w")
        wrote = "yes"
    except OSError as err:
        wrote = type(err).__name__
    return [venv_marker.WHERE, sys.prefix, wrote]
`;
      const run = await engine.run({ udf: py(code, "venv") });
      assert.deepEqual(run.value, ["the venv", join(dir, "venv"), "OSError"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fused.load of a folder laid out as Fused's public catalog runs unchanged, utils.py header and all", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine, dataDir) => {
    const folder = await writeCatalogFolder(dataDir);
    const loaded = await load(folder);
    assert.equal(loaded.language, "python");
    assert.equal(loaded.name, "Grid_Points");
    // meta.json's parameters are the defaults: 3 x 3 points over the code's default bounds.
    const run = await engine.run({ udf: loaded });
    const table = run.value as arrow.Table;
    assert.equal(table.numRows, 9);
    assert.equal(run.logs.stdout, "9 points\n");
    assert.deepEqual([...table.getChild("id")!], [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
    assert.deepEqual(geoMetadata(table)!.columns.geometry.bbox, [-122.5, 37.7, -122.3, 37.8]);
    const given = await engine.run({ udf: loaded, parameters: { n: "2", bounds: "0,0,1,1" } });
    assert.deepEqual(geoMetadata(given.value as arrow.Table)!.columns.geometry.bbox, [0, 0, 1, 1]);
  });
});

Deno.test("fused.api file calls reach the caller's fd:// store through the host, as the caller", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine, dataDir) => {
    const storage = new LocalStorage(join(dataDir, "store"));
    // The service's own callers (files from its store); file calls run no nested UDF.
    const callerOf = serviceCallers({
      engine: {} as UdfEngine,
      dataDir: join(dataDir, "users"),
      storage,
    });
    const caller = callerOf("alice");
    const code = `import fused

@fused.udf
def udf():
    fused.api.upload(b"hello", "fd://box/a.txt")
    with open(fused.file_path("staged/b.txt"), "w") as f:
        f.write("from a file")
    fused.api.upload(fused.file_path("staged/b.txt"), "fd://box/")
    listed = fused.api.list("fd://box/")
    got = fused.api.get("fd://box/a.txt").decode()
    back = open(fused.api.download("fd://box/b.txt", fused.file_path("back/b.txt"))).read()
    deleted = fused.api.delete("fd://box/a.txt")
    refusals = []
    for call in (lambda: fused.api.get("fd://box/a.txt"), lambda: fused.api.list("fd://../x"),
                 lambda: fused.api.upload("/etc/hostname", "fd://box/h.txt"),
                 lambda: fused.api.upload("text, not a path", "fd://box/t.txt"),
                 lambda: fused.api.sign_url("fd://box/b.txt")):
        try:
            call()
            refusals.append(None)
        except Exception as err:
            refusals.append(f"{type(err).__name__}: {err}")
    return {"listed": listed, "got": got, "back": back, "deleted": deleted, "refusals": refusals}
`;
    const run = await engine.run({ udf: py(code, "files"), caller });
    const value = run.value as Record<string, unknown>;
    assert.deepEqual(value.listed, ["fd://box/a.txt", "fd://box/b.txt"]);
    assert.equal(value.got, "hello");
    assert.equal(value.back, "from a file");
    assert.equal(value.deleted, true);
    const [missing, dotdot, outside, text, sign] = value.refusals as string[];
    assert.match(missing, /^FileNotFoundError/);
    assert.match(dotdot, /may not contain \.\. segments/);
    assert.match(outside, /^FileNotFoundError: No file \/etc\/hostname/); // not in the wall
    assert.match(text, /to upload text, encode it first/);
    // The service's host signs no URL for a UDF: the host's rule, word for word.
    assert.match(sign, /signUrl is not available inside a UDF on the service/);
    // The store holds what the UDF left, as the caller's files.
    assert.deepEqual((await storage.list("box")).map((f) => f.key), ["box/b.txt"]);
  });
});

// A Python UDF reading tables of nested runs: its own function (a GeoDataFrame with every dtype)
// and a TypeScript UDF's Arrow table, each described back as dtypes and values.
const NESTED_TABLES = `import datetime
import fused
import pandas as pd

@fused.udf
def frame(n: int = 3):
    import geopandas as gpd
    from shapely.geometry import Point

    return gpd.GeoDataFrame({
        "i": pd.Series(range(n), dtype="int64"),
        "x": [0.5, float("nan"), 2.5][:n],
        "s": ["a", None, "c"][:n],
        "flag": [True, False, True][:n],
        "maybe": pd.array([1, None, 3][:n], dtype="Int64"),
        "when": pd.to_datetime(["2024-01-01T01:02:03.000004", None, "2024-03-01"][:n]).tz_localize("Europe/Paris"),
        "day": [datetime.date(2024, 2, 1), None, datetime.date(1969, 12, 31)][:n],
        "raw": [b"\\x00\\x01", b"", None][:n],
    }, geometry=[Point(i, -i) for i in range(n)], crs=3857)

def describe(df):
    return {
        "type": type(df).__name__,
        "crs": df.crs.to_epsg() if hasattr(df, "crs") else None,
        "dtypes": {c: str(t) for c, t in df.dtypes.items()},
        "rows": [[None if v is None or v != v else v.wkt if hasattr(v, "wkt") else str(v) for v in row]
                 for row in df.itertuples(index=False)],
    }

@fused.udf
def udf(ts_code: str = ""):
    return {"py": describe(fused.run(frame)), "ts": describe(fused.run(ts_code))}
`;

const TS_TABLE = `import * as arrow from "apache-arrow";
export default function udf() {
  return new arrow.Table({
    n: arrow.vectorFromArray([1, null, 3], new arrow.Int32()),
    f: arrow.vectorFromArray([1.5, 2.5, null], new arrow.Float32()),
    big: arrow.vectorFromArray([2n ** 40n, 0n, -1n], new arrow.Int64()),
    word: arrow.vectorFromArray(["x", null, "x"]),
    ok: arrow.vectorFromArray([true, null, false], new arrow.Bool()),
    at: arrow.vectorFromArray([Date.UTC(2024, 0, 2), null, 0], new arrow.TimestampMillisecond()),
    day: arrow.vectorFromArray([Date.UTC(2024, 0, 2), null, 0], new arrow.DateDay()),
  });
}
`;

Deno.test("a Python UDF reads a nested run's table as a DataFrame, dtypes kept (Python and TypeScript UDFs)", async () => {
  await withEngine({ maxWorkers: 2 }, async (engine) => {
    const run = await engine.run({
      udf: py(NESTED_TABLES, "tables"),
      parameters: { ts_code: TS_TABLE },
    });
    const { py: fromPy, ts: fromTs } = run.value as Record<string, Record<string, unknown>>;
    assert.equal(fromPy.type, "GeoDataFrame");
    assert.equal(fromPy.crs, 3857);
    assert.deepEqual(fromPy.dtypes, {
      i: "int64",
      x: "float64",
      s: "object",
      flag: "bool",
      maybe: "float64", // integers with nulls, as pyarrow's to_pandas gives them
      when: "datetime64[ns, Europe/Paris]",
      day: "object",
      raw: "object",
      geometry: "geometry",
    });
    assert.deepEqual(fromPy.rows, [
      [
        "0",
        "0.5",
        "a",
        "True",
        "1.0",
        "2024-01-01 01:02:03.000004+01:00",
        "2024-02-01",
        "b'\\x00\\x01'",
        "POINT (0 0)",
      ],
      ["1", null, null, "False", null, null, null, "b''", "POINT (1 -1)"],
      [
        "2",
        "2.5",
        "c",
        "True",
        "3.0",
        "2024-03-01 00:00:00+01:00",
        "1969-12-31",
        null,
        "POINT (2 -2)",
      ],
    ]);
    assert.equal(fromTs.type, "DataFrame");
    assert.deepEqual(fromTs.dtypes, {
      n: "float64",
      f: "float32",
      big: "int64",
      word: "object",
      ok: "object",
      at: "datetime64[ns]",
      day: "object",
    });
    assert.deepEqual(fromTs.rows, [
      ["1.0", "1.5", "1099511627776", "x", "True", "2024-01-02 00:00:00", "2024-01-02"],
      [null, "2.5", "0", null, null, null, null],
      ["3.0", null, "-1", "x", "False", "1970-01-01 00:00:00", "1970-01-01"],
    ]);
  });
});

// fused.submit inside a Python UDF: 100 runs of a TypeScript UDF (its code) and 100 of a
// function of the UDF's own code, collected into DataFrames as fused-py's submit returns them.
const SUBMIT = `import fused
import pandas as pd

@fused.udf
def triple(n: int = 0, label: str = ""):
    return pd.DataFrame({"tripled": [n * 3], "label": [label]})

@fused.udf
def udf(ts_code: str = "", count: int = 100):
    squares = fused.submit(ts_code, list(range(count)), max_workers=4)
    tripled = fused.submit(triple, [{"n": i} for i in range(count)], label="x")
    scalars = fused.submit(ts_code, [1, 2], flatten=False)
    failed = []
    try:
        fused.submit(triple, [{"n": 1}, {"n": "not a number"}])
    except Exception as err:
        failed.append(f"{err.name}: {err}")
    kept = fused.submit(triple, [{"n": 1}, {"n": "not a number"}], ignore_exceptions=True)
    return {
        "squares": [list(squares.columns), squares.values.tolist()],
        "tripled": [list(tripled.columns), tripled.values.tolist()],
        "nested": [list(scalars.columns), [str(v) for v in scalars["result"]]],
        "failed": failed,
        "kept": len(kept),
    }
`;

Deno.test("fused.submit in a Python UDF runs 100 TypeScript and 100 Python runs through the host", async () => {
  await withEngine({ maxWorkers: 2 }, async (engine) => {
    const tsCode = `export default function udf({ n = 0 }: { n?: number }) {
  return [{ square: n * n }];
}
`;
    const run = await engine.run({ udf: py(SUBMIT, "submitter"), parameters: { ts_code: tsCode } });
    const value = run.value as Record<string, [string[], unknown[][]]>;
    const range = [...Array(100).keys()];
    assert.deepEqual(value.squares, [["n", "square"], range.map((n) => [n, n * n])]);
    assert.deepEqual(value.tripled, [["n", "tripled", "label"], range.map((n) => [n, n * 3, "x"])]);
    assert.deepEqual(value.nested, [["n", "result"], ["[{'square': 1}]", "[{'square': 4}]"]]);
    const [failed] = value.failed as unknown as string[];
    assert.match(
      failed,
      /^ValidationError: run #1 of fused.submit \(\{'n': 'not a number'\}\) failed: Parameter "n" must be int/,
    );
    assert.equal(value.kept, 1);
  });
});

Deno.test("a Python run's logs keep the first and the last part of each stream, as TypeScript's", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `import sys

@fused.udf
def udf(lines: int = 30000):
    print("first")
    for i in range(lines):
        print(f"{i:08d}" + "x" * 92)
    print("last", file=sys.stderr)
    print("last")
`;
    const run = await engine.run({ udf: py(code, "chatty") });
    const out = run.logs.stdout;
    assert.ok(out.startsWith("first\n00000000xxx"));
    assert.ok(out.endsWith("00029999" + "x".repeat(92) + "\nlast\n"));
    const note =
      /\n\[\.\.\. (\d+) characters of output cut: a run keeps the first and last 512 KiB of each stream \.\.\.\]\n/;
    const cut = note.exec(out);
    assert.ok(cut, "the cut is named");
    // Nothing is lost but what the cut counts.
    assert.equal(out.replace(note, "").length + Number(cut[1]), 6 + 30000 * 101 + 5);
    assert.equal(run.logs.stderr, "last\n");
  });
});

Deno.test("@fused.cache computes a key once when two processes call it at the same moment", async () => {
  await withEngine({ maxWorkers: 2 }, async (engine, dataDir) => {
    // Two versions of one UDF (two processes, one cache folder) meet before calling slow(): without
    // the lock both would find no entry and compute it.
    const code = (version: string) =>
      `import os
import time

@fused.cache
def slow(n):
    with open(fused.file_path("computed.txt"), "a") as log:
        log.write("c")
    time.sleep(0.5)
    return n * n

@fused.udf
def udf(n: int = 3):
    # version ${version}
    open(fused.file_path("started-${version}"), "w").close()
    for _ in range(600):
        if all(os.path.exists(fused.file_path(f"started-{v}")) for v in "ab"):
            break
        time.sleep(0.05)
    else:
        raise TimeoutError("the other process never started")
    return slow(n)
`;
    const caller = { ...localCaller(engine), dataDir, cacheDir: join(dataDir, "cache") };
    const runs = await Promise.all(
      ["a", "b"].map((v) => engine.run({ udf: py(code(v), "locked"), caller })),
    );
    assert.deepEqual(runs.map((r) => r.value), [9, 9]);
    assert.equal(await Deno.readTextFile(join(dataDir, "computed.txt")), "c");
    assert.equal(runs.filter((r) => /Cached output of slow found/.test(r.logs.stderr)).length, 1);
  });
});

Deno.test("an xarray DataArray becomes a raster, north up, with bounds from its coordinates", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `import numpy as np
import xarray as xr

@fused.udf
def udf(kind: str = "coords"):
    values = np.arange(6, dtype="uint8").reshape(2, 3)
    if kind == "bare":
        return xr.DataArray(values, dims=("row", "col"))
    if kind == "uneven":
        return xr.DataArray(values, coords={"y": [0.5, 1.5], "x": [0, 1, 5]}, dims=("y", "x"))
    if kind == "dataset":
        return xr.Dataset({"v": (("y", "x"), values)})
    # Rows south to north, as many grids are stored: the raster is north up.
    return xr.DataArray(values, coords={"y": [0.5, 1.5], "x": [10.5, 11.5, 12.5]}, dims=("y", "x"))
`;
    const run = await engine.run({ udf: py(code, "xr") });
    assert.ok(isRaster(run.value));
    assert.deepEqual(run.value.shape, [2, 3]);
    assert.deepEqual([...run.value.data], [3, 4, 5, 0, 1, 2]);
    assert.deepEqual(run.value.bounds, [10, 0, 13, 2]);
    const bare = await engine.run({ udf: py(code, "xr"), parameters: { kind: "bare" } });
    assert.ok(isRaster(bare.value) && !bare.value.bounds);
    assert.deepEqual([...bare.value.data], [0, 1, 2, 3, 4, 5]);
    const uneven = await runtimeError(
      engine.run({ udf: py(code, "xr"), parameters: { kind: "uneven" } }),
    );
    assert.match(uneven.message, /x\/y coordinates are not evenly spaced/);
    const dataset = await runtimeError(
      engine.run({ udf: py(code, "xr"), parameters: { kind: "dataset" } }),
    );
    assert.match(dataset.message, /it is a xarray.core.dataset.Dataset; a UDF may return/);
  });
});

Deno.test("a file beside the UDF's code is not there, and the error says where data files go", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `import os

@fused.udf
def udf():
    with open(os.path.join(os.path.dirname(__file__), "data.csv")) as f:
        return f.read()
`;
    const err = await runtimeError(engine.run({ udf: py(code, "beside") }));
    assert.match(err.message, /No such file or directory: '\/udf\/data.csv'/);
    assert.match(err.message, /only a UDF's \.py files travel with it.*fused\.file_path\(\)/);
  });
});

Deno.test("fused.run and fused.submit refuse what they cannot send, saying what they take", async () => {
  await withEngine({ maxWorkers: 1 }, async (engine) => {
    const code = `@fused.udf
def udf():
    def inner(n: int = 1):
        return n

    refusals = []
    for call in (lambda: fused.run(inner), lambda: fused.run(lambda: 1), lambda: fused.run(42),
                 lambda: fused.submit(udf, [1], collect=False)):
        try:
            call()
            refusals.append(None)
        except Exception as err:
            refusals.append(f"{type(err).__name__}: {err}")
    return refusals
`;
    const [inner, lambda, number, live] = (await engine.run({ udf: py(code, "refusals") }))
      .value as string[];
    assert.match(inner, /^TypeError: fused.run cannot send the function 'udf.<locals>.inner'/);
    assert.match(inner, /defined at the top level of the UDF's code/);
    assert.match(lambda, /^TypeError: fused.run cannot send the function/);
    assert.match(number, /^TypeError: fused.run takes a UDF from fused.load.*not int/);
    assert.match(live, /^NotImplementedError: fused.submit\(collect=False\).*use collect=True/);
  });
});

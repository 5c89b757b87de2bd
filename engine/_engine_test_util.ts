/** Helpers shared by the executor's tests: an engine over a temporary data folder, UDFs, errors. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { UdfRuntimeError } from "../client/errors.ts";
import { type Udf, udf } from "../client/udf.ts";
import { LocalEngine, type LocalEngineOptions } from "./mod.ts";
import type { HostCallScope } from "./_host_calls.ts";
import { type HostHandler, LOCAL_POLICY } from "../client/engine_types.ts";

export async function withEngine(
  options: LocalEngineOptions,
  fn: (engine: LocalEngine, dataDir: string) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "engine_test_" });
  const engine = new LocalEngine({ dataDir, ...options });
  try {
    await fn(engine, dataDir);
  } finally {
    await engine.close();
    await Deno.remove(dataDir, { recursive: true });
  }
}

export function ts(code: string, name = "t"): Udf {
  return udf(code, { name });
}

export async function runtimeError(promise: Promise<unknown>): Promise<UdfRuntimeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof UdfRuntimeError, `expected UdfRuntimeError, got ${err}`);
    return err;
  }
  throw new Error("the run did not fail");
}

/** What a host call sees of a local run: `host` answers as the caller, whose data is `dataDir`. */
export function hostCallScope(
  dataDir: string,
  host: Partial<HostHandler>,
  net: boolean | string[] = false,
): HostCallScope {
  return {
    caller: {
      id: "local",
      depth: 0,
      dataDir,
      cacheDir: dataDir,
      host: host as HostHandler,
      policy: LOCAL_POLICY,
    },
    net,
    signal: new AbortController().signal,
    describe: () => Promise.reject(new Error("not used")),
  };
}

/** A venv of Debian's python3 (no pip: PyPI is not reachable) with one module of its own. */
export async function makeVenv(dir: string): Promise<string> {
  const venv = join(dir, "venv");
  const made = await new Deno.Command("/usr/bin/python3", {
    args: ["-m", "venv", "--without-pip", "--system-site-packages", venv],
  }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  await Deno.writeTextFile(
    join(venv, "lib", "python3.11", "site-packages", "venv_marker.py"),
    'WHERE = "the venv"\n',
  );
  return join(venv, "bin", "python");
}

/** Pids of live UDF processes (runner `script`) whose command line mentions `marker`. */
export function processesWith(marker: string, script = "_child.ts"): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      const state = Deno.readTextFileSync(`/proc/${entry.name}/stat`).split(" ")[2];
      if (cmdline.includes(script) && cmdline.includes(marker) && state !== "Z") {
        found.push(Number(entry.name));
      }
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/**
 * Writes `Grid_Points` into `parent`, laid out as the public catalog's folders are: meta.json (a
 * job_config with one udf step naming its source and headers, `n: 3` its parameter), the UDF's .py
 * file (a grid of points over its bounds, `[-122.5, 37.7, -122.3, 37.8]` by default) and
 * `utils.py`. Written for the tests. Returns the folder.
 */
export async function writeCatalogFolder(parent: string): Promise<string> {
  const folder = join(parent, "Grid_Points");
  await Deno.mkdir(folder, { recursive: true });
  await Deno.writeTextFile(
    join(folder, "meta.json"),
    JSON.stringify({
      job_config: {
        version: "0.0.3",
        name: null,
        steps: [{
          type: "udf",
          udf: {
            type: "geopandas_v2",
            name: "Grid_Points",
            entrypoint: "udf",
            parameters: { n: 3 },
            metadata: {
              "fused:udfType": "auto",
              "fused:description": "A grid of points over the bounds",
              "fused:tags": [{ id: "vector", label: "vector" }],
            },
            source: "Grid_Points.py",
            headers: [{ module_name: "utils", source_file: "utils.py" }],
          },
        }],
      },
    }),
  );
  await Deno.writeTextFile(
    join(folder, "Grid_Points.py"),
    `@fused.udf
def udf(bounds: fused.types.Bounds = [-122.5, 37.7, -122.3, 37.8], n: int = 2):
    import geopandas as gpd
    from utils import grid_points

    gdf = gpd.GeoDataFrame(geometry=grid_points(bounds, n), crs=4326)
    gdf["id"] = range(len(gdf))
    print(f"{len(gdf)} points")
    return gdf
`,
  );
  await Deno.writeTextFile(
    join(folder, "utils.py"),
    `from shapely.geometry import Point


def grid_points(bounds, n):
    w, s, e, n_ = bounds
    step_x, step_y = (e - w) / (n - 1), (n_ - s) / (n - 1)
    return [Point(w + i * step_x, s + j * step_y) for j in range(n) for i in range(n)]
`,
  );
  return folder;
}

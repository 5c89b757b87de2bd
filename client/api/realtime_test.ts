import assert from "node:assert/strict";
import { UdfRuntimeError, UdfTimeoutError, ValidationError } from "../errors.ts";
import { options } from "../options.ts";
import { runDetailed } from "../run.ts";
import { tileBounds } from "../tiles.ts";
import { udf } from "../udf.ts";
import { withService } from "./_test_util.ts";
import "./mod.ts";
import { realtimeClientId } from "./instances.ts";
import { runFile, runSharedFile, runSharedTile, runTile, serializeParameters } from "./realtime.ts";
import { createUdfAccessToken } from "./tokens.ts";
import { toFused } from "./udfs.ts";

const DOUBLE = `export default function udf({ n = 1 }) {
  console.log("doubling " + n);
  return { doubled: n * 2 };
}
`;

const FAILS = `export default function udf({ n = 1 }) {
  console.log("about to fail");
  throw new TypeError("bad n " + n);
}
`;

const SLEEPS = `export default async function udf({ ms = 0 }) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return "slept " + ms;
}
`;

const BOUNDS = `export default function udf({ bounds }) {
  return bounds;
}
`;

const ECHO = `export default function udf({ xs = [0], flag = false, opts = {}, label = "" }) {
  return { sum: xs.reduce((a, b) => a + b, 0), flag, opts, label };
}
`;

Deno.test("fused.run with the remote engine runs a UDF on the service and returns its logs", async () => {
  await withService({}, async () => {
    const response = await runDetailed(udf(DOUBLE, { name: "double" }), {
      engine: "remote",
      n: 21,
      verbose: false,
    });
    assert.deepEqual(response.data, { doubled: 42 });
    assert.equal(response.logs.stdout, "doubling 21\n");
    assert.equal(response.cached, false);
    assert.equal(response.udf?.name, "double");
  });
});

Deno.test("remote runs send arrays, booleans and objects as Fused does, and the UDF gets them typed", async () => {
  await withService({}, async () => {
    const response = await runDetailed(udf(ECHO, { name: "echo" }), {
      engine: "remote",
      xs: [1, 2, 3],
      flag: true,
      opts: { a: 1 },
      label: "hi",
      verbose: false,
    });
    assert.deepEqual(response.data, { sum: 6, flag: true, opts: { a: 1 }, label: "hi" });
    assert.deepEqual(serializeParameters({ xs: [1, 2], flag: true, n: 3, skip: undefined }), {
      xs: "[1,2]",
      flag: "true",
      n: 3,
    });
  });
});

Deno.test("a remote tile run gives the UDF the bounds of the tile", async () => {
  await withService({}, async () => {
    const response = await runDetailed(udf(BOUNDS, { name: "bounds" }), {
      engine: "remote",
      x: 1,
      y: 2,
      z: 3,
      verbose: false,
    });
    const expected = tileBounds(1, 2, 3);
    assert.equal((response.data as number[]).length, 4);
    (response.data as number[]).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-9));
  });
});

Deno.test("a UDF that throws on the service becomes a UdfRuntimeError with its logs and line", async () => {
  await withService({}, async () => {
    await assert.rejects(
      runDetailed(udf(FAILS, { name: "fails" }), { engine: "remote", n: 7, verbose: false }),
      (err: UdfRuntimeError) => {
        assert.ok(err instanceof UdfRuntimeError);
        assert.equal(err.udfName, "fails");
        assert.equal(err.exceptionClass, "TypeError");
        assert.equal(err.lineno, 3);
        assert.match(err.message, /bad n 7/);
        assert.equal(err.logs.stdout, "about to fail\n");
        return true;
      },
    );
  });
});

Deno.test("an unknown parameter of a remote run is a ValidationError naming it", async () => {
  await withService({}, async () => {
    await assert.rejects(
      runDetailed(udf(DOUBLE, { name: "double" }), { engine: "remote", nope: 1, verbose: false }),
      (err: Error) => {
        assert.ok(err instanceof ValidationError);
        assert.match(err.message, /unexpected parameter "nope"/);
        return true;
      },
    );
  });
});

Deno.test("a run that outlasts the service's first wait is polled until its result is ready", async () => {
  await withService({ startWaitMs: 20 }, async () => {
    const response = await runDetailed(udf(SLEEPS, { name: "sleeps" }), {
      engine: "remote",
      ms: 400,
      verbose: false,
    });
    assert.equal(response.data, "slept 400");
  });
});

Deno.test("a polled run that outlasts runTimeout becomes a UdfTimeoutError", async () => {
  await withService({ startWaitMs: 20 }, async () => {
    await assert.rejects(
      runDetailed(udf(SLEEPS, { name: "sleeps" }), {
        engine: "remote",
        ms: 1500,
        runTimeout: 300,
        verbose: false,
      }),
      (err: Error) => {
        assert.ok(err instanceof UdfTimeoutError);
        assert.match(err.message, /"sleeps" did not finish within 300 ms/);
        return true;
      },
    );
  });
});

Deno.test("a run the service stops for taking too long becomes a UdfTimeoutError", async () => {
  await withService({ runTimeoutMs: 200 }, async () => {
    await assert.rejects(
      runDetailed(udf(SLEEPS, { name: "sleeps" }), { engine: "remote", ms: 2000, verbose: false }),
      UdfTimeoutError,
    );
  });
});

Deno.test("runFile and runTile run a saved UDF by owner and name", async () => {
  await withService({}, async () => {
    await toFused(udf(DOUBLE, { name: "double" }));
    await toFused(udf(BOUNDS, { name: "bounds" }));
    assert.deepEqual(await runFile("admin@localhost", "double", { n: 4 }), { doubled: 8 });
    assert.deepEqual(await runFile("admin/double", undefined, { parameters: { n: 5 } }), {
      doubled: 10,
    });
    const bounds = await runTile("admin", "bounds", { x: 0, y: 0, z: 0 }) as number[];
    assert.ok(Math.abs(bounds[0] + 180) < 1e-9 && Math.abs(bounds[2] - 180) < 1e-9);
    await assert.rejects(runFile("admin", "missing"), /HTTP 404: No saved UDF "missing" of admin/);
    await assert.rejects(runFile("double"), /Cannot tell the owner and the name of "double"/);
  });
});

Deno.test("runSharedFile and runSharedTile run a UDF by share token without logging in", async () => {
  await withService({}, async () => {
    await toFused(udf(DOUBLE, { name: "double" }));
    await toFused(udf(BOUNDS, { name: "bounds" }));
    const double = await createUdfAccessToken("double");
    const bounds = await createUdfAccessToken("bounds");
    Deno.env.delete("FUSED_AUTH_TOKEN");
    assert.deepEqual(await runSharedFile(double.token, { n: 6 }), { doubled: 12 });
    const tile = await runSharedTile(bounds.token, { x: 1, y: 0, z: 1 }) as number[];
    assert.equal(tile[0], 0);
    await assert.rejects(runSharedFile("double"), /"double" is not a share token/);
    await assert.rejects(
      runSharedFile("fsh_00000000000000000000000000000000"),
      /HTTP 404: Unknown share token/,
    );
  });
});

Deno.test("fused.run with the remote engine runs saved UDFs by name and by share token", async () => {
  await withService({}, async () => {
    await toFused(udf(DOUBLE, { name: "double" }));
    const token = await createUdfAccessToken("double");
    const byName = await runDetailed("admin/double", { engine: "remote", n: 2, verbose: false });
    assert.deepEqual(byName.data, { doubled: 4 });
    assert.equal(byName.udf?.metadata?.["fused:slug"], "double");
    const byToken = await runDetailed(token.token, { engine: "remote", n: 3, verbose: false });
    assert.deepEqual(byToken.data, { doubled: 6 });
    assert.equal(byToken.logs.stdout, "doubling 3\n");
  });
});

Deno.test("the realtime instance is asked once and kept in fused.options", async () => {
  await withService({}, async () => {
    assert.equal(options.realtimeClientId, null);
    assert.equal(await realtimeClientId(), "local");
    assert.equal(options.realtimeClientId, "local");
    options.realtimeClientId = "elsewhere";
    await assert.rejects(
      runDetailed(udf(DOUBLE, { name: "double" }), { engine: "remote", verbose: false }),
      /Unknown realtime instance "elsewhere"/,
    );
  });
});

import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { ValidationError } from "../client/errors.ts";
import { IngestJob } from "./job.ts";
import type { IngestResult } from "./options.ts";

const RESULT = { files: 1, chunks: 2, rows: 3 } as IngestResult;

function counting(): { job: (input: unknown, output: string) => IngestJob; runs: () => number } {
  let runs = 0;
  return {
    job: (input, output) =>
      new IngestJob("ingest", input as string, { output }, () => {
        runs++;
        return Promise.resolve(RESULT);
      }),
    runs: () => runs,
  };
}

Deno.test("nothing runs until the job is run or awaited; awaiting runs it once", async () => {
  const { job, runs } = counting();
  const j = job("fd://in/a.csv", "fd://t/a");
  assert.equal(runs(), 0);
  assert.equal(await j, RESULT);
  assert.equal(await j, RESULT);
  assert.equal(runs(), 1);
  assert.equal(await j.run(), RESULT);
  assert.equal(runs(), 2, "run() runs again");
});

Deno.test("option names are checked when the job runs, as a rejection", async () => {
  const j = new IngestJob("ingest", "a.csv", { output: "t", lonlat_cols: ["a"] } as never, () => {
    throw new Error("not reached");
  });
  await assert.rejects(j, /Unknown ingest option "lonlat_cols": write it as "lonlatCols"/);
  await assert.rejects(j.runBatch(), /write it as "lonlatCols"/);
});

Deno.test("runBatch refuses inputs the service's workers cannot read, naming the fix", async () => {
  const { job } = counting();
  await assert.rejects(job("data/parcels.geojson", "fd://t/p").runBatch(), (e: Error) => {
    assert.ok(e instanceof ValidationError);
    assert.match(e.message, /"data\/parcels.geojson" .* local path, which the service's workers/);
    assert.match(
      e.message,
      /fused\.api\.upload\("data\/parcels.geojson", "fd:\/\/inputs\/parcels.geojson"\)/,
    );
    return true;
  });
  await assert.rejects(
    job(["https://x.org/a.csv", "file:///tmp/b.csv"], "fd://t/p").runBatch(),
    /"file:\/\/\/tmp\/b.csv" as a batch job: it is a local path/,
  );
  const table = new arrow.Table({ v: arrow.makeVector(Float64Array.from([1])) });
  await assert.rejects(job(table, "fd://t/p").runBatch(), /upload it as Parquet first/);
});

Deno.test("runBatch refuses a local output: the workers write to the service's store", async () => {
  const { job } = counting();
  await assert.rejects(
    job("fd://in/a.csv", "/tmp/out").runBatch(),
    /A batch job cannot write output to "\/tmp\/out": .* give an fd:\/\/ output/,
  );
});

import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { parquetMetadata } from "hyparquet";
import * as pq from "parquet-wasm";
import { ParquetWriters, writeHere } from "./_parquet_writers.ts";
import { writeIpcRowGroups } from "./_row_groups.ts";

function ipc(): Uint8Array {
  const a = arrow.tableFromArrays({ v: Float64Array.from({ length: 500 }, (_, i) => i / 3) });
  // Two record batches: two row groups.
  const t = new arrow.Table(a.schema, [a.slice(0, 200).batches[0], a.slice(200).batches[0]]);
  return arrow.tableToIPC(t, "stream");
}

Deno.test("writer threads write the bytes this thread writes, one row group per batch", async () => {
  // One entry: parquet-wasm orders several key-value entries by a hash map whose seed differs
  // from one WASM instance to the next (the content is the same).
  const metadata = new Map([["geo", "{}"]]);
  const here = writeIpcRowGroups(pq, ipc(), metadata);
  assert.deepEqual(await writeHere(ipc(), metadata), here);
  const meta = parquetMetadata(here.slice().buffer);
  assert.deepEqual(meta.row_groups.map((g) => Number(g.num_rows)), [200, 300]);
  const writers = await ParquetWriters.open(2);
  assert.ok(writers, "threads start here");
  try {
    const out = await Promise.all([1, 2, 3].map(() => writers.write(ipc(), metadata)));
    for (const bytes of out) assert.deepEqual(bytes, here);
  } finally {
    writers.close();
  }
  await assert.rejects(() => writers.write(ipc(), metadata), /writer threads were closed/);
});

Deno.test("a write of bytes that are not Arrow IPC fails with the writer's reason", async () => {
  const writers = (await ParquetWriters.open(1))!;
  try {
    await assert.rejects(
      () => writers.write(new Uint8Array([1, 2, 3, 4]), new Map()),
      /Cannot write a Parquet file: /,
    );
    // The thread still writes afterwards.
    assert.ok((await writers.write(ipc(), new Map())).byteLength > 0);
  } finally {
    writers.close();
  }
  await assert.rejects(() => writeHere(new Uint8Array([1, 2, 3, 4]), new Map()));
});

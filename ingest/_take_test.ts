import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { takeRows } from "./_take.ts";

function twoBatchTable(): arrow.Table {
  const make = (offset: number): arrow.Table =>
    new arrow.Table({
      i: arrow.vectorFromArray([offset, null, offset + 2], new arrow.Int32()),
      big: arrow.vectorFromArray([BigInt(offset), 2n, 3n], new arrow.Int64()),
      s: arrow.vectorFromArray([`s${offset}`, null, `t${offset}`], new arrow.Utf8()),
      b: arrow.vectorFromArray([true, false, null], new arrow.Bool()),
      d: arrow.vectorFromArray(
        ["x", "y", "x"],
        new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32()),
      ),
      l: arrow.vectorFromArray(
        [[1], [2, 3], []],
        new arrow.List(new arrow.Field("item", new arrow.Int32())),
      ),
    });
  const a = make(0);
  const b = make(10);
  return new arrow.Table(a.schema, [
    ...a.batches,
    ...b.batches.map((x) => new arrow.RecordBatch(a.schema, x.data)),
  ]);
}

Deno.test("takeRows gathers rows across batches, in order, with nulls and repeats", () => {
  const t = twoBatchTable();
  const out = takeRows(t, Uint32Array.from([5, 0, 1, 3, 3]));
  assert.equal(out.batches.length, 1);
  const rows = out.toArray().map((r) => r.toJSON());
  const want = [5, 0, 1, 3, 3].map((k) => t.get(k)!.toJSON());
  assert.deepEqual(
    rows.map((r) => [r.i, r.big, r.s, r.b, r.d, [...(r.l as arrow.Vector)]]),
    want.map((r) => [r.i, r.big, r.s, r.b, r.d, [...(r.l as arrow.Vector)]]),
  );
  assert.equal(out.getChild("i")!.nullCount, 1);
});

Deno.test("takeRows reads sliced tables from the right offset", () => {
  const t = twoBatchTable().slice(1, 5);
  const out = takeRows(t, Uint32Array.from([3, 2, 0]));
  assert.deepEqual([...out.getChild("s")!], [t.get(3)!.s, t.get(2)!.s, t.get(0)!.s]);
  assert.deepEqual([...out.getChild("i")!], [t.get(3)!.i, t.get(2)!.i, t.get(0)!.i]);
});

Deno.test("takeRows uses the columns it is given as they are and gathers the others", () => {
  const t = twoBatchTable();
  const order = Uint32Array.of(4, 0, 5);
  const s = arrow.vectorFromArray(["given", null, "too"], new arrow.Utf8()).data[0];
  const got = takeRows(t, order, new Map([["s", s]]));
  assert.equal(got.getChild("s")!.data[0], s);
  assert.deepEqual(got.getChild("s")!.toArray(), ["given", null, "too"]);
  assert.deepEqual(got.getChild("i")!.toArray(), takeRows(t, order).getChild("i")!.toArray());
});

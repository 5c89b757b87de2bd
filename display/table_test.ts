import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { tableFromGeoJSON } from "../client/formats/geo.ts";
import { DATA_RESOURCE_MIME, geometrySummary, tableToMimeBundle } from "./table.ts";
import { wkbFromGeometry } from "../client/formats/geo.ts";

function numbers(n: number): arrow.Table {
  const id = new Int32Array(n);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    id[i] = i;
    x[i] = i * 0.5;
  }
  return arrow.tableFromArrays({ id, x });
}

/**
 * Wraps a table so that every cell read is counted and any whole-column access (iteration,
 * toArray, data buffers) throws: the display may only call `vector.get(i)`, or `slice(a, b)`
 * whose rows then count as read.
 */
function countingTable(table: arrow.Table): { table: arrow.Table; reads: () => number } {
  let reads = 0;
  const allowed = new Set(["get", "type", "length", "nullCount"]);
  const wrapVector = (v: arrow.Vector): arrow.Vector =>
    new Proxy(v, {
      get(target, key) {
        if (key === "get") {
          return (i: number) => {
            reads++;
            return target.get(i);
          };
        }
        if (key === "slice") {
          return (begin: number, end: number) => {
            const part = target.slice(begin, end);
            reads += part.length;
            return part;
          };
        }
        if (typeof key === "string" && !allowed.has(key)) {
          throw new Error(`display touched vector.${key}, which reads more than the shown rows`);
        }
        if (typeof key === "symbol") throw new Error("display iterated a whole column");
        return Reflect.get(target, key, target);
      },
    });
  const proxy = new Proxy(table, {
    get(target, key) {
      if (key === "getChildAt") return (i: number) => wrapVector(target.getChildAt(i)!);
      if (key === "getChild") return (n: string) => wrapVector(target.getChild(n)!);
      if (key === Symbol.iterator || key === "toArray" || key === "slice") {
        throw new Error(`display called table.${String(key)} on the whole table`);
      }
      return Reflect.get(target, key, target);
    },
  });
  return { table: proxy, reads: () => reads };
}

Deno.test("a small table shows every row, its shape and column types", () => {
  const b = tableToMimeBundle(numbers(3));
  const html = String(b.data["text/html"]);
  assert.match(html, /3 rows × 2 columns/);
  assert.match(html, /Int32/);
  assert.match(html, /Float64/);
  assert.equal((html.match(/<tr><th class="idx">/g) ?? []).length, 3);
  assert.doesNotMatch(html, /more row/);
  assert.match(String(b.data["text/plain"]), /\[3 rows × 2 columns\]/);
});

Deno.test("a long table shows head and tail with an elision row counting the hidden rows", () => {
  const b = tableToMimeBundle(numbers(100), { head: 5, tail: 5 });
  const html = String(b.data["text/html"]);
  assert.equal((html.match(/<tr><th class="idx">/g) ?? []).length, 10);
  assert.match(html, /… 90 more rows …/);
  assert.match(html, /<th class="idx">99<\/th>/);
  assert.doesNotMatch(html, /<th class="idx">50<\/th>/);
  const plain = String(b.data["text/plain"]);
  assert.match(plain, /^\s*…/m);
  assert.match(plain, /\[100 rows × 2 columns\]/);
});

Deno.test("numbers are right-aligned and nulls are marked", () => {
  const t = arrow.tableFromArrays({ n: [1, null, 3] as (number | null)[] });
  const html = String(tableToMimeBundle(t).data["text/html"]);
  assert.match(html, /<td class="num">1<\/td>/);
  assert.match(html, /<td class="null">null<\/td>/);
});

Deno.test("text cells, column names and types are HTML-escaped", () => {
  const evil = `<img src=x onerror="alert(1)">&`;
  const t = arrow.tableFromArrays({ [evil]: [evil, "<script>alert(2)</script>"] });
  const html = String(tableToMimeBundle(t).data["text/html"]);
  assert.doesNotMatch(html, /<img/);
  assert.doesNotMatch(html, /<script>alert/);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;&amp;/);
});

Deno.test("long text cells are cut with an ellipsis", () => {
  const t = arrow.tableFromArrays({ s: ["a".repeat(500)] });
  const html = String(tableToMimeBundle(t, { maxCellChars: 20 }).data["text/html"]);
  assert.match(html, /a{19}…/);
  assert.doesNotMatch(html, /a{21}/);
});

Deno.test("the data resource is typed and capped, with the cap noted", () => {
  const b = tableToMimeBundle(numbers(1000), { dataResourceRows: 100 });
  const r = b.data[DATA_RESOURCE_MIME] as {
    schema: { fields: { name: string; type: string }[] };
    data: Record<string, unknown>[];
    description?: string;
  };
  assert.deepEqual(r.schema.fields, [{ name: "id", type: "integer" }, {
    name: "x",
    type: "number",
  }]);
  assert.equal(r.data.length, 100);
  assert.deepEqual(r.data[3], { id: 3, x: 1.5 });
  assert.match(r.description ?? "", /First 100 of 1,000 rows/);
  assert.deepEqual(b.metadata?.[DATA_RESOURCE_MIME], {
    totalRows: 1000,
    rows: 100,
    truncated: true,
  });
});

Deno.test("an uncut data resource has no truncation note", () => {
  const b = tableToMimeBundle(numbers(10));
  const r = b.data[DATA_RESOURCE_MIME] as { data: unknown[]; description?: string };
  assert.equal(r.data.length, 10);
  assert.equal(r.description, undefined);
});

Deno.test("BigInt cells become JSON numbers in the data resource", () => {
  const t = arrow.tableFromArrays({ big: BigInt64Array.from([1n, 2n ** 60n]) });
  const r = tableToMimeBundle(t).data[DATA_RESOURCE_MIME] as { data: Record<string, unknown>[] };
  assert.equal(r.data[0].big, 1);
  assert.equal(r.data[1].big, (2n ** 60n).toString());
  JSON.stringify(r); // must not throw on BigInt
});

Deno.test("a geometry column shows as a short WKT-like summary", () => {
  const t = tableFromGeoJSON({
    type: "FeatureCollection",
    features: [
      { type: "Feature", geometry: { type: "Point", coordinates: [1.5, 2] }, properties: { a: 1 } },
      {
        type: "Feature",
        geometry: { type: "Polygon", coordinates: [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]] },
        properties: { a: 2 },
      },
    ],
  });
  const b = tableToMimeBundle(t);
  const html = String(b.data["text/html"]);
  assert.match(html, /geometry \(WKB\)/);
  assert.match(html, /POINT \(1\.5 2\)/);
  assert.match(html, /POLYGON \(5 points\)/);
});

Deno.test("a multipolygon summary counts parts and points", () => {
  const wkb = wkbFromGeometry({
    type: "MultiPolygon",
    coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, 5], [6, 5], [6, 6], [5, 5]]]],
  });
  assert.equal(geometrySummary(wkb), "MULTIPOLYGON (2 parts, 8 points)");
  assert.match(geometrySummary(new Uint8Array([1, 2, 3])), /invalid WKB/);
});

Deno.test("an object with toArrow() displays as its table", () => {
  const frame = { toArrow: () => numbers(4) };
  assert.match(String(tableToMimeBundle(frame).data["text/html"]), /4 rows × 2 columns/);
});

Deno.test("a value that is not a table is refused with a clear error", () => {
  assert.throws(
    () => tableToMimeBundle({ toArrow: () => 42 } as never),
    /Cannot display this value as a table/,
  );
});

Deno.test("displaying a 10,000,000-row table reads only the head, tail and capped rows", () => {
  const options = { head: 5, tail: 5, dataResourceRows: 250 };
  const big = countingTable(numbers(10_000_000));
  const bundleBig = tableToMimeBundle(big.table, options);
  const small = countingTable(numbers(10));
  tableToMimeBundle(small.table, options);
  // 2 columns × (10 shown rows × (html + plain + null check) + 250 resource rows)
  assert.ok(big.reads() <= 2 * (10 * 3 + 250), `read ${big.reads()} cells`);
  assert.ok(big.reads() <= small.reads() + 2 * 250, `big ${big.reads()} vs small ${small.reads()}`);
  assert.match(String(bundleBig.data["text/html"]), /10,000,000 rows × 2 columns/);
  assert.match(String(bundleBig.data["text/html"]), /<th class="idx">9999999<\/th>/);
});

Deno.test("wide tables elide middle columns", () => {
  const cols: Record<string, Int32Array> = {};
  for (let i = 0; i < 30; i++) cols[`c${i}`] = Int32Array.from([i]);
  const html = String(
    tableToMimeBundle(arrow.tableFromArrays(cols), { maxColumns: 6 }).data["text/html"],
  );
  assert.match(html, /c0</);
  assert.match(html, /c29</);
  assert.doesNotMatch(html, /c15</);
  assert.match(html, /<th>…<\/th>/);
  assert.match(html, /1 row × 30 columns/);
});

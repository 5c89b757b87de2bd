import assert from "node:assert/strict";
import * as arrow from "apache-arrow";
import { tableToCSV } from "./csv.ts";
import { tableFromGeoJSON } from "./geo.ts";

Deno.test("CSV quotes fields with commas, quotes and line breaks, with CRLF line ends", () => {
  const t = arrow.tableFromArrays({
    id: Int32Array.from([1, 2, 3]),
    text: ["plain", 'a "quoted", word', "two\nlines"],
  });
  assert.equal(tableToCSV(t), 'id,text\r\n1,plain\r\n2,"a ""quoted"", word"\r\n3,"two\nlines"\r\n');
});

Deno.test("CSV writes nulls as empty fields and the geometry column as WKT", () => {
  const t = tableFromGeoJSON({
    type: "FeatureCollection",
    features: [
      {
        type: "Feature",
        geometry: { type: "Point", coordinates: [1, 2] },
        properties: { n: 1.5, b: true },
      },
      { type: "Feature", geometry: null, properties: { n: null, b: false } },
      {
        type: "Feature",
        geometry: { type: "LineString", coordinates: [[0, 0], [1, 1]] },
        properties: { n: 3, b: null },
      },
    ],
  });
  assert.equal(
    tableToCSV(t),
    'n,b,geometry\r\n1.5,true,POINT(1 2)\r\n,false,\r\n3,,"LINESTRING(0 0,1 1)"\r\n',
  );
});

Deno.test("CSV writes Int64 exactly and quotes header names that need it", () => {
  const t = new arrow.Table({ "big,num": arrow.makeVector(BigInt64Array.from([2n ** 62n])) });
  assert.equal(tableToCSV(t), '"big,num"\r\n4611686018427387904\r\n');
});

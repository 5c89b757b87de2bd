import assert from "node:assert/strict";
import type * as arrow from "apache-arrow";
import { deserializeValue, joinParts, serializeValue, serializeValueParts } from "./envelope.ts";
import { CorruptDataError, UnsupportedResultError } from "./errors.ts";
import { tableFromGeoJSON } from "./geo.ts";
import { Raster } from "./raster.ts";

const sampleTable = () =>
  tableFromGeoJSON({
    type: "FeatureCollection",
    features: [{
      type: "Feature",
      geometry: { type: "Point", coordinates: [1, 2] },
      properties: { v: 1.5 },
    }],
  });

Deno.test("every kind of result round-trips through the cache envelope", async () => {
  const values: unknown[] = [
    null,
    42,
    { a: [1, "two", null] },
    "héllo",
    Uint8Array.from([1, 2, 3]),
  ];
  for (const value of values) {
    assert.deepEqual(await deserializeValue(await serializeValue(value)), value);
  }
});

Deno.test("a table keeps its columns and geo metadata through the cache envelope", async () => {
  const t = sampleTable();
  const back = await deserializeValue(await serializeValue(t)) as arrow.Table;
  assert.equal(back.getChild("v")!.get(0), 1.5);
  assert.equal(back.schema.metadata.get("geo"), t.schema.metadata.get("geo"));
});

Deno.test("the envelope's parts, joined, are the envelope, and its checksum covers every part", async () => {
  const value = {
    t: sampleTable(),
    odd: Uint8Array.from([1, 2, 3]), // padding follows it
    r: new Raster(new Float32Array([1, 2, 3, 4]), [2, 2]),
  };
  const parts = await serializeValueParts(value);
  assert.ok(parts.length > 4);
  const whole = joinParts(parts);
  assert.deepEqual(whole, await serializeValue(value));
  const back = await deserializeValue(whole) as typeof value;
  assert.deepEqual(back.odd, value.odd);
  assert.equal(back.t.getChild("v")!.get(0), 1.5);
  // A byte flipped inside each part past the preamble (the checksum itself) is detected.
  let at = 0;
  for (const part of parts) {
    const offset = at === 0 ? 32 : at;
    at += part.byteLength;
    if (offset >= whole.byteLength - 8 || part.byteLength === 0) continue;
    const damaged = whole.slice();
    damaged[offset] ^= 0x40;
    await assert.rejects(deserializeValue(damaged), CorruptDataError);
  }
});

Deno.test("a value larger than serializeValue's checksum blocks gives the joined parts", async () => {
  // 600,001 bytes: two whole 256 KiB blocks, a partial one, then padding.
  const big = Uint8Array.from({ length: 600_001 }, (_, i) => (i * 31) & 255);
  const value = { big, r: new Raster(new Float64Array(70_000).fill(0.5), [700, 100]) };
  const whole = await serializeValue(value);
  assert.deepEqual(whole, joinParts(await serializeValueParts(value)));
  const back = await deserializeValue(whole) as typeof value;
  assert.deepEqual(back.big, big);
  for (const at of [300_000, 580_000, whole.byteLength - 100]) {
    const damaged = whole.slice();
    damaged[at] ^= 1;
    await assert.rejects(deserializeValue(damaged), CorruptDataError);
  }
});

Deno.test("a raster keeps dtype, shape and bounds, read back as an aligned view", async () => {
  const r = Raster.from(Float64Array.from([1.25, -2, 3, 4, 5, 6]), [1, 2, 3], {
    bounds: [-1, -1, 1, 1],
  });
  const bytes = await serializeValue({ r, label: "x" });
  const back = await deserializeValue(bytes) as { r: Raster; label: string };
  assert.ok(back.r instanceof Raster);
  assert.equal(back.r.dtype, "float64");
  assert.deepEqual(back.r.shape, [1, 2, 3]);
  assert.deepEqual(back.r.bounds, [-1, -1, 1, 1]);
  assert.deepEqual([...back.r.data], [1.25, -2, 3, 4, 5, 6]);
  assert.equal(back.r.data.buffer, bytes.buffer, "no copy");
  assert.equal(back.label, "x");
});

Deno.test("an envelope read from an unaligned offset still decodes", async () => {
  const bytes = await serializeValue(Raster.from(Int32Array.from([7, 8, 9, 10]), [2, 2]));
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const back = await deserializeValue(shifted.subarray(3)) as Raster;
  assert.deepEqual([...back.data], [7, 8, 9, 10]);
});

Deno.test("a truncated envelope raises CorruptDataError", async () => {
  const bytes = await serializeValue(sampleTable());
  for (const cut of [1, 8, bytes.length - 9, bytes.length - 100]) {
    await assert.rejects(
      () => deserializeValue(bytes.subarray(0, bytes.length - cut)),
      CorruptDataError,
    );
  }
  await assert.rejects(
    () => deserializeValue(bytes.subarray(0, 10)),
    /does not start with "FUSEDVAL"/,
  );
});

Deno.test("a single flipped byte anywhere in the payload is detected", async () => {
  const bytes = await serializeValue({
    t: sampleTable(),
    r: Raster.from(new Float32Array(64), [8, 8]),
  });
  for (const at of [40, Math.floor(bytes.length / 2), bytes.length - 9]) {
    const damaged = bytes.slice();
    damaged[at] ^= 0x10;
    await assert.rejects(
      () => deserializeValue(damaged),
      (e: Error) => e instanceof CorruptDataError && /checksum|header/.test(e.message),
    );
  }
});

Deno.test("bytes of another format are refused", async () => {
  await assert.rejects(
    () => deserializeValue(new TextEncoder().encode('{"json": true} and more text here')),
    CorruptDataError,
  );
});

Deno.test("unsupported values are refused by the envelope too", async () => {
  await assert.rejects(() => serializeValue(new Set([1])), UnsupportedResultError);
});

Deno.test("an entry of the earlier format (version 1) is refused as damaged, to be recomputed", async () => {
  const bytes = await serializeValue({ a: 1 });
  new DataView(bytes.buffer).setUint32(8, 1, true);
  await assert.rejects(
    () => deserializeValue(bytes),
    (e: Error) => e instanceof CorruptDataError && /version 1/.test(e.message),
  );
});

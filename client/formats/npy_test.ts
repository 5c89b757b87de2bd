import assert from "node:assert/strict";
import { NotSupportedError, ValidationError } from "../errors.ts";
import { CorruptDataError } from "./errors.ts";
import { npyToRaster, rasterToNpy } from "./npy.ts";
import { Raster, RASTER_DTYPES, typedArrayFor } from "./raster.ts";

/** Builds an .npy file by hand from a header dict, as numpy writes it. */
function npy(dict: string, values: Uint8Array, version = 1): Uint8Array {
  const preamble = version === 1 ? 10 : 12;
  const total = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  const header = dict.padEnd(total - preamble - 1, " ") + "\n";
  const out = new Uint8Array(total + values.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), preamble);
  out.set(values, total);
  return out;
}

Deno.test("every raster dtype round-trips through npy with its shape", () => {
  for (const dtype of RASTER_DTYPES) {
    const data = typedArrayFor(dtype, new ArrayBuffer(48 * 8), 0, 24);
    for (let i = 0; i < 24; i++) data[i] = i * 3 - (dtype.startsWith("u") ? 0 : 20);
    const back = npyToRaster(rasterToNpy(Raster.from(data, [2, 3, 4])));
    assert.equal(back.dtype, dtype);
    assert.deepEqual(back.shape, [2, 3, 4]);
    assert.deepEqual([...back.data], [...data]);
  }
});

Deno.test("npy output has numpy's header and a 64-byte aligned data start", () => {
  const bytes = rasterToNpy(Raster.from(new Float32Array(6), [2, 3]));
  const header = new TextDecoder().decode(bytes.subarray(10, 128));
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n/);
  assert.equal(bytes[6], 1);
  assert.equal((bytes.length - 6 * 4) % 64, 0);
});

Deno.test("a hand-made numpy file of version 2.0 is read", () => {
  const values = new Uint8Array(new Float64Array([1.5, -2, 3, 4]).buffer);
  const r = npyToRaster(
    npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", values, 2),
  );
  assert.deepEqual([...r.data], [1.5, -2, 3, 4]);
  assert.equal(r.dtype, "float64");
});

Deno.test("big-endian and bool arrays are converted", () => {
  const be = new Uint8Array(8);
  const view = new DataView(be.buffer);
  [1, 256, 65535, 7].forEach((v, i) => view.setUint16(i * 2, v, false));
  const r = npyToRaster(npy("{'descr': '>u2', 'fortran_order': False, 'shape': (2, 2), }", be));
  assert.deepEqual([...r.data], [1, 256, 65535, 7]);
  const b = npyToRaster(
    npy("{'descr': '|b1', 'fortran_order': False, 'shape': (1, 3), }", Uint8Array.from([1, 0, 1])),
  );
  assert.equal(b.dtype, "uint8");
  assert.deepEqual([...b.data], [1, 0, 1]);
});

Deno.test("a truncated npy file raises CorruptDataError", () => {
  const bytes = rasterToNpy(Raster.from(new Float32Array(100), [10, 10]));
  assert.throws(
    () => npyToRaster(bytes.subarray(0, bytes.length - 1)),
    (e: Error) =>
      e instanceof CorruptDataError &&
      /truncated: it has \d+ bytes but its header needs \d+/.test(e.message),
  );
  assert.throws(() => npyToRaster(bytes.subarray(0, 40)), CorruptDataError);
  assert.throws(
    () => npyToRaster(new TextEncoder().encode("not numpy at all")),
    /does not start with/,
  );
});

Deno.test("npy arrays rasters cannot hold give clear errors", () => {
  assert.throws(
    () =>
      npyToRaster(
        npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }", new Uint8Array(8)),
      ),
    (e: Error) => e instanceof NotSupportedError && /'<i8'.*astype/.test(e.message),
  );
  assert.throws(
    () =>
      npyToRaster(
        npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", new Uint8Array(4)),
      ),
    /Fortran-order/,
  );
  assert.throws(
    () =>
      npyToRaster(
        npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(16)),
      ),
    (e: Error) => e instanceof ValidationError && /shape \(4\)/.test(e.message),
  );
});

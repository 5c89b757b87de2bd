// Test Worker: builds a UDF-like result on request and sends it with toTransferable.
import { tableFromArrays } from "apache-arrow";
import { Raster } from "../raster.ts";
import { toTransferable } from "../transfer.ts";

function build(kind: string): unknown {
  switch (kind) {
    case "table":
      return tableFromArrays({ id: Int32Array.from([1, 2, 3]), cat: ["a", "b", "a"] });
    case "raster":
      return Raster.from(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], { bounds: [0, 1, 2, 3] });
    case "multi":
      return {
        t: tableFromArrays({ x: Float64Array.from([0.5]) }),
        r: Raster.from(new Uint8Array(4), [2, 2]),
        n: 1,
      };
    case "map":
      return new Map([["a", 1]]);
  }
  return kind;
}

// Typed by hand: this file is checked with the window lib, where self has no Worker API.
const scope = self as unknown as {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  onmessage: ((e: MessageEvent<string>) => void) | null;
};

scope.onmessage = async (e: MessageEvent<string>) => {
  const value = build(e.data);
  try {
    const { message, transfer } = await toTransferable(value);
    scope.postMessage({ ok: true, message }, transfer);
    const detached = value instanceof Raster ? value.data.byteLength === 0 : undefined;
    scope.postMessage({ detached });
  } catch (err) {
    scope.postMessage({ ok: false, name: (err as Error).name, error: (err as Error).message });
  }
};

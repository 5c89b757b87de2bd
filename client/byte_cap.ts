/**
 * One byte counter for every stream that must stop past a size: uploads to the store, a user's
 * disk quota, a UDF's downloads and the code it loads.
 *
 * @module
 */

/**
 * A stream that passes bytes through until more than `maxBytes` have come, then fails with
 * `refuse(seen)` (the chunk that passed the cap is not forwarded, so nothing past it is written).
 *
 * @example
 * ```ts
 * import { byteCap } from "./byte_cap.ts";
 * const capped = ReadableStream.from([new Uint8Array(10)])
 *   .pipeThrough(byteCap(5, (seen) => new Error(`${seen} bytes is over 5`)));
 * await new Response(capped).arrayBuffer().catch((err) => err.message); // "10 bytes is over 5"
 * ```
 */
export function byteCap(
  maxBytes: number,
  refuse: (seen: number) => Error,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) controller.error(refuse(seen));
      else controller.enqueue(chunk);
    },
  });
}

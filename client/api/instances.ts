/**
 * The realtime instance runs go to (`{base}/realtime/{client_id}`): asked once from
 * `GET /realtime-instance/available` (highest `preference_rank` wins, as Fused's SDK does) and
 * kept in `fused.options.realtimeClientId`.
 *
 * @module
 */
import { FusedError } from "../errors.ts";
import { options } from "../options.ts";
import { RealtimeInstanceListSchema } from "./schemas.ts";
import { globalTransport, type Transport } from "./transport.ts";

let pending: Promise<string> | undefined;

/** Asks the service for its realtime instances and picks the preferred one. */
async function discover(transport: Transport, signal?: AbortSignal): Promise<string> {
  const instances = await transport.json(
    RealtimeInstanceListSchema,
    "/realtime-instance/available",
    {
      auth: "optional",
      signal,
    },
  );
  if (instances.length === 0) {
    throw new FusedError(
      `The service at ${transport.baseUrl} offers no realtime instance: set fused.options.realtimeClientId or ask its administrator`,
    );
  }
  const best =
    [...instances].sort((a, b) => (b.preference_rank ?? 0) - (a.preference_rank ?? 0))[0];
  return best.client_id;
}

/**
 * The realtime instance id: `fused.options.realtimeClientId`, else the service's preferred one
 * (asked once; concurrent callers share the one request).
 */
export async function realtimeClientId(
  opts: { transport?: Transport; signal?: AbortSignal } = {},
): Promise<string> {
  if (options.realtimeClientId) return options.realtimeClientId;
  const transport = opts.transport ?? globalTransport();
  pending ??= discover(transport, opts.signal).finally(() => (pending = undefined));
  const id = await pending;
  options.realtimeClientId = id;
  return id;
}

/**
 * The path of a realtime instance under the base URL: `/realtime/{client_id}`. Relative, so the
 * transport picks the service of a `baseUrl` list for each request (and fails over): a polled
 * run's status is answered by any service.
 */
export function realtimePath(clientId: string): string {
  return `/realtime/${encodeURIComponent(clientId)}`;
}

/** The base URL that share tokens run under: `sharedUdfBaseUrl`, else `{base}/realtime-shared`. */
export function sharedBaseUrl(transport: Transport): string {
  return (options.sharedUdfBaseUrl ?? `${transport.baseUrl}/realtime-shared`).replace(/\/+$/, "");
}

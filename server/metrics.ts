/**
 * Prometheus metrics of a service or a worker (npm:prom-client, text exposition format), served
 * on an address of their own (`--metrics-listen HOST:PORT`), never on the API's port.
 *
 * Who may read them: whoever reaches that address. That is why it is a separate listener, off by
 * default, that the operator binds to a private interface (127.0.0.1 by default when only a port
 * is given) for the Prometheus server to scrape, rather than a route of the API behind a token:
 * the metrics hold counts, durations and pool sizes only, with labels from fixed lists (route
 * kind, status class, outcome, job state, instance type, pool), never a user, token, path, UDF
 * name or job id, so what one user did cannot be read from them by another.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { FusedError } from "../client/errors.ts";
import { shortMessage } from "./backend_errors.ts";

/** Where the numbers of gauges read at scrape time come from. */
export interface MetricsSources {
  /** Jobs by state in the registry (shared database: the whole platform's). */
  jobsByState?: () => Promise<Record<string, number>>;
  /** Jobs waiting (`queued`) and taken (`active`) per instance type's queue. */
  queueDepths?: () => Promise<Record<string, { queued: number; active: number }>>;
  /** Most connections of each of this process's PostgreSQL pools, by pool name. */
  poolSizes?: Record<string, number>;
}

/** The metrics of one process. */
export class Metrics {
  /** prom-client's registry of this process's metrics. */
  readonly registry: Registry = new Registry();
  readonly #requests: Histogram;
  readonly #cacheHits: Counter;
  readonly #jobs: Histogram;
  readonly #running: Gauge;

  /** Metrics of `role`; gauges of `sources` are read at each scrape. */
  constructor(role: "service" | "worker", sources: MetricsSources = {}) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ role });
    this.#requests = new Histogram({
      name: "fused_http_request_duration_seconds",
      help: "HTTP requests by route kind and status class, and how long they took",
      labelNames: ["route", "status"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 130],
      registers,
    });
    this.#cacheHits = new Counter({
      name: "fused_run_cache_hits_total",
      help: "UDF runs answered from a cache",
      registers,
    });
    this.#jobs = new Histogram({
      name: "fused_worker_job_duration_seconds",
      help: "Job attempts run by this worker, by instance type and outcome",
      labelNames: ["instance_type", "outcome"],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400, 43200],
      registers,
    });
    this.#running = new Gauge({
      name: "fused_worker_jobs_running",
      help: "Jobs this worker runs now",
      registers,
    });
    const { jobsByState, queueDepths, poolSizes } = sources;
    if (jobsByState) {
      new Gauge({
        name: "fused_jobs",
        help: "Jobs in the registry by state",
        labelNames: ["state"],
        registers,
        async collect() {
          this.reset();
          for (const [state, n] of Object.entries(await jobsByState())) this.set({ state }, n);
        },
      });
    }
    if (queueDepths) {
      new Gauge({
        name: "fused_queue_jobs",
        help: "Jobs on the job queue by instance type: queued (waiting) or active (taken)",
        labelNames: ["instance_type", "state"],
        registers,
        async collect() {
          this.reset();
          for (const [type, depth] of Object.entries(await queueDepths())) {
            this.set({ instance_type: type, state: "queued" }, depth.queued);
            this.set({ instance_type: type, state: "active" }, depth.active);
          }
        },
      });
    }
    const pools = new Gauge({
      name: "fused_db_pool_max_connections",
      help: "Most PostgreSQL connections of each pool of this process",
      labelNames: ["pool"],
      registers,
    });
    for (const [pool, n] of Object.entries(poolSizes ?? {})) pools.set({ pool }, n);
  }

  /** Counts an HTTP request: its route kind (from the path), status and duration. */
  observeRequest(path: string, response: Response, seconds: number): void {
    const route = routeKind(path);
    this.#requests.observe({ route, status: `${Math.floor(response.status / 100)}xx` }, seconds);
    if (route === "run" && response.headers.get("x-fused-cached") === "true") {
      this.#cacheHits.inc();
    }
  }

  /** Counts a job attempt that ended on this worker. */
  observeJob(instanceType: string, outcome: string, seconds: number): void {
    this.#jobs.observe({ instance_type: instanceType, outcome }, seconds);
  }

  /** Tracks a job attempt while it runs; call the result when it ends. */
  startJob(): () => void {
    this.#running.inc();
    return () => this.#running.dec();
  }
}

/**
 * The kind of an API route, from a fixed list: the path itself may hold a share token.
 *
 * @example
 * ```ts
 * import { routeKind } from "./metrics.ts";
 * console.log(routeKind("/v1/realtime-shared/fsh_0123/run/file")); // "run"
 * ```
 */
export function routeKind(path: string): "run" | "jobs" | "files" | "other" {
  if (/\/(run\/by-id|job\/|job-results|logs\/)|\/v1\/run$/.test(path)) return "jobs";
  if (path.includes("/run")) return "run";
  if (path.includes("/files/")) return "files";
  return "other";
}

/** Where a metrics listener listens. */
export interface ListenAddress {
  /** Interface. */
  hostname: string;
  /** Port (0 picks a free one). */
  port: number;
}

/**
 * Reads `--metrics-listen`: `HOST:PORT` or `PORT` (then 127.0.0.1); an error message otherwise.
 *
 * @example
 * ```ts
 * import { parseListenAddress } from "./metrics.ts";
 * console.log(parseListenAddress("9464")); // { hostname: "127.0.0.1", port: 9464 }
 * ```
 */
export function parseListenAddress(value: string): ListenAddress | string {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    return `Invalid --metrics-listen "${value}": use HOST:PORT or PORT (e.g. 127.0.0.1:9464)`;
  }
  return { hostname: (match[1] ?? "127.0.0.1").replace(/^\[(.*)\]$/, "$1"), port };
}

/** A running metrics listener. */
export interface MetricsServer {
  /** `http://HOST:PORT/metrics`. */
  url: string;
  /** Stops listening. */
  close(): Promise<void>;
}

/** Serves `GET /metrics` (and nothing else) on its own address. */
export async function serveMetrics(
  address: ListenAddress,
  metrics: Metrics,
): Promise<MetricsServer> {
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      ...address,
      onListen: (addr) => resolve(addr as Deno.NetAddr),
    }, (request) => answer(request, metrics));
  } catch (err) {
    throw new FusedError(
      `Cannot listen for metrics on ${address.hostname}:${address.port} (${
        shortMessage(err)
      }): choose another --metrics-listen`,
    );
  }
  const addr = await listening;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return { url: `http://${host}:${addr.port}/metrics`, close: () => server.shutdown() };
}

async function answer(request: Request, metrics: Metrics): Promise<Response> {
  if (new URL(request.url).pathname !== "/metrics" || request.method !== "GET") {
    return new Response("Only GET /metrics is served here\n", { status: 404 });
  }
  try {
    return new Response(await metrics.registry.metrics(), {
      headers: { "content-type": metrics.registry.contentType },
    });
  } catch (err) {
    // A gauge read from the database while it is down: say so, Prometheus marks the scrape.
    return new Response(`Cannot collect the metrics: ${shortMessage(err)}\n`, { status: 503 });
  }
}

/**
 * Batch job routes, shaped like Fused's (fused-wire §7): start `POST /run`, status
 * `GET /run/by-id/{id}`, cancel `POST /run/by-id/{id}/cancel`, result files
 * `GET /run/by-id/{id}/results` (signed URLs, served by the public `GET /job-results/signed`),
 * history `GET /job/self`, logs `GET /logs/{id}[?since_ms=]`. Jobs run in their own processes
 * (server/jobs/runner.ts); these handlers only record, read and cancel them.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { ValidationError } from "../../client/errors.ts";
import { Udf } from "../../client/udf.ts";
import { unrunnableReason } from "../../engine/mod.ts";
import { type AppEnv, HttpError, queryInt, readJson, readQuery, redactPaths } from "../_http.ts";
import { ConflictError, type JobRecord, type JobStatus, type User } from "../registry/mod.ts";
import { signedUrl, signPath } from "../signing.ts";
import { parseFdPath } from "../storage.ts";
import type { ChildStep } from "../jobs/_protocol.ts";
import type { JobService } from "../jobs/runner.ts";
import { apiBase, readSignedQuery, type RouteDeps } from "./_common.ts";

/** What the job routes need besides the common dependencies. */
export interface JobRouteDeps extends RouteDeps {
  /** The job runner. */
  jobs: JobService;
  /** Public API base for signed URLs, when behind a proxy. */
  publicUrl?: string;
}

const JOB_NAME = /^[a-zA-Z][a-zA-Z0-9_.:\-]*$/;
const RESULT_URL_SECONDS = 3600;

const StartQuery = z.looseObject({
  instance_type: z.string().min(1).max(100).optional(),
  region: z.string().max(100).optional(),
  disk_size_gb: z.string().regex(/^\d+$/, "use a whole number of GB").optional(),
});

const Step = z.looseObject({
  type: z.string().default("udf"),
  udf: z.record(z.string(), z.unknown()).optional(),
});

const StartBody = z.looseObject({
  config: z.looseObject({
    name: z.string().nullish(),
    steps: z.array(Step).min(1, "a job needs at least one step"),
    metadata: z.unknown().optional(),
  }),
  send_status_email: z.boolean().optional(),
  additional_env: z.array(z.string()).nullish(),
  image_name: z.string().nullish(),
  cache_max_age: z.number().nullish(),
});

const LogsQuery = z.object({
  since_ms: z.preprocess(
    (v) => (v === undefined || v === "" ? undefined : Number(v)),
    z.number().finite().optional(),
  ),
});

const PageQuery = z.object({
  skip: queryInt(0, 1_000_000, 0),
  limit: queryInt(1, 1000, 25),
});

/** Fused's `job_status` words for our statuses. */
const FUSED_JOB_STATUS: Record<JobStatus, string> = {
  pending: "Pending",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Canceled",
};

function isTerminal(status: JobStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

function stepsOf(job: JobRecord): number {
  const steps = (job.config as { steps?: unknown[] } | null)?.steps;
  return Array.isArray(steps) ? steps.length : 1;
}

function execSeconds(job: JobRecord): number | null {
  if (!job.startedAt) return null;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return (end - Date.parse(job.startedAt)) / 1000;
}

/** A job as Fused's `RunResponse`, plus our status word, times and execution time. */
export function runResponseJson(job: JobRecord): Record<string, unknown> {
  const terminal = isTerminal(job.status);
  const total = stepsOf(job);
  return {
    job_id: job.id,
    job_name: job.name,
    instance_id: job.process ? `pid-${job.process.pid}` : null,
    instance_type: job.instanceType,
    status: terminal ? "terminated" : job.status,
    terminal_status: terminal,
    last_heartbeat: job.updatedAt,
    job_status: FUSED_JOB_STATUS[job.status],
    job_status_date: job.finishedAt ?? job.startedAt ?? job.createdAt,
    finished_job_status: terminal,
    total_tasks: total,
    finished_tasks: job.status === "succeeded" ? total : job.results.length,
    error: job.error === null ? null : redactPaths(job.error),
    state: job.status,
    creation_date: job.createdAt,
    start_date: job.startedAt,
    end_date: job.finishedAt,
    exec_time_seconds: execSeconds(job),
  };
}

/** A job as an entry of Fused's job history (`JobResponse`). */
function jobSummaryJson(job: JobRecord): Record<string, unknown> {
  return {
    id: job.id,
    user_id: job.ownerId,
    job_name: job.name,
    creation_date: job.createdAt,
    job_status: FUSED_JOB_STATUS[job.status],
    job_status_date: job.finishedAt ?? job.startedAt ?? job.createdAt,
    instance_id: job.process ? `pid-${job.process.pid}` : null,
    instance_type: job.instanceType,
    execution_environment_id: null,
    error: job.error === null ? null : redactPaths(job.error),
  };
}

/** `KEY=value` entries of `additional_env` as a map. */
function parseEnv(entries: string[] | null | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(entry);
    if (!match) {
      throw new HttpError(
        400,
        `Invalid additional_env entry "${entry}": write each as KEY=value (KEY: letters, digits, _)`,
      );
    }
    env[match[1]] = match[2];
  }
  return env;
}

/** The UDF steps of a job config, each checked as a Udf that can run here. */
function parseSteps(steps: z.infer<typeof Step>[]): ChildStep[] {
  return steps.map((step, index) => {
    if (step.type !== "udf" || !step.udf) {
      throw new HttpError(
        400,
        `Step ${
          index + 1
        } is a "${step.type}" step: this service runs "udf" steps only (ingest jobs run with fused.ingest in the client)`,
      );
    }
    let udf: Udf;
    try {
      udf = Udf.fromJSON(step.udf);
    } catch (err) {
      if (err instanceof ValidationError) {
        throw new HttpError(400, `Step ${index + 1}: ${err.message}`);
      }
      throw err;
    }
    const unrunnable = unrunnableReason(udf);
    if (unrunnable) throw new HttpError(400, `Step ${index + 1}: ${unrunnable.message}`);
    const json = udf.toJSON();
    // Fused's client merges the job's parameters into udf.parameters; they are the run's.
    return { udf: { ...json, parameters: {} }, parameters: { ...json.parameters } };
  });
}

/** The `Idempotency-Key` header of a submit, checked, or null when absent. */
function idempotencyKey(c: Context<AppEnv>): string | null {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return null;
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) {
    throw new HttpError(
      400,
      "Invalid Idempotency-Key header: use 1 to 200 visible ASCII characters (a UUID is usual)",
    );
  }
  return key;
}

/** The authenticated job routes. */
export function jobRoutes(deps: JobRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { registry, jobs } = deps;

  async function ownedJob(user: User, id: string): Promise<JobRecord> {
    const job = await registry.getJob(id);
    // Someone else's job answers as a missing one: job ids are not to be probed.
    if (!job || (job.ownerId !== user.id && !user.isAdmin)) {
      throw new HttpError(
        404,
        `No job with id "${id}": list your jobs with fused.api.getJobs() (GET /v1/job/self)`,
      );
    }
    return job;
  }

  app.post("/run", async (c) => {
    const query = readQuery(c, StartQuery);
    const body = await readJson(c, StartBody);
    if (body.image_name) {
      throw new HttpError(
        400,
        `image_name "${body.image_name}" is not supported: jobs here run with the service's own Deno and packages; leave image_name out`,
      );
    }
    const name = body.config.name ?? null;
    if (name !== null && !JOB_NAME.test(name)) {
      throw new HttpError(
        400,
        `Invalid job name "${name}": start with a letter, then use letters, digits, "_", ".", ":" or "-"`,
      );
    }
    const instanceType = jobs.checkInstanceType(query.instance_type);
    const steps = parseSteps(body.config.steps);
    const ownerId = c.get("user").id;
    const key = idempotencyKey(c);
    try {
      const job = await jobs.submit({
        ownerId,
        config: body.config,
        steps,
        name: name ?? (steps[0].udf.name as string),
        instanceType,
        env: parseEnv(body.additional_env),
        idempotencyKey: key,
      });
      return c.json(runResponseJson(job));
    } catch (err) {
      // A retried submit (its answer was lost), or the same key sent twice at once: the key is
      // unique per owner, so the insert of a second job failed and the first one answers. No
      // lookup before the submit: the first try of a key, the usual case, costs one less query.
      const first = key && err instanceof ConflictError
        ? await registry.findJobByIdempotencyKey(ownerId, key)
        : null;
      if (first) return c.json(runResponseJson(first));
      throw err;
    }
  });

  app.get("/run/by-id/:id", async (c) => {
    const job = await ownedJob(c.get("user"), c.req.param("id"));
    return c.json({ ...runResponseJson(job), status_message: await jobs.waitingReason(job) });
  });

  app.post("/run/by-id/:id/cancel", async (c) => {
    const job = await ownedJob(c.get("user"), c.req.param("id"));
    return c.json(runResponseJson((await jobs.cancel(job.id)) ?? job));
  });

  app.get("/run/by-id/:id/results", async (c) => {
    const job = await ownedJob(c.get("user"), c.req.param("id"));
    const base = apiBase(c, deps.publicUrl);
    return c.json(job.results.map((file) => {
      const sig = signPath(deps.signingSecret, `fd://${file.key}`, {
        seconds: RESULT_URL_SECONDS,
      });
      return { name: file.name, url: signedUrl(base, sig, { route: "/job-results/signed" }) };
    }));
  });

  app.get("/job/self", async (c) => {
    const q = readQuery(c, PageQuery);
    const list = await registry.listJobs(c.get("user").id, { skip: q.skip, limit: q.limit });
    return c.json(list.map(jobSummaryJson));
  });

  app.get("/logs/:id", async (c) => {
    const job = await ownedJob(c.get("user"), c.req.param("id"));
    const q = readQuery(c, LogsQuery);
    const lines = await registry.getJobLogs(job.id, { sinceMs: q.since_ms });
    // Error lines may quote the service's folders (module paths in stack traces): hidden here.
    return c.json(lines.map((line) => ({ ...line, message: redactPaths(line.message) })));
  });
  return app;
}

/** The public route serving a job's result file by signed URL, with its content type. */
export function signedJobResultRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/job-results/signed", async (c) => {
    const sig = readSignedQuery(c, deps.signingSecret, "list the results again");
    const key = parseFdPath(sig.path);
    const jobId = /^jobs\/([^/]+)\//.exec(key)?.[1];
    const job = jobId ? await deps.registry.getJob(jobId) : null;
    const file = job?.results.find((r) => r.key === key);
    if (!file) throw new HttpError(404, `No job result at ${sig.path}`);
    const { body, size } = await deps.storage.read(key);
    const headers: Record<string, string> = {
      "content-type": file.contentType ?? "application/octet-stream",
      "content-length": String(size),
    };
    if (file.metadata) headers["x-fused-metadata"] = JSON.stringify(file.metadata);
    return new Response(body, { headers });
  });
  return app;
}

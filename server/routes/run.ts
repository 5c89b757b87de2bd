/**
 * Authenticated runs on the realtime instance: code-included runs (`POST .../run/udf[/start]`,
 * with polling `GET .../run/udf/get/{run_id}`) and saved-UDF runs by owner and name
 * (`GET .../run/udf/saved/{owner}/{name}`), each with a `/tiles/{z}/{x}/{y}` form.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { ValidationError } from "../../client/errors.ts";
import { Udf } from "../../client/udf.ts";
import { type AppEnv, errorResponse, HttpError, readJson } from "../_http.ts";
import { failureAnswer, type RunSpec } from "../runs.ts";
import type { UdfRecord } from "../registry/mod.ts";
import {
  canRead,
  checkClientId,
  checkSlugParam,
  parseTile,
  requestFormat,
  requestMaxAge,
  type RouteDeps,
  runParameters,
  sendAnswer,
  udfFromRecord,
  withSignal,
} from "./_common.ts";

const RunBody = z.looseObject({
  step_config: z.union([z.string(), z.record(z.string(), z.unknown())], {
    message: 'step_config is required: a JSON string of {"type": "udf", "udf": {...Udf JSON}}',
  }),
  format: z.string().max(200).optional(),
  profile: z.boolean().optional(),
});

const StepConfig = z.looseObject({
  type: z.literal("udf").optional(),
  udf: z.record(z.string(), z.unknown(), {
    message: "step_config.udf must be the Udf JSON object",
  }),
});

const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The Udf inside a `step_config` (a JSON string inside the JSON body, as Fused sends it). */
function udfFromStepConfig(stepConfig: string | Record<string, unknown>): Udf {
  let value: unknown = stepConfig;
  if (typeof stepConfig === "string") {
    try {
      value = JSON.parse(stepConfig);
    } catch (err) {
      throw new HttpError(400, `step_config is not valid JSON: ${(err as Error).message}`);
    }
  }
  const parsed = StepConfig.safeParse(value);
  if (!parsed.success) {
    throw new HttpError(
      400,
      `Invalid step_config: ${
        parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")
      }`,
    );
  }
  try {
    return Udf.fromJSON(parsed.data.udf);
  } catch (err) {
    if (err instanceof ValidationError) throw new HttpError(400, err.message);
    throw err;
  }
}

/** The run spec of a code-included run request. */
async function codeIncludedSpec(c: Context<AppEnv>, tiled: boolean): Promise<RunSpec> {
  checkClientId(c.req.param("cid")!);
  const body = await readJson(c, RunBody);
  const query = c.req.query();
  const udf = udfFromStepConfig(body.step_config);
  const id = udf.metadata?.["fused:id"];
  const format = requestFormat(query, body.format);
  return withSignal(c.req.raw, {
    udf,
    udfId: typeof id === "string" ? id : null,
    callerId: c.get("user").id,
    parameters: runParameters(query, body),
    tile: tiled ? parseTile(c.req.param()) : undefined,
    format,
    cacheMaxAge: requestMaxAge(udf, query.cache_max_age),
  });
}

function checkNotMvt(spec: RunSpec): void {
  if (spec.format.split(",").includes("mvt")) {
    throw new HttpError(
      501,
      'MVT output is served only for tile runs of share tokens (GET /{token}/run/tiles/{z}/{x}/{y}?format=mvt): ask for "geojson" or "parquet" here',
    );
  }
}

/** The routes under `/realtime/{cid}/api/v1/run/udf` (authenticated). */
export function runRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const base = "/realtime/:cid/api/v1/run/udf";

  async function direct(c: Context<AppEnv>, tiled: boolean): Promise<Response> {
    const spec = await codeIncludedSpec(c, tiled);
    checkNotMvt(spec);
    return sendAnswer(c.req.raw, await deps.runs.execute(spec), {
      httpCache: tiled,
      maxAge: spec.cacheMaxAge,
    });
  }

  async function start(c: Context<AppEnv>, tiled: boolean): Promise<Response> {
    const spec = await codeIncludedSpec(c, tiled);
    checkNotMvt(spec);
    const runId = c.req.header("fused-run-id") ?? crypto.randomUUID();
    if (!RUN_ID.test(runId)) {
      throw new HttpError(
        400,
        "Invalid Fused-Run-Id header: use a uuid (letters, digits, '-' and '_', at most 64)",
      );
    }
    let answer;
    try {
      answer = await deps.runs.start(spec, runId, c.get("user").id);
    } catch (err) {
      const failed = failureAnswer(err, spec.udf.name, 0);
      return sendAnswer(c.req.raw, {
        ...failed,
        status: failed.status === 500 ? 503 : failed.status,
      });
    }
    if (answer) {
      return sendAnswer(c.req.raw, answer, { httpCache: tiled, maxAge: spec.cacheMaxAge });
    }
    return c.json({ run_id: runId, status: "running" }, 202);
  }

  app.post(`${base}/start`, (c) => start(c, false));
  app.post(`${base}/start/tiles/:z/:x/:y`, (c) => start(c, true));
  app.get(`${base}/get/:runId`, async (c) => {
    checkClientId(c.req.param("cid"));
    const runId = c.req.param("runId");
    const answer = await deps.runs.poll(runId, c.get("user").id);
    if (answer === undefined) {
      return errorResponse(
        404,
        `No run ${runId}: it was never started by you, or its result was collected more than 10 minutes ago`,
      );
    }
    if (answer === null) return c.json({ run_id: runId, status: "running" }, 202);
    return sendAnswer(c.req.raw, answer);
  });
  app.post(base, (c) => direct(c, false));
  app.post(`${base}/tiles/:z/:x/:y`, (c) => direct(c, true));

  async function saved(c: Context<AppEnv>, tiled: boolean): Promise<Response> {
    checkClientId(c.req.param("cid")!);
    const owner = c.req.param("owner")!;
    const name = checkSlugParam(c.req.param("name")!);
    const user = c.get("user");
    let record: UdfRecord | null = null;
    const byEmail = await deps.registry.findUserByEmail(owner);
    const byHandle = byEmail ? null : await deps.registry.findUserByHandle(owner);
    const ownerUser = byEmail ?? byHandle;
    if (ownerUser) record = await deps.registry.findUdf(ownerUser.id, name);
    else record = await deps.registry.findTeamUdf(owner, name);
    if (!record) throw new HttpError(404, `No saved UDF "${name}" of ${owner}`);
    if (!(await canRead(deps.registry, user, record))) {
      throw new HttpError(403, `The UDF "${name}" of ${owner} is not shared with you`);
    }
    const udf = udfFromRecord(record);
    const query = c.req.query();
    const spec: RunSpec = withSignal(c.req.raw, {
      udf,
      udfId: record.id,
      callerId: user.id,
      parameters: runParameters(query),
      tile: tiled ? parseTile(c.req.param()) : undefined,
      format: requestFormat(query),
      cacheMaxAge: requestMaxAge(udf, query.cache_max_age),
    });
    checkNotMvt(spec);
    return sendAnswer(c.req.raw, await deps.runs.execute(spec), {
      httpCache: tiled,
      maxAge: spec.cacheMaxAge,
    });
  }

  app.get(`${base}/saved/:owner/:name`, (c) => saved(c, false));
  app.get(`${base}/saved/:owner/:name/tiles/:z/:x/:y`, (c) => saved(c, true));
  return app;
}

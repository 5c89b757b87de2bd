import assert from "node:assert/strict";
import { FusedError, NotSupportedError, TimeoutError, ValidationError } from "../errors.ts";
import { udf } from "../udf.ts";
import { serve, withScope } from "./_test_util.ts";
import {
  cancelJob,
  getExecTime,
  getJobs,
  getLogs,
  getStatus,
  printLogs,
  startJob,
  tailLogs,
  waitForJob,
} from "./jobs.ts";
import { Transport } from "./transport.ts";

const CODE = "export default function udf() {\n  return 1;\n}\n";

Deno.test("job functions say so clearly when the service has no batch job routes", async () => {
  // A service without job routes (an older one, or one started without a job runner) answers
  // as the app does for any unknown route.
  const server = serve((request) =>
    Response.json({
      detail: `No route ${request.method} ${
        new URL(request.url).pathname
      }: the API lives under /v1`,
    }, { status: 404 })
  );
  try {
    await withScope({}, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      const calls: [string, () => Promise<unknown>][] = [
        ["/run", () => startJob(udf(CODE, { name: "job" }), { transport })],
        ["/job/self", () => getJobs({ transport })],
        ["/run/by-id/j1", () => getStatus("j1", { transport })],
        ["/logs/j1", () => getLogs({ job_id: "j1" }, { transport })],
        ["/run/by-id/j1/cancel", () => cancelJob("j1", { transport })],
      ];
      for (const [route, call] of calls) {
        await assert.rejects(call(), (err: Error) => {
          assert.ok(err instanceof NotSupportedError, route);
          assert.match(err.message, new RegExp(`has no batch job routes \\(${route}\\)`));
          return true;
        });
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("startJob sends Fused's JobConfig with the UDF as a step and checks the job name", async () => {
  let seen: { url: URL; body: Record<string, unknown> } | undefined;
  const server = serve(async (request) => {
    seen = { url: new URL(request.url), body: await request.json() };
    return Response.json({ job_id: "j1", job_name: "job", status: "pending" });
  });
  try {
    await withScope({}, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      const status = await startJob(udf(CODE, { name: "job" }), {
        transport,
        instanceType: "small",
        parameters: { n: 2 },
      });
      assert.equal(status.job_id, "j1");
      assert.equal(seen!.url.pathname, "/run");
      assert.equal(seen!.url.searchParams.get("instance_type"), "small");
      const config = seen!.body.config as {
        name: string;
        steps: { type: string; udf: { parameters: unknown } }[];
      };
      assert.equal(config.name, "job");
      assert.equal(config.steps[0].type, "udf");
      assert.deepEqual(config.steps[0].udf.parameters, { n: 2 });
      await assert.rejects(
        startJob(udf(CODE, { name: "job" }), { transport, name: "9bad" }),
        ValidationError,
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("waitForJob polls the status until the job is finished", async () => {
  let polls = 0;
  const server = serve(() => {
    polls += 1;
    const done = polls >= 3;
    return Response.json({
      job_id: "j1",
      status: done ? "terminated" : "running",
      job_status: done ? "Done" : "running",
      terminal_status: done,
      finished_job_status: done,
    });
  });
  try {
    await withScope({}, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      const status = await waitForJob("j1", { transport, pollIntervalSeconds: 0.01 });
      assert.equal(status.job_status, "Done");
      assert.equal(polls, 3);
      polls = -1000;
      await assert.rejects(
        waitForJob("j1", { transport, pollIntervalSeconds: 0.01, timeout: 0.05 }),
        /Job j1 did not finish within 0.05 s/,
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("waitForJob past its timeout throws TimeoutError, as fused-py", async () => {
  const server = serve(() =>
    Response.json({ job_id: "j1", status: "running", job_status: "running" })
  );
  try {
    await withScope({}, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      await assert.rejects(
        waitForJob("j1", { transport, pollIntervalSeconds: 0.01, timeout: 0.05 }),
        (err: Error) => {
          assert.ok(err instanceof TimeoutError && err instanceof FusedError);
          assert.equal(err.name, "TimeoutError");
          return true;
        },
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("logs are printed, tailed with since_ms, and give the execution time", async () => {
  const records = [
    { message: "start", timestamp: 1000 },
    { message: "middle", timestamp: 1500 },
    { message: "end", timestamp: 4000 },
  ];
  let statusCalls = 0;
  const server = serve((request) => {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/logs/")) {
      const since = Number(url.searchParams.get("since_ms") ?? "-1");
      // Logs arrive over time: the first read sees two records.
      const visible = statusCalls < 2 ? records.slice(0, 2) : records;
      return Response.json(visible.filter((r) => r.timestamp > since));
    }
    statusCalls += 1;
    return Response.json({ job_id: "j1", job_status: statusCalls < 3 ? "running" : "Done" });
  });
  try {
    await withScope({}, async () => {
      const transport = new Transport({ baseUrl: server.url, token: "t" });
      const printed: string[] = [];
      await printLogs("j1", { transport, sinceMs: 1000, write: (l) => printed.push(l) });
      assert.deepEqual(printed, ["middle"]);
      const tailed: string[] = [];
      await tailLogs("j1", {
        transport,
        refreshSeconds: 0.01,
        timeout: 5,
        write: (l) => tailed.push(l),
      });
      assert.deepEqual(tailed, ["Logs for: j1", "start", "middle", "end"]);
      assert.equal(await getExecTime("j1", { transport }), 3);
    });
  } finally {
    await server.close();
  }
});

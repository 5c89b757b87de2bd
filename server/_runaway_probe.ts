/**
 * A probe run as a subprocess by serve_test.ts: starts a service, runs a UDF that spins in a
 * synchronous `while (true) {}` and prints what the service answered, then what it answers next.
 * A subprocess because Deno 2.9.6 cannot stop such a Worker (terminate() leaves it spinning,
 * denoland/deno PR 35657), so only exiting the process ends it.
 *
 * @module
 */
import { LocalEngine } from "../engine/mod.ts";
import { options } from "../client/options.ts";
import { localRunner } from "./runner.ts";
import { startServer } from "./serve.ts";

const dir = await Deno.makeTempDir({ prefix: "fused-probe-" });
options.update({ cacheDirectory: `${dir}/cache` });
const engine = new LocalEngine({ dataDir: `${dir}/engine` });
const server = await startServer({
  port: 0,
  dataDir: `${dir}/server`,
  runner: localRunner({ engine }),
  runTimeoutMs: 1000,
  quiet: true,
});
const headers = {
  authorization: `Bearer ${server.adminToken}`,
  "content-type": "application/json",
};
const udf = (name: string, code: string) => ({
  step_config: JSON.stringify({ type: "udf", udf: { name, code, entrypoint: "default" } }),
});
const spin = await fetch(`${server.baseUrl}/realtime/local/api/v1/run/udf?cache_max_age=0`, {
  method: "POST",
  headers,
  body: JSON.stringify(udf("spin", "export default function udf() { while (true) {} }")),
});
const after = await fetch(`${server.baseUrl}/realtime/local/api/v1/run/udf?cache_max_age=0`, {
  method: "POST",
  headers,
  body: JSON.stringify(udf("after", "export default function udf() { return 7 }")),
});
console.log(JSON.stringify({
  spinStatus: spin.status,
  spinDetail: (await spin.json()).detail,
  afterStatus: after.status,
  afterBody: await after.json(),
}));
await Deno.remove(dir, { recursive: true });
Deno.exit(0);

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/_postgres.ts";
import { logRecord } from "./log_format.ts";

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));

Deno.test("a log record joins the arguments, reads errors as messages and tells the level", () => {
  const record = logRecord("fused serve", "error", ["Fused service listening on", 8783]);
  assert.deepEqual({ ...record, time: "" }, {
    time: "",
    level: "info",
    process: "fused serve",
    pid: Deno.pid,
    msg: "Fused service listening on 8783",
  });
  assert.ok(!Number.isNaN(Date.parse(record.time)));
  const failed = logRecord("fused worker", "error", [
    "fused worker: job queue:",
    { message: "Connection terminated", queue: "q" },
  ]);
  assert.deepEqual([failed.level, failed.msg], [
    "error",
    "fused worker: job queue: Connection terminated",
  ]);
  assert.equal(logRecord("fused serve", "error", ["Warning: listening on 0.0.0.0"]).level, "warn");
});

Deno.test("with --log-format json every line a worker writes is a JSON record", async () => {
  const port = freePort();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--config=${CONFIG}`,
      CLI,
      "worker",
      "--log-format",
      "json",
      "--database",
      `postgres://fused:x@127.0.0.1:${port}/db`,
      "--storage",
      "s3://any-bucket/x",
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr).trim();
  assert.equal(out.code, 1, text);
  const records = text.split("\n").map((line) => JSON.parse(line));
  assert.ok(records.length >= 1, text);
  for (const record of records) {
    assert.deepEqual(Object.keys(record), ["time", "level", "process", "pid", "msg"], text);
  }
  assert.equal(records.at(-1).level, "error");
  assert.match(records.at(-1).msg, new RegExp(`^fused worker: Cannot reach PostgreSQL`));
});

/**
 * Scale-out, against baselines measured in the same run, on a throw-away PostgreSQL 15 database
 * and s3rver on 127.0.0.1 (tests/_postgres.ts, tests/_s3.ts):
 * (a) uncached runs a second (the SDK's code-included run, `POST .../run/udf?cache_max_age=0`,
 *     each with its own parameter) against 2 `fused serve` processes on one database, divided by
 *     the same against 1 of them (target ≥ 1.7 with a CPU quota);
 * (b) job submissions a second (the SDK's `POST /run` with an `Idempotency-Key`, queued for an
 *     instance type no worker takes), 2 services ÷ 1 (target ≥ 1.7 with a CPU quota);
 * (c) the median time from a job's enqueue to its start on an idle `fused worker`
 *     (target ≤ 100 ms), from the registry's "Job queued" and "Job started" log times;
 * (d) the median time from a cancel request to the answer that the running job stopped
 *     (target ≤ 2 s);
 * (e) 100 MB written and read back through the S3 store, divided by the same through the
 *     local-folder store.
 *
 * Run: `deno run -A --unstable-worker-options bench/scale_bench.ts [--cpu-quota CORES|none]`
 *
 * On a machine with fewer cores than the load needs, two services cannot show that they scale:
 * they share the same cores. `--cpu-quota 0.4` (the default as root) gives each service process,
 * with the UDF processes it starts (checked: each one is in its service's group), a fixed CPU
 * budget of 0.4 core in a cgroup (v1 `cpu` controller), while PostgreSQL, s3rver and the load
 * generator stay outside it: then two services have twice the CPU of one, as two machines would.
 * A quota only caps: on a machine shared with other work, a group weighs as one process, so the
 * services got well under their 0.4 core. Each service's group, and PostgreSQL's (no quota), so
 * weigh as 16 busy processes (`cpu.shares`): each gets its budget whenever it asks, as on a
 * machine of its own. The load generator is `wrk` (C, a Lua script making each request's body and
 * id), from two wrk processes (both at A, or one at A and one at B) that cost little (0.03 core).
 * Each service loaded gets the same 64 connections in both cases, as two machines behind a load
 * balancer get twice the clients of one: 64 at A, then 64 at A and 64 at B. It used to be 32 in
 * all, so each of two services had 16 requests at once where one alone had 32; a service with
 * fewer requests at once spends more CPU on each (fewer per turn of its event loop) and idles while
 * they wait for PostgreSQL: two used 91 to 96 % of their quota where one used 100 %, so the load
 * generator, not the services, bounded the two. One service gets no more from 64 than from 32
 * (both fill its quota). Each round prints what the services used of their quota and per answer,
 * and the cores PostgreSQL's backends and wrk used, which tells what bounded it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { median } from "./_stats.ts";
import { reportRow } from "./_summary.ts";
import {
  createDatabase,
  freePort,
  postgresCluster,
  psql,
  startPostgres,
  stopPostgres,
} from "../tests/_postgres.ts";
import { createBucket, s3Env } from "../tests/_s3.ts";
import { type Proc, spawn, stop } from "../tests/_scale_processes.ts";

const ROUNDS = 3;
const ROUND_SECONDS = 10;
/** Connections of the load generators to each service loaded, at 1 service or 2 (module notes). */
const CONNECTIONS = 64;
const CGROUP_CPU = "/sys/fs/cgroup/cpu";
const CGROUP_CPUACCT = "/sys/fs/cgroup/cpuacct";
/** A service's CPU group weighs as much as this many busy processes (`cpu.shares`). */
const SHARE_OF = 16;
/** Clock ticks a second of `/proc/PID/stat` times (Linux's USER_HZ). */
const CLOCK_TICKS = 100;
const LATENCY_JOBS = 20;
const FILE_MB = 100;

/** Numbers measured by one run of the benchmark. */
export interface ScaleBenchResult {
  /** Uncached runs a second against one service. */
  oneServiceRunsPerSecond: number;
  /** Runs a second of 2 services ÷ 1 (target ≥ 1.7 with a CPU quota). */
  runRatio: number;
  /** Job submissions a second against one service. */
  oneServiceSubmitsPerSecond: number;
  /** Job submissions a second of 2 services ÷ 1 (target ≥ 1.7 with a CPU quota). */
  submitRatio: number;
  /** Median enqueue → start of a job on an idle worker, ms (target ≤ 100). */
  medianStartMs: number;
  /** 100 MB write + read through S3, ms. */
  s3Ms: number;
  /** The same through the local folder, ms. */
  localMs: number;
  /** Median cancel request → cancelled answer of a running job, ms (target ≤ 2000). */
  medianCancelMs: number;
  /** The CPU quota of each service process, in cores (null: none). */
  cpuQuota: number | null;
}

/** A cgroup that limits a service's CPU (and counts what it used). */
interface CpuLimit {
  /** Share of the CPU periods so far in which the group was throttled (used up its quota). */
  throttled(): Promise<number>;
  /** CPU time the group's processes used so far, in seconds (cgroup v1 `cpuacct.usage`). */
  used(): Promise<number>;
  /** The processes under `pid` (the service's UDF processes): how many are in the group. */
  covers(pid: number): Promise<{ inside: number; outside: string[] }>;
  /** Removes the group once its processes are gone. */
  remove(): Promise<void>;
}

/** Whether this process may make cgroup v1 `cpu` groups (root, v1 controller mounted). */
async function canLimitCpu(): Promise<boolean> {
  try {
    await Deno.stat(`${CGROUP_CPU}/cgroup.procs`);
    await Deno.stat(`${CGROUP_CPUACCT}/cpuacct.usage`);
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

/**
 * Puts a running process, and the processes it starts from now on, in a new cgroup v1 `cpu`
 * group limited to `cores` (and a `cpuacct` group of the same name, to count its use).
 */
async function limitCpu(pid: number, cores: number): Promise<CpuLimit> {
  const name = `fused-bench-${Deno.pid}-${pid}`;
  const dir = `${CGROUP_CPU}/${name}`;
  const acct = `${CGROUP_CPUACCT}/${name}`;
  try {
    await Deno.mkdir(dir);
    await Deno.mkdir(acct);
  } catch (err) {
    throw new Error(
      `Cannot make a cgroup in ${CGROUP_CPU} (${
        (err as Error).message
      }): --cpu-quota needs root and the cgroup v1 cpu and cpuacct controllers; run with --cpu-quota none`,
    );
  }
  const period = 100_000;
  await Deno.writeTextFile(`${dir}/cpu.cfs_period_us`, String(period));
  await Deno.writeTextFile(`${dir}/cpu.cfs_quota_us`, String(Math.round(cores * period)));
  // A budget the service also gets: a group weighs as one process against every busy process
  // of the machine (1024 each), so on a loaded machine it got well under its quota. With the
  // weight of SHARE_OF busy processes it gets its quota whenever it asks for it, as a machine
  // of its own would give it; PostgreSQL, s3rver and wrk share what is left.
  await Deno.writeTextFile(`${dir}/cpu.shares`, String(1024 * SHARE_OF));
  await Deno.writeTextFile(`${dir}/cgroup.procs`, String(pid));
  await Deno.writeTextFile(`${acct}/cgroup.procs`, String(pid));
  return {
    async throttled() {
      const stat = await Deno.readTextFile(`${dir}/cpu.stat`);
      const field = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(stat)?.[1]);
      return field("nr_throttled") / Math.max(1, field("nr_periods"));
    },
    async used() {
      return Number(await Deno.readTextFile(`${acct}/cpuacct.usage`)) / 1e9;
    },
    async covers(root: number) {
      let inside = 0;
      const outside: string[] = [];
      for (const child of descendants(root)) {
        const groups = await Deno.readTextFile(`/proc/${child}/cgroup`).catch(() => null);
        const command = await Deno.readTextFile(`/proc/${child}/cmdline`).catch(() => "");
        // Ended meanwhile, or exiting: a process whose memory is already released has an empty
        // command line, and the kernel shows it in the root groups until it is waited for (seen:
        // UDF processes of a pool that had just closed them). It uses no more CPU.
        if (groups === null || command === "") continue;
        if (new RegExp(`^\\d+:cpu:/${name}$`, "m").test(groups)) inside++;
        else {
          const cpu = /^\d+:cpu:(.*)$/m.exec(groups)?.[1];
          outside.push(`${child} (${command.replaceAll("\0", " ").slice(0, 160)}) in ${cpu}`);
        }
      }
      return { inside, outside };
    },
    async remove() {
      for (const group of [dir, acct]) {
        for (let i = 0; i < 50; i++) {
          try {
            await Deno.remove(group);
            break;
          } catch {
            if (i === 49) {
              console.error(`Could not remove the cgroup ${group}: remove it with rmdir`);
            }
            await new Promise((r) => setTimeout(r, 100)); // its last processes are still exiting
          }
        }
      }
    },
  };
}

/**
 * Gives PostgreSQL (its postmaster and every backend, now and later) the weight of `SHARE_OF`
 * busy processes in a cgroup v1 `cpu` group with no quota: as on a machine of its own, the other
 * processes of this shared machine do not starve it, and it is not limited either.
 */
async function weighPostgres(): Promise<CpuLimit["remove"]> {
  const cluster = await postgresCluster();
  const postmaster = Number(
    (await Deno.readTextFile(`${cluster.dir}/data/postmaster.pid`)).split("\n")[0],
  );
  const dir = `${CGROUP_CPU}/fused-bench-${Deno.pid}-postgres`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/cpu.shares`, String(1024 * SHARE_OF));
  for (const pid of [postmaster, ...descendants(postmaster)]) {
    await Deno.writeTextFile(`${dir}/cgroup.procs`, String(pid)).catch(() => {}); // ended
  }
  return async () => {
    // The cluster outlives the bench (until this process exits): move it back first.
    for (const pid of (await Deno.readTextFile(`${dir}/cgroup.procs`)).split("\n")) {
      if (pid) await Deno.writeTextFile(`${CGROUP_CPU}/cgroup.procs`, pid).catch(() => {});
    }
    await Deno.remove(dir).catch(() => console.error(`Could not remove the cgroup ${dir}`));
  };
}

/** The user and system CPU seconds of a process from `/proc/PID/stat`, or 0 once it ended. */
function cpuSeconds(fields: string[]): number {
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** `/proc/PID/stat` after the command name: state, ppid, ... (0-based from field 3). */
function statFields(pid: number | "self"): string[] | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** Every process whose parent chain reaches `root`. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const fields = statFields(Number(entry.name));
    if (fields) parent.set(Number(entry.name), Number(fields[1]));
  }
  return [...parent.keys()].filter((pid) => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) return true;
    }
    return false;
  });
}

/** CPU seconds used so far by PostgreSQL's backends of one database (by their process title). */
function postgresSeconds(database: string): number {
  let total = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let title: string;
    try {
      title = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
    } catch {
      continue;
    }
    if (!title.startsWith("postgres: ") || !title.includes(` ${database} `)) continue;
    const fields = statFields(Number(entry.name));
    if (fields) total += cpuSeconds(fields);
  }
  return total;
}

/** CPU seconds of this process's ended (waited for) children: the load generators. */
function childrenSeconds(): number {
  const fields = statFields("self")!;
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** One HTTP load: a POST whose body and one header change with every request. */
interface Load {
  /** Path under each service's root URL. */
  path: string;
  /** Headers of every request. */
  headers: Record<string, string>;
  /** The header that gets a new value with every request (`Fused-Run-Id`, `Idempotency-Key`). */
  uniqueHeader: string;
  /** The body: `before` + the request's number + `after`. */
  before: string;
  after: string;
}

/** A Lua string literal that holds any text. */
function luaString(text: string): string {
  let eq = "=";
  while (text.includes(`]${eq}]`)) eq += "=";
  return `[${eq}[${text}]${eq}]`;
}

/**
 * The wrk script of a load: each request gets its number in the body and a unique header value;
 * every answer that is not 2xx is counted (and the first one kept) so a failed run never counts.
 */
function wrkScript(load: Load): string {
  const headers = Object.entries(load.headers)
    .map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`).join("\n");
  return `wrk.method = "POST"
wrk.path = ${luaString(load.path)}
${headers}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) tag = args[1]; counter = 0; ok = 0; bad = 0; first_bad = "" end
function request()
  counter = counter + 1
  wrk.headers[ ${luaString(load.uniqueHeader)} ] = tag .. "-" .. counter
  return wrk.format(nil, nil, nil, ${luaString(load.before)} .. counter .. ${luaString(load.after)})
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else
    bad = bad + 1
    if first_bad == "" then first_bad = status .. " " .. string.sub(body, 1, 300) end
  end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("FUSED_WRK ok=%d bad=%d seconds=%f\\n", t:get("ok"), t:get("bad"), summary.duration / 1e6))
    if t:get("first_bad") ~= "" then io.write("FUSED_WRK_BAD " .. t:get("first_bad") .. "\\n") end
  end
  io.write(string.format("FUSED_WRK_ERRORS connect=%d read=%d write=%d timeout=%d\\n", summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
`;
}

/** What one round of load measured. */
interface Round {
  /** 2xx answers a second, all generators together. */
  perSecond: number;
  /** CPU the services used, as a share of their quota over the round (null without a quota). */
  quotaUsed: number | null;
  /** CPU the services used per answer, ms (null without a quota: their CPU is not counted). */
  servicesMsPerAnswer: number | null;
  /** Cores PostgreSQL's backends of the bench's database used meanwhile. */
  postgresCores: number;
  /** Cores the load generators (wrk) used meanwhile. */
  generatorCores: number;
  /** The 1-minute load average at the end. */
  load: number;
}

/**
 * Sends a load with one `wrk` per entry of `targets` (a service's root URL; the same service may
 * be listed twice), `CONNECTIONS` to each service among them, for `ROUND_SECONDS`, at
 * once; fails on any answer that is not 2xx or any socket error. `limits`: the CPU groups of the
 * services loaded, whose use is compared with their quota.
 */
async function wrkRound(
  script: string,
  targets: string[],
  tag: string,
  limits: CpuLimit[],
  cpuQuota: number | null,
  database: string,
  during?: () => Promise<void>,
): Promise<Round> {
  const usedBefore = await Promise.all(limits.map((l) => l.used()));
  const pgBefore = postgresSeconds(database);
  const genBefore = childrenSeconds();
  const t0 = performance.now();
  // Halfway through the round, while requests are in flight.
  const looked = during
    ? new Promise((r) => setTimeout(r, ROUND_SECONDS * 500)).then(during)
    : Promise.resolve();
  const outputs = await Promise.all(targets.map((url, i) =>
    new Deno.Command("wrk", {
      args: [
        "-t1",
        `-c${CONNECTIONS / targets.filter((t) => t === url).length}`,
        `-d${ROUND_SECONDS}s`,
        "--timeout",
        "60s",
        "-s",
        script,
        url,
        "--",
        `${tag}-${i}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output()
  ));
  const seconds = (performance.now() - t0) / 1000;
  await looked;
  let ok = 0;
  for (const out of outputs) {
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const counts = /FUSED_WRK ok=(\d+) bad=(\d+) seconds=([\d.]+)/.exec(text);
    const errors = /FUSED_WRK_ERRORS connect=0 read=0 write=0 timeout=0/.test(text);
    if (!out.success || !counts || counts[2] !== "0" || !errors) {
      throw new Error(`The load generator failed or got answers other than 2xx:\n${text}`);
    }
    ok += Number(counts[1]) / Number(counts[3]);
  }
  const usedAfter = await Promise.all(limits.map((l) => l.used()));
  const used = usedAfter.reduce((a, b, i) => a + b - usedBefore[i], 0);
  const quota = limits.length * (cpuQuota ?? 0) * seconds;
  return {
    perSecond: ok,
    quotaUsed: quota === 0 ? null : used / quota,
    servicesMsPerAnswer: quota === 0 ? null : used / (ok * seconds) * 1000,
    postgresCores: (postgresSeconds(database) - pgBefore) / seconds,
    generatorCores: (childrenSeconds() - genBefore) / seconds,
    load: Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]),
  };
}

async function until(what: string, check: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function service(
  home: string,
  env: Record<string, string>,
  cpuQuota: number | null,
  limits: CpuLimit[],
): Promise<{ proc: Proc; baseUrl: string; token: string }> {
  const port = freePort();
  // Inside the bench's home folder, removed with it at the end.
  const dir = await Deno.makeTempDir({ dir: home, prefix: "service_" });
  const proc = spawn(["serve", "--port", String(port), "--data-dir", dir], env);
  if (cpuQuota !== null) limits.push(await limitCpu(proc.child.pid, cpuQuota));
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  await until(`the service on ${port}: ${proc.output()}`, async () => {
    try {
      const res = await fetch(`${baseUrl}/health`);
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  });
  const token = JSON.parse(await Deno.readTextFile(`${dir}/admin-credentials.json`)).access_token;
  return { proc, baseUrl, token };
}

/** 100 MB in 1 MiB chunks, written and read back through a store. */
async function roundTrip(
  store: {
    write(k: string, b: ReadableStream<Uint8Array>): Promise<unknown>;
    read(k: string): Promise<{ body: ReadableStream<Uint8Array> }>;
  },
): Promise<number> {
  const chunk = new Uint8Array(1 << 20).map((_, i) => i % 251);
  const t0 = performance.now();
  let left = FILE_MB;
  await store.write(
    "bench/big.bin",
    new ReadableStream({
      pull(c) {
        if (left-- === 0) return c.close();
        c.enqueue(chunk.slice());
      },
    }),
  );
  let got = 0;
  for await (const part of (await store.read("bench/big.bin")).body) got += part.byteLength;
  if (got !== FILE_MB << 20) throw new Error(`Read back ${got} bytes of ${FILE_MB << 20}`);
  return performance.now() - t0;
}

/** The median of each field of the rounds. */
function medianRound(rounds: Round[]): Round {
  const of = (pick: (r: Round) => number) => median(rounds.map(pick));
  return {
    perSecond: of((r) => r.perSecond),
    quotaUsed: rounds[0].quotaUsed === null ? null : of((r) => r.quotaUsed!),
    servicesMsPerAnswer: rounds[0].servicesMsPerAnswer === null
      ? null
      : of((r) => r.servicesMsPerAnswer!),
    postgresCores: of((r) => r.postgresCores),
    generatorCores: of((r) => r.generatorCores),
    load: of((r) => r.load),
  };
}

/**
 * Loads `pg_stat_statements` in the bench's throw-away cluster (a restart) and creates it in
 * `database`, to count what each submit costs PostgreSQL.
 */
async function countStatements(database: string): Promise<void> {
  await psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
  await stopPostgres();
  await startPostgres();
  await psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", database);
}

/**
 * The statements of `database` since the last `pg_stat_statements_reset()`, most time first,
 * per one of `per` requests: calls and milliseconds of execution each.
 */
async function statementsPer(database: string, per: number): Promise<string[]> {
  const out = await psql(
    `SELECT s.calls, s.total_exec_time, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 80)
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = current_database() ORDER BY s.total_exec_time DESC LIMIT 10`,
    database,
  );
  return out.trim().split("\n").filter(Boolean).map((line) => {
    const [calls, ms, ...query] = line.split("|");
    return `| ${(Number(calls) / per).toFixed(2)} | ${(Number(ms) / per).toFixed(3)} | \`${
      query.join("|").replaceAll("`", "'")
    }\` |`;
  });
}

/**
 * Measures a load against 1 service then 2, interleaved `ROUNDS` times: the same two wrk
 * processes each time, both at service A, then one at A and one at B.
 */
async function compare(
  name: string,
  load: Load,
  services: { url: string; limit?: CpuLimit }[],
  cpuQuota: number | null,
  database: string,
  during?: () => Promise<void>,
): Promise<{ one: Round; two: Round; ratio: number }> {
  const script = await Deno.makeTempFile({ prefix: "scale_bench_", suffix: ".lua" });
  try {
    await Deno.writeTextFile(script, wrkScript(load));
    const [a, b] = services;
    const groups = (list: typeof services) => list.flatMap((s) => s.limit ? [s.limit] : []);
    const round = (i: number, list: typeof services) =>
      wrkRound(
        script,
        [list[0].url, list[list.length - 1].url],
        `${name}-${Deno.pid}-${i}-${list.length}`,
        groups(list),
        cpuQuota,
        database,
        list.length === 2 ? during : undefined,
      );
    await round(-1, [a, b]); // warm both services
    const one: Round[] = [];
    const two: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      one.push(await round(i, [a]));
      two.push(await round(i, [a, b]));
    }
    return {
      one: medianRound(one),
      two: medianRound(two),
      ratio: median(two.map((t, i) => t.perSecond / one[i].perSecond)),
    };
  } finally {
    await Deno.remove(script);
  }
}

/**
 * Runs the benchmark, prints a table, returns the numbers. `--cpu-quota CORES` per service;
 * the default is 0.4 where this process may make cgroup v1 cpu groups (root), `none` to run the
 * services unlimited.
 */
export async function main(args: string[] = Deno.args): Promise<ScaleBenchResult> {
  const { values } = parseArgs({ args, options: { "cpu-quota": { type: "string" } } });
  const given = values["cpu-quota"];
  const cpuQuota = given === "none"
    ? null
    : given === undefined
    ? (await canLimitCpu() ? 0.4 : null)
    : Number(given);
  if (cpuQuota !== null && !(cpuQuota > 0 && cpuQuota <= 64)) {
    throw new Error(`Invalid --cpu-quota "${given}": use cores, e.g. 0.4, or none`);
  }
  const limits: CpuLimit[] = [];
  const home = await Deno.makeTempDir({ prefix: "scale_bench_" });
  Deno.env.set("FUSED_HOME", home);
  const fused = await import("../mod.ts");
  const { S3Storage } = await import("../server/s3_storage.ts");
  const { LocalStorage } = await import("../server/storage.ts");
  const { stepConfig } = await import("../client/api/realtime.ts");
  const database = await createDatabase("bench");
  const databaseName = new URL(database).pathname.slice(1);
  await countStatements(databaseName);
  const bucket = await createBucket("bench");
  const s3 = await s3Env();
  const env: Record<string, string> = {
    ...s3,
    FUSED_DATABASE_URL: database,
    FUSED_STORAGE_URL: `s3://${bucket}/fused`,
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? home,
    NO_COLOR: "1",
  };
  const procs: Proc[] = [];
  const unweigh = cpuQuota === null ? undefined : await weighPostgres();
  try {
    const a = await service(home, env, cpuQuota, limits);
    procs.push(a.proc);
    const b = await service(home, env, cpuQuota, limits);
    procs.push(b.proc);
    const trivial = fused.udf(`export default function udf({ i = 0 }) { return i }`, {
      name: "trivial",
    });
    await fused.api.login({ token: a.token, baseUrl: a.baseUrl });
    const cid = await fused.api.realtimeClientId();
    const services = [a, b].map((s, i) => ({ url: new URL(s.baseUrl).origin, limit: limits[i] }));
    const headers = { "Authorization": `Bearer ${a.token}`, "Content-Type": "application/json" };
    // Uncached runs: the SDK's code-included run (POST .../run/udf, answered when done), each with
    // its own parameter and cache_max_age=0, so every one is computed by the UDF's process.
    const runBody = JSON.stringify({
      i: 0,
      step_config: JSON.stringify(stepConfig(trivial, {})),
      format: "json",
      profile: false,
    });
    const looked: { inside: number; outside: string[] }[][] = [];
    const runs = await compare(
      "runs",
      {
        path: `/v1/realtime/${cid}/api/v1/run/udf?cache_max_age=0`,
        headers: { ...headers, "Fused-Recursion": "2" },
        uniqueHeader: "Fused-Run-Id",
        before: runBody.slice(0, runBody.indexOf(":0,") + 1),
        after: runBody.slice(runBody.indexOf(":0,") + 2),
      },
      services,
      cpuQuota,
      databaseName,
      // The UDF processes a service starts are in its CPU group (the quota limits it as a whole):
      // looked at while both services run UDFs, since a pool's processes may have exited after.
      async () => {
        looked.push(await Promise.all(limits.map((l, i) => l.covers([a, b][i].proc.child.pid))));
      },
    );
    const outside = looked.flat().flatMap((c) => c.outside);
    if (outside.length > 0) {
      throw new Error(`Processes of a service outside its CPU group:\n${outside.join("\n")}`);
    }
    if (cpuQuota !== null && looked.some((round) => round.some((c) => c.inside === 0))) {
      throw new Error(
        `A service ran uncached UDFs with no UDF process in its CPU group (${
          looked.map((round) => round.map((c) => c.inside).join(" and ")).join("; ")
        } per round): the check of the CPU groups cannot see the service's UDF processes`,
      );
    }

    // Job submissions (the SDK's POST /run with its Idempotency-Key), queued for an instance type
    // no worker here declares, so nothing runs them meanwhile.
    const submitBody = JSON.stringify({
      config: { name: "trivial", steps: [stepConfig(trivial, { i: 0 })], metadata: null },
      send_status_email: false,
    });
    const at = submitBody.indexOf('"i":0') + 4;
    await psql("SELECT pg_stat_statements_reset()", databaseName);
    const submits = await compare(
      "submits",
      {
        path: "/v1/run?instance_type=large",
        headers: { ...headers, "Fused-Recursion": "2" },
        uniqueHeader: "Idempotency-Key",
        before: submitBody.slice(0, at),
        after: submitBody.slice(at + 1),
      },
      services,
      cpuQuota,
      databaseName,
    );

    // Every submit made a job: what PostgreSQL ran for the submits, per submit.
    const submitted = Number(await psql("SELECT count(*) FROM jobs", databaseName));
    const statements = await statementsPer(databaseName, submitted);

    const worker = spawn(["worker", "--concurrency", "1"], env);
    procs.push(worker);
    await until(
      `the worker: ${worker.output()}`,
      () => Promise.resolve(worker.output().includes("taking jobs")),
    );
    const starts: number[] = [];
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const job = await fused.api.startJob(trivial, { parameters: { i } });
      let logs: { timestamp: number; message: string }[] = [];
      await until("a job to start", async () => {
        logs = await fused.api.jobGetLogs(job.job_id);
        return logs.some((l) => l.message === "Job succeeded");
      });
      const queued = logs.find((l) => l.message.startsWith("Job queued"))!;
      const started = logs.find((l) => l.message.startsWith("Job started on worker"))!;
      if (i > 0) starts.push(started.timestamp - queued.timestamp); // the first one warms up
    }

    const slow = fused.udf(
      `export default async function udf() { console.log("waiting"); await new Promise((r) => setTimeout(r, 60000)); return 1 }`,
      { name: "slow" },
    );
    const cancels: number[] = [];
    for (let i = 0; i < 5; i++) {
      const job = await fused.api.startJob(slow);
      await until(
        "a slow job to run",
        async () => (await fused.api.jobGetLogs(job.job_id)).some((l) => l.message === "waiting"),
      );
      const t0 = performance.now();
      const answer = await fused.api.jobCancel(job.job_id);
      if (answer.job_status !== "Canceled") throw new Error(`Cancel answered ${answer.job_status}`);
      cancels.push(performance.now() - t0);
    }

    const client = {
      endpoint: s3.AWS_ENDPOINT_URL,
      credentials: { accessKeyId: s3.AWS_ACCESS_KEY_ID, secretAccessKey: s3.AWS_SECRET_ACCESS_KEY },
    };
    const store = new S3Storage(`s3://${bucket}/io`, { client });
    const local = new LocalStorage(`${home}/files`);
    const s3Times: number[] = [];
    const localTimes: number[] = [];
    for (let round = 0; round < 3; round++) {
      localTimes.push(await roundTrip(local));
      s3Times.push(await roundTrip(store));
    }
    store.close();

    const result: ScaleBenchResult = {
      oneServiceRunsPerSecond: runs.one.perSecond,
      runRatio: runs.ratio,
      oneServiceSubmitsPerSecond: submits.one.perSecond,
      submitRatio: submits.ratio,
      medianStartMs: median(starts),
      s3Ms: median(s3Times),
      localMs: median(localTimes),
      medianCancelMs: median(cancels),
      cpuQuota,
    };
    const quota = cpuQuota === null ? ", no CPU quota" : `, ${cpuQuota} core each`;
    const pct = (x: number | null) => x === null ? "-" : `${(x * 100).toFixed(0)}%`;
    console.log(
      `${ROUNDS} rounds of ${ROUND_SECONDS} s each, ${CONNECTIONS} connections to each service loaded from 2 wrk processes (medians)\n`,
    );
    console.log(
      "| case | answers/s | 2 ÷ 1 | services' CPU ÷ quota | services' CPU ms per answer | PostgreSQL cores | PostgreSQL CPU ms per answer | wrk cores | load avg |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const [what, m] of [["uncached runs", runs], ["job submissions", submits]] as const) {
      for (const [n, r] of [[1, m.one], [2, m.two]] as const) {
        console.log(
          `| ${what}, ${n} service${n === 2 ? "s" : ""}${quota} | ${r.perSecond.toFixed(0)} | ${
            n === 2 ? m.ratio.toFixed(2) : ""
          } | ${pct(r.quotaUsed)} | ${r.servicesMsPerAnswer?.toFixed(2) ?? "-"} | ${
            r.postgresCores.toFixed(2)
          } | ${(r.postgresCores / r.perSecond * 1000).toFixed(2)} | ${
            r.generatorCores.toFixed(2)
          } | ${r.load.toFixed(1)} |`,
        );
      }
    }
    console.log(
      `\nUDF processes in their service's CPU group during the runs (A, B; each round of 2 services): ${
        looked.map((round) =>
          round.map((c) => `${c.inside} of ${c.inside + c.outside.length}`).join(", ")
        ).join("; ")
      }\n`,
    );
    console.log(
      `PostgreSQL's statements for the ${submitted} submits (pg_stat_statements, most time first)\n`,
    );
    console.log("| calls per submit | ms per submit | statement |");
    console.log("|---|---|---|");
    console.log(`${statements.join("\n")}\n`);
    console.log("| case | value | target |");
    console.log("|---|---|---|");
    console.log(
      `| job enqueue → start, idle worker (median of ${starts.length}) | ${
        result.medianStartMs.toFixed(0)
      } ms | ≤ 100 ms |`,
    );
    console.log(
      `| cancel → stopped, running job (median of ${cancels.length}) | ${
        result.medianCancelMs.toFixed(0)
      } ms | ≤ 2000 ms |`,
    );
    console.log(
      `| ${FILE_MB} MB write + read, local folder (baseline) | ${result.localMs.toFixed(0)} ms | |`,
    );
    console.log(
      `| ${FILE_MB} MB write + read, S3 (s3rver) | ${result.s3Ms.toFixed(0)} ms, ${
        (result.s3Ms / result.localMs).toFixed(2)
      } × local | |`,
    );
    if (cpuQuota !== null) {
      const baseline = `1 service (${cpuQuota} core), same run`;
      reportRow({
        path: "scale: uncached runs, 2 services ÷ 1",
        value: runs.ratio,
        unit: "x",
        baseline,
        atLeast: 1.7,
      });
      reportRow({
        path: "scale: submits, 2 services ÷ 1",
        value: submits.ratio,
        unit: "x",
        baseline,
        atLeast: 1.7,
      });
    }
    return result;
  } finally {
    for (const proc of procs.reverse()) await stop(proc);
    for (const limit of limits) await limit.remove();
    await unweigh?.();
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) await main();

/**
 * A throw-away PostgreSQL 15 cluster for the tests: Debian's `initdb` and `pg_ctl` run as the
 * unprivileged `postgres` user (or `nobody`) when the tests run as root, else as the tests' own
 * user, in a temp folder, listening on 127.0.0.1 on a free
 * port with its unix sockets in that folder. It starts once per `deno test` process, on first use,
 * and goes away with the process: a watchdog shell stops it and removes the folder as soon as the
 * test process is gone (even after a SIGKILL), so nothing outlives the run.
 *
 * `pg_ctl start` daemonises and returns, so a test holds no child-process resource and Deno's
 * sanitizers stay on.
 *
 * @module
 */
import { join } from "node:path";
import { tmpdir } from "node:os";

/** Where Debian installs PostgreSQL 15's server programs. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** The cluster's superuser and its password (scram-sha-256: wrong credentials are refused). */
export const PG_USER = "fused";
/** Password of `PG_USER`. */
export const PG_PASSWORD = "fused-test-secret";

/** A running cluster. */
export interface PostgresCluster {
  /** Port on 127.0.0.1. */
  port: number;
  /** The temp folder (data in `data/`, sockets and log beside it). */
  dir: string;
  /** The OS user that runs the server. */
  osUser: string;
}

let cluster: Promise<PostgresCluster> | undefined;
const STATE = join(tmpdir(), `fused-test-postgres-${Deno.pid}.json`);

function run(cmd: string, args: string[], env: Record<string, string> = {}): Deno.CommandOutput {
  return new Deno.Command(cmd, { args, env, stdin: "null", stdout: "piped", stderr: "piped" })
    .outputSync();
}

function check(out: Deno.CommandOutput, what: string): void {
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${what} failed (exit ${out.code}): ${text.trim()}`);
  }
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Whether this process runs as root (PostgreSQL refuses to run as root). */
const isRoot = Deno.uid() === 0;

function osUser(): string {
  if (!isRoot) return new TextDecoder().decode(run("id", ["-un"]).stdout).trim();
  for (const name of ["postgres", "nobody"]) {
    if (run("id", ["-u", name]).success) return name;
  }
  throw new Error("Neither a postgres nor a nobody user exists to run the test cluster as");
}

function asUser(user: string, args: string[]): Deno.CommandOutput {
  // As root, the server runs as the unprivileged user; otherwise as this process's own user.
  return isRoot ? run("runuser", ["-u", user, "--", ...args]) : run(args[0], args.slice(1));
}

function pgCtl(c: PostgresCluster, action: "start" | "stop"): void {
  const data = join(c.dir, "data");
  if (action === "start") {
    const opts = [
      `-p ${c.port}`,
      "-h 127.0.0.1",
      `-k ${c.dir}`,
      // A throw-away cluster: durability off, enough connections for several services.
      "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
      "-c max_connections=300",
    ].join(" ");
    check(
      asUser(c.osUser, [
        `${PG_BIN}/pg_ctl`,
        "-D",
        data,
        "-l",
        join(c.dir, "server.log"),
        "-o",
        opts,
        "-w",
        "-t",
        "60",
        "start",
      ]),
      "pg_ctl start",
    );
  } else {
    check(
      asUser(c.osUser, [`${PG_BIN}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"]),
      "pg_ctl stop",
    );
  }
}

async function startCluster(): Promise<PostgresCluster> {
  try {
    Deno.statSync(`${PG_BIN}/initdb`);
  } catch {
    throw new Error(
      `PostgreSQL 15 is not installed (${PG_BIN}/initdb is missing): run .ci/setup, or apt-get install postgresql-15`,
    );
  }
  const user = osUser();
  const dir = await Deno.makeTempDir({ prefix: "fused-pg-" });
  if (isRoot) check(run("chown", [`${user}:`, dir]), "chown of the cluster folder");
  const pwfile = join(dir, "pw");
  await Deno.writeTextFile(pwfile, PG_PASSWORD);
  if (isRoot) check(run("chown", [`${user}:`, pwfile]), "chown of the password file");
  check(
    asUser(user, [
      `${PG_BIN}/initdb`,
      "-D",
      join(dir, "data"),
      "-U",
      PG_USER,
      `--pwfile=${pwfile}`,
      "--auth=scram-sha-256",
      "--no-sync",
      "--encoding=UTF8",
      "--locale=C",
    ]),
    "initdb",
  );
  const c: PostgresCluster = { port: freePort(), dir, osUser: user };
  pgCtl(c, "start");
  // The watchdog: once this process is gone, stop the server and remove the folder.
  const watchdog = `while kill -0 ${Deno.pid} 2>/dev/null; do sleep 1; done
    ${
    isRoot ? `runuser -u ${user} -- ` : ""
  }${PG_BIN}/pg_ctl -D ${dir}/data -m immediate stop >/dev/null 2>&1
    rm -rf ${dir} ${STATE} ${STATE}.lock`;
  check(
    run("sh", ["-c", `setsid sh -c '${watchdog}' >/dev/null 2>&1 < /dev/null &`]),
    "the cluster's watchdog",
  );
  return c;
}

/**
 * The shared cluster, started on first use. Test modules run in isolates of one process: the
 * first one to get here starts it and records it in a state file named after the process id;
 * the others read that file (a lock folder makes the start happen once).
 */
export function postgresCluster(): Promise<PostgresCluster> {
  cluster ??= shared(STATE, startCluster);
  return cluster;
}

/** Starts a per-process shared server once, through a state file and a lock folder. */
export async function shared<T>(state: string, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return JSON.parse(await Deno.readTextFile(state)) as T;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    try {
      await Deno.mkdir(`${state}.lock`);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      if (Date.now() > deadline) throw new Error(`Gave up waiting for ${state} to be written`);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      const value = await start();
      await Deno.writeTextFile(`${state}.tmp`, JSON.stringify(value));
      await Deno.rename(`${state}.tmp`, state);
      return value;
    } catch (err) {
      await Deno.remove(`${state}.lock`).catch(() => {});
      throw err;
    }
  }
}

/** Runs SQL as the superuser in database `db` with psql (no connection is left open). */
export async function psql(sql: string, db = "postgres"): Promise<string> {
  const c = await postgresCluster();
  const out = run(`${PG_BIN}/psql`, [
    "-X",
    "-q",
    "-A",
    "-t",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    "127.0.0.1",
    "-p",
    String(c.port),
    "-U",
    PG_USER,
    "-d",
    db,
    "-c",
    sql,
  ], { PGPASSWORD: PG_PASSWORD });
  check(out, `psql ${sql.slice(0, 60)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Creates a fresh, empty database and returns its URL
 * (`postgres://fused:…@127.0.0.1:PORT/NAME`).
 */
export async function createDatabase(prefix = "t"): Promise<string> {
  const c = await postgresCluster();
  const name = `${prefix.replace(/[^a-z0-9_]/gi, "_").toLowerCase()}_${
    crypto.randomUUID().slice(0, 8)
  }`;
  await psql(`CREATE DATABASE ${name}`);
  return `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${c.port}/${name}`;
}

/** Stops the shared cluster (to test what a client does while the server is down). */
export async function stopPostgres(): Promise<void> {
  pgCtl(await postgresCluster(), "stop");
}

/** Starts the shared cluster again after `stopPostgres`, on the same port. */
export async function startPostgres(): Promise<void> {
  pgCtl(await postgresCluster(), "start");
}

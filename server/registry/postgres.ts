/**
 * The shared registry on PostgreSQL: any number of services and workers on one database.
 *
 * The client is `npm:postgres` (porsager), not `npm:pg`: measured here, it re-LISTENs by itself
 * after a server restart, pipelines 2–3× pg's throughput on a small pool, and idle connections
 * killed by a restart do not crash the process (pg's pool does without an error handler).
 *
 * Concurrency: every uniqueness rule (a user's e-mail and handle, a UDF name per owner, a team
 * name, a setting) is a unique constraint, so of N parallel saves exactly one wins and the rest
 * get a `ConflictError` (HTTP 409). Read-modify-write steps (share-token updates, job log lines)
 * run in transactions that lock their row. Migrations are numbered, recorded in
 * `schema_migrations`, and applied under an advisory lock, so services starting together apply
 * each one once.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import postgres from "postgres";
import { BackendUnavailableError, isConnectionError, shortMessage } from "../backend_errors.ts";
import type {
  ApiTokenInfo,
  IssuedToken,
  JobLogLine,
  JobProcess,
  JobRecord,
  JobResultFile,
  JobStatus,
  ListOptions,
  NewApiToken,
  NewJobFields,
  NewUser,
  Page,
  PageFields,
  PageSummary,
  Registry,
  ShareToken,
  ShareTokenFields,
  UdfFields,
  UdfRecord,
  UdfScope,
  User,
} from "./mod.ts";
import {
  apiTokenId,
  definedOnly,
  jobKeyConflict,
  newApiToken,
  newShareToken,
  now,
  PAGE_SUMMARY_COLUMNS,
  slugConflict,
  SORT_SQL,
  toApiTokenInfo,
  tokenMatches,
  tokenUsable,
  toPageSummary,
  userConflict,
} from "./_shared.ts";

/** Schema changes, applied in order; the index + 1 is the version. Never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE teams (
     id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
   CREATE TABLE users (
     id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, handle TEXT NOT NULL UNIQUE,
     team_id TEXT REFERENCES teams(id), is_admin BOOLEAN NOT NULL DEFAULT false,
     created_at TEXT NOT NULL);
   CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     token_hash TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL);
   CREATE TABLE udfs (
     id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id),
     slug TEXT COLLATE "C" NOT NULL, udf_body TEXT NOT NULL, udf_type TEXT NOT NULL,
     allow_public_read BOOLEAN NOT NULL DEFAULT false,
     allow_public_list BOOLEAN NOT NULL DEFAULT false,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (owner_id, slug));
   CREATE TABLE share_tokens (
     token TEXT PRIMARY KEY, udf_id TEXT NOT NULL REFERENCES udfs(id) ON DELETE CASCADE,
     owner_id TEXT NOT NULL REFERENCES users(id), client_id TEXT,
     enabled BOOLEAN NOT NULL DEFAULT true, cache BOOLEAN NOT NULL DEFAULT true,
     public_read BOOLEAN NOT NULL DEFAULT false, access_scope TEXT,
     metadata_json TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,
     last_updated TEXT NOT NULL);
   CREATE INDEX share_tokens_owner ON share_tokens (owner_id, created_at);
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id), status TEXT NOT NULL,
     config_json TEXT NOT NULL DEFAULT '{}', logs TEXT NOT NULL DEFAULT '', error TEXT,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
     name TEXT, instance_type TEXT, pid INTEGER, pid_start TEXT,
     log_offset BIGINT NOT NULL DEFAULT 0, results_json TEXT NOT NULL DEFAULT '[]');
   CREATE INDEX jobs_owner ON jobs (owner_id, created_at);
   CREATE INDEX jobs_status ON jobs (status, created_at);
   CREATE TABLE job_logs (
     seq BIGSERIAL PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
     timestamp BIGINT NOT NULL, message TEXT NOT NULL);
   CREATE INDEX job_logs_job ON job_logs (job_id, timestamp);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Jobs on the shared queue: which attempt runs (a fencing token), where, and a cancel flag.
  `ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE jobs ADD COLUMN worker TEXT;
   ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;`,
  // Published notebook pages (`fused publish`): the HTML gzip'd, the share tokens of its layers.
  `CREATE TABLE pages (
     owner_id TEXT NOT NULL REFERENCES users(id), name TEXT COLLATE "C" NOT NULL,
     notebook TEXT NOT NULL, layers_json TEXT NOT NULL DEFAULT '[]', size_bytes BIGINT NOT NULL,
     html_gzip BYTEA NOT NULL, created_at TEXT NOT NULL, published_at TEXT NOT NULL,
     PRIMARY KEY (owner_id, name));`,
  // A client's key of a submission, so a retried submit answers the first job; API tokens that
  // expire or are revoked; rate-limit buckets shared by the services (unlogged: losing them in a
  // crash only refills them).
  `ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
   CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_id, idempotency_key);
   ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
   ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;
   CREATE UNLOGGED TABLE rate_limits (
     key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, at BIGINT NOT NULL,
     allowed BOOLEAN NOT NULL);`,
  // Attempts a draining worker handed back: they fence writes but do not count as tries.
  `ALTER TABLE jobs ADD COLUMN released_attempts INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;`,
  // Who wrote each fd:// file and its size: a user's share of the store, for their disk quota.
  `CREATE TABLE fd_files (key TEXT PRIMARY KEY, user_id TEXT NOT NULL, size BIGINT NOT NULL);
   CREATE INDEX fd_files_user ON fd_files (user_id, size);`,
];

/** A pending job's row, of `jobValues` from parameter `$(at + 1)` on. */
function jobInsert(at = 0): string {
  const p = (n: number) => `$${at + n}`;
  return `INSERT INTO jobs (id, owner_id, status, config_json, created_at, updated_at, name,
    instance_type, idempotency_key) VALUES (${p(1)}, ${p(2)}, 'pending', ${p(3)}, ${p(4)},
    ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)})`;
}

/** The parameters of `jobInsert`. */
function jobValues(id: string, ownerId: string, config: unknown, fields: NewJobFields) {
  return [
    id,
    ownerId,
    JSON.stringify(config ?? {}),
    now(),
    fields.name ?? null,
    fields.instanceType ?? null,
    fields.idempotencyKey ?? null,
  ];
}

/**
 * `statement` (one SELECT, INSERT, UPDATE or DELETE, with or without its own WITH; its parameters
 * are `$1` to `$at`) with a queued job's row and its first log lines written before it in the same
 * statement: `jobValues` from `$(at + 1)`, then the lines' times and messages. The two come first
 * in the WITH list, under names no other statement here uses.
 */
export function withQueuedJob(statement: string, at: number): string {
  const head = /^\s*WITH(\s+RECURSIVE)?\s/i.exec(statement);
  const job = `fused_queued_job AS (${jobInsert(at)} RETURNING id),
  fused_queued_job_lines AS (
    INSERT INTO job_logs (job_id, timestamp, message)
    SELECT fused_queued_job.id, line.timestamp, line.message
    FROM fused_queued_job, unnest($${at + 8}::bigint[], $${at + 9}::text[])
      WITH ORDINALITY AS line(timestamp, message, n)
    ORDER BY line.n)`;
  return head
    ? `WITH${head[1] ? " RECURSIVE" : ""} ${job},\n${statement.slice(head[0].length)}`
    : `WITH ${job}\n${statement}`;
}

/** What pg-boss runs its SQL through when it writes a job's queue entry (its `IDatabase`). */
export interface SqlExecutor {
  /** Runs one statement with `$1`-style parameters. */
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** A job claimed by a worker: the record and the attempt number that fences its writes. */
export interface JobClaim {
  /** The job, now running. */
  job: JobRecord;
  /** The attempt's fence (1, 2, ...); writes of any other attempt are ignored from now on. */
  attempt: number;
  /** Which try this is (1, 2, ...): attempts handed back by a draining worker do not count. */
  counted: number;
  /** The worker that ran the attempt before, when this is a retry. */
  previousWorker: string | null;
}

/** Key of the advisory lock migrations run under (any constant shared by all services). */
const MIGRATION_LOCK = 0x66757365; // "fuse"

type Row = Record<string, unknown>;

const USER_SELECT = `SELECT u.id, u.email, u.handle, u.is_admin, u.created_at, t.name AS team
  FROM users u LEFT JOIN teams t ON t.id = u.team_id`;

const TEAM_MEMBERS = "SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.name = $1";

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toUser(row: Row): User {
  return {
    id: String(row.id),
    email: String(row.email),
    handle: String(row.handle),
    team: text(row.team),
    isAdmin: row.is_admin === true,
    createdAt: String(row.created_at),
  };
}

/** The columns of `udfs` that {@linkcode toUdf} reads. */
const UDF_COLUMNS = [
  "id",
  "owner_id",
  "slug",
  "udf_body",
  "udf_type",
  "allow_public_read",
  "allow_public_list",
  "created_at",
  "updated_at",
] as const;

function toUdf(row: Row): UdfRecord {
  return {
    id: String(row.id),
    ownerId: String(row.owner_id),
    slug: String(row.slug),
    udfBody: String(row.udf_body),
    udfType: String(row.udf_type),
    allowPublicRead: row.allow_public_read === true,
    allowPublicList: row.allow_public_list === true,
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

function toShareToken(row: Row): ShareToken {
  return {
    token: String(row.token),
    udfId: String(row.udf_id),
    ownerId: String(row.owner_id),
    clientId: text(row.client_id),
    enabled: row.enabled === true,
    cache: row.cache === true,
    publicRead: row.public_read === true,
    accessScope: text(row.access_scope),
    metadataJson: JSON.parse(String(row.metadata_json)),
    createdAt: String(row.created_at),
    lastUpdated: String(row.last_updated),
  };
}

function toJob(row: Row): JobRecord {
  return {
    id: String(row.id),
    ownerId: String(row.owner_id),
    status: String(row.status) as JobStatus,
    config: JSON.parse(String(row.config_json)),
    logs: String(row.logs),
    error: text(row.error),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
    startedAt: text(row.started_at),
    finishedAt: text(row.finished_at),
    name: text(row.name),
    instanceType: text(row.instance_type),
    process: row.pid === null ? null : { pid: Number(row.pid), startTime: String(row.pid_start) },
    logOffset: Number(row.log_offset ?? 0),
    results: JSON.parse(String(row.results_json ?? "[]")),
  };
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown })?.code === "23505";
}

/** Where a database URL points, without its password (for messages). */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return "the --database URL";
  }
}

/** Options of `PostgresRegistry.open`. */
export interface PostgresRegistryOptions {
  /** Most connections of this process's pool (default 10). */
  max?: number;
}

/** The registry on PostgreSQL (see the module notes). */
export class PostgresRegistry implements Registry {
  readonly #sql: postgres.Sql;
  readonly #where: string;

  private constructor(sql: postgres.Sql, where: string) {
    this.#sql = sql;
    this.#where = where;
  }

  /**
   * Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`), applies pending migrations and
   * warms the pool. Throws a `BackendUnavailableError` naming the server when it cannot be
   * reached or refuses the credentials.
   */
  static async open(url: string, options: PostgresRegistryOptions = {}): Promise<PostgresRegistry> {
    let sql: postgres.Sql;
    try {
      sql = postgres(url, {
        max: options.max ?? 10,
        onnotice: () => {},
        connect_timeout: 10,
      });
    } catch (err) {
      throw new BackendUnavailableError(
        `Cannot read the database URL: ${
          shortMessage(err)
        }; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE`,
      );
    }
    const registry = new PostgresRegistry(sql, describeDatabaseUrl(url));
    try {
      await registry.#guard(() => registry.#migrate());
      // A cold pool opens connections one after another (3 s for 20 queries measured here).
      await registry.#guard(() =>
        Promise.all(Array.from({ length: Math.min(4, options.max ?? 10) }, () => sql`SELECT 1`))
      );
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => {});
      throw err;
    }
    return registry;
  }

  /** The schema version after migrations. */
  async schemaVersion(): Promise<number> {
    const [row] = await this.#sql`SELECT max(version) AS v FROM schema_migrations`;
    return Number(row.v ?? 0);
  }

  async #migrate(): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
      await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`;
      const [row] = await tx`SELECT coalesce(max(version), 0) AS v FROM schema_migrations`;
      for (let version = Number(row.v); version < MIGRATIONS.length; version++) {
        try {
          await tx.unsafe(MIGRATIONS[version]);
        } catch (err) {
          throw new Error(
            `Cannot apply registry migration ${version + 1}: ${shortMessage(err)}`,
          );
        }
        await tx`INSERT INTO schema_migrations (version) VALUES (${version + 1})`;
      }
    });
  }

  /** Runs a query, turning connection and credential failures into one clear error. */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown })?.code;
      if (code === "28P01" || code === "28000") {
        throw new BackendUnavailableError(
          `PostgreSQL at ${this.#where} refused the credentials (${
            shortMessage(err)
          }): fix the user and password in --database or FUSED_DATABASE_URL`,
        );
      }
      if (code === "3D000") {
        throw new BackendUnavailableError(
          `PostgreSQL at ${this.#where}: ${
            shortMessage(err)
          }; create it (createdb) or fix --database`,
        );
      }
      if (isConnectionError(err)) {
        throw new BackendUnavailableError(
          `Cannot reach PostgreSQL at ${this.#where} (${
            shortMessage(err)
          }): check that it runs and that --database or FUSED_DATABASE_URL is right`,
        );
      }
      throw err;
    }
  }

  async #all(query: string, params: unknown[] = []): Promise<Row[]> {
    const run = async () =>
      [...await this.#sql.unsafe(query, params as postgres.ParameterOrJSON<never>[])] as Row[];
    // A read may meet a connection the server closed while it was down: it is safe to repeat,
    // and the pool opens a new connection for the next try. Writes are never repeated.
    for (let attempt = 1; query.startsWith("SELECT") && attempt < 3; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (!isConnectionError(err)) return await this.#guard(() => Promise.reject(err));
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
    return await this.#guard(run);
  }

  async #one(query: string, params: unknown[] = []): Promise<Row | undefined> {
    return (await this.#all(query, params))[0];
  }

  async #count(query: string, params: unknown[] = []): Promise<number> {
    return await this.#guard(async () =>
      (await this.#sql.unsafe(query, params as postgres.ParameterOrJSON<never>[])).count
    );
  }

  /** {@inheritDoc Registry.ping} */
  async ping(): Promise<void> {
    await this.#all("SELECT 1");
  }

  /** {@inheritDoc Registry.createUser} */
  async createUser(user: NewUser): Promise<User> {
    const id = crypto.randomUUID();
    const handle = user.handle ?? user.email.split("@")[0];
    try {
      await this.#guard(() =>
        this.#sql.begin(async (tx) => {
          let teamId: string | null = null;
          if (user.team) {
            // ON CONFLICT: two services creating the same team agree on one row.
            await tx`INSERT INTO teams (id, name, created_at)
              VALUES (${crypto.randomUUID()}, ${user.team}, ${now()})
              ON CONFLICT (name) DO NOTHING`;
            const [team] = await tx`SELECT id FROM teams WHERE name = ${user.team}`;
            teamId = String(team.id);
          }
          await tx`INSERT INTO users (id, email, handle, team_id, is_admin, created_at)
            VALUES (${id}, ${user.email}, ${handle}, ${teamId}, ${
            user.isAdmin ?? false
          }, ${now()})`;
        })
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw userConflict(user.email, handle);
      throw err;
    }
    return (await this.getUser(id))!;
  }

  /** {@inheritDoc Registry.getUser} */
  async getUser(id: string): Promise<User | null> {
    const row = await this.#one(`${USER_SELECT} WHERE u.id = $1`, [id]);
    return row ? toUser(row) : null;
  }

  /** {@inheritDoc Registry.findUserByEmail} */
  async findUserByEmail(email: string): Promise<User | null> {
    const row = await this.#one(`${USER_SELECT} WHERE u.email = $1`, [email]);
    return row ? toUser(row) : null;
  }

  /** {@inheritDoc Registry.findUserByHandle} */
  async findUserByHandle(handle: string): Promise<User | null> {
    const row = await this.#one(`${USER_SELECT} WHERE u.handle = $1`, [handle]);
    return row ? toUser(row) : null;
  }

  /** {@inheritDoc Registry.createApiToken} */
  async createApiToken(userId: string, options: NewApiToken = {}): Promise<IssuedToken> {
    const { id, token, hash } = newApiToken();
    await this.#count(
      `INSERT INTO api_tokens (id, user_id, token_hash, name, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [id, userId, hash, options.name ?? null, now(), options.expiresAt ?? null],
    );
    return { id, token };
  }

  /** {@inheritDoc Registry.listApiTokens} */
  async listApiTokens(userId: string): Promise<ApiTokenInfo[]> {
    const rows = await this.#all(
      "SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id",
      [userId],
    );
    return rows.map(toApiTokenInfo);
  }

  /** {@inheritDoc Registry.revokeApiToken} */
  async revokeApiToken(id: string): Promise<boolean> {
    return await this.#count(
      "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
      [id, now()],
    ) > 0;
  }

  /** {@inheritDoc Registry.authenticate} */
  async authenticate(token: string): Promise<User | null> {
    const id = apiTokenId(token);
    if (!id) return null;
    const row = await this.#one(
      `SELECT a.token_hash, a.expires_at, a.revoked_at, u.id, u.email, u.handle, u.is_admin,
         u.created_at, t.name AS team
       FROM api_tokens a JOIN users u ON u.id = a.user_id LEFT JOIN teams t ON t.id = u.team_id
       WHERE a.id = $1`,
      [id],
    );
    if (!row || !tokenMatches(token, String(row.token_hash)) || !tokenUsable(row)) return null;
    return toUser(row);
  }

  /** {@inheritDoc Registry.createUdf} */
  async createUdf(ownerId: string, fields: UdfFields): Promise<UdfRecord> {
    const time = now();
    try {
      const [row] = await this.#all(
        `INSERT INTO udfs (id, owner_id, slug, udf_body, udf_type, allow_public_read,
           allow_public_list, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         RETURNING *`,
        [
          crypto.randomUUID(),
          ownerId,
          fields.slug,
          fields.udfBody,
          fields.udfType,
          fields.allowPublicRead,
          fields.allowPublicList,
          time,
        ],
      );
      return toUdf(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw slugConflict(fields.slug);
      throw err;
    }
  }

  /** {@inheritDoc Registry.updateUdf} */
  async updateUdf(id: string, fields: UdfFields): Promise<UdfRecord | null> {
    try {
      const row = await this.#one(
        `UPDATE udfs SET slug = $1, udf_body = $2, udf_type = $3, allow_public_read = $4,
           allow_public_list = $5, updated_at = $6 WHERE id = $7 RETURNING *`,
        [
          fields.slug,
          fields.udfBody,
          fields.udfType,
          fields.allowPublicRead,
          fields.allowPublicList,
          now(),
          id,
        ],
      );
      return row ? toUdf(row) : null;
    } catch (err) {
      if (isUniqueViolation(err)) throw slugConflict(fields.slug);
      throw err;
    }
  }

  /** {@inheritDoc Registry.getUdf} */
  async getUdf(id: string): Promise<UdfRecord | null> {
    const row = await this.#one("SELECT * FROM udfs WHERE id = $1", [id]);
    return row ? toUdf(row) : null;
  }

  /** {@inheritDoc Registry.findUdf} */
  async findUdf(ownerId: string, slug: string): Promise<UdfRecord | null> {
    const row = await this.#one("SELECT * FROM udfs WHERE owner_id = $1 AND slug = $2", [
      ownerId,
      slug,
    ]);
    return row ? toUdf(row) : null;
  }

  /** {@inheritDoc Registry.findTeamUdf} */
  async findTeamUdf(team: string, slug: string): Promise<UdfRecord | null> {
    const row = await this.#one(
      `SELECT * FROM udfs WHERE owner_id IN (${TEAM_MEMBERS}) AND slug = $2
       ORDER BY updated_at DESC LIMIT 1`,
      [team, slug],
    );
    return row ? toUdf(row) : null;
  }

  /** {@inheritDoc Registry.findPublicUdf} */
  async findPublicUdf(slug: string): Promise<UdfRecord | null> {
    const row = await this.#one(
      `SELECT * FROM udfs WHERE slug = $1 AND allow_public_list
       ORDER BY updated_at DESC LIMIT 1`,
      [slug],
    );
    return row ? toUdf(row) : null;
  }

  /** {@inheritDoc Registry.listUdfs} */
  async listUdfs(scope: UdfScope, options: ListOptions = {}): Promise<UdfRecord[]> {
    const order = SORT_SQL[options.sort ?? "name"];
    const limit = options.limit ?? 100;
    const skip = options.skip ?? 0;
    let rows: Row[];
    if (scope.kind === "owner") {
      rows = await this.#all(
        `SELECT * FROM udfs WHERE owner_id = $1 ORDER BY ${order} LIMIT $2 OFFSET $3`,
        [scope.ownerId, limit, skip],
      );
    } else if (scope.kind === "team") {
      rows = await this.#all(
        `SELECT * FROM udfs WHERE owner_id IN (${TEAM_MEMBERS})
         ORDER BY ${order} LIMIT $2 OFFSET $3`,
        [scope.team, limit, skip],
      );
    } else {
      rows = await this.#all(
        `SELECT * FROM udfs WHERE allow_public_list ORDER BY ${order} LIMIT $1 OFFSET $2`,
        [limit, skip],
      );
    }
    return rows.map(toUdf);
  }

  /** {@inheritDoc Registry.deleteUdf} */
  async deleteUdf(id: string): Promise<boolean> {
    return await this.#count("DELETE FROM udfs WHERE id = $1", [id]) > 0;
  }

  /** {@inheritDoc Registry.createShareToken} */
  async createShareToken(
    udfId: string,
    ownerId: string,
    fields: ShareTokenFields = {},
  ): Promise<ShareToken> {
    const time = now();
    const [row] = await this.#all(
      `INSERT INTO share_tokens (token, udf_id, owner_id, client_id, enabled, cache, public_read,
         access_scope, metadata_json, created_at, last_updated)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *`,
      [
        newShareToken(),
        udfId,
        ownerId,
        fields.clientId ?? null,
        fields.enabled ?? true,
        fields.cache ?? true,
        fields.publicRead ?? false,
        fields.accessScope ?? null,
        JSON.stringify(fields.metadataJson ?? {}),
        time,
      ],
    );
    return toShareToken(row);
  }

  /** {@inheritDoc Registry.getShareToken} */
  async getShareToken(token: string): Promise<ShareToken | null> {
    const row = await this.#one("SELECT * FROM share_tokens WHERE token = $1", [token]);
    return row ? toShareToken(row) : null;
  }

  /** {@inheritDoc Registry.getShareTokenUdf} */
  async getShareTokenUdf(
    token: string,
  ): Promise<{ token: ShareToken; udf: UdfRecord | null } | null> {
    const row = await this.#one(
      `SELECT t.*, ${UDF_COLUMNS.map((c) => `u.${c} AS u_${c}`).join(", ")}
       FROM share_tokens t LEFT JOIN udfs u ON u.id = t.udf_id WHERE t.token = $1`,
      [token],
    );
    if (!row) return null;
    const udfRow: Row = {};
    for (const c of UDF_COLUMNS) udfRow[c] = row[`u_${c}`];
    return { token: toShareToken(row), udf: udfRow.id == null ? null : toUdf(udfRow) };
  }

  /** {@inheritDoc Registry.listShareTokens} */
  async listShareTokens(ownerId: string, options: ListOptions = {}): Promise<ShareToken[]> {
    const rows = await this.#all(
      `SELECT * FROM share_tokens WHERE owner_id = $1 ORDER BY created_at, token
       LIMIT $2 OFFSET $3`,
      [ownerId, options.limit ?? 100, options.skip ?? 0],
    );
    return rows.map(toShareToken);
  }

  /** {@inheritDoc Registry.updateShareToken} */
  async updateShareToken(token: string, fields: ShareTokenFields): Promise<ShareToken | null> {
    // Locked read, merge, write: two concurrent partial updates both land.
    const row = await this.#guard(() =>
      this.#sql.begin(async (tx) => {
        const [current] = await tx`SELECT * FROM share_tokens WHERE token = ${token} FOR UPDATE`;
        if (!current) return undefined;
        const next = { ...toShareToken(current), ...definedOnly(fields) };
        const [updated] = await tx`UPDATE share_tokens SET client_id = ${next.clientId},
            enabled = ${next.enabled}, cache = ${next.cache}, public_read = ${next.publicRead},
            access_scope = ${next.accessScope}, metadata_json = ${
          JSON.stringify(next.metadataJson)
        },
            last_updated = ${now()}
          WHERE token = ${token} RETURNING *`;
        return updated;
      })
    );
    return row ? toShareToken(row) : null;
  }

  /** {@inheritDoc Registry.deleteShareToken} */
  async deleteShareToken(token: string): Promise<ShareToken | null> {
    const row = await this.#one("DELETE FROM share_tokens WHERE token = $1 RETURNING *", [token]);
    return row ? toShareToken(row) : null;
  }

  /** {@inheritDoc Registry.createJob} */
  async createJob(ownerId: string, config: unknown, fields: NewJobFields = {}): Promise<JobRecord> {
    const id = crypto.randomUUID();
    const key = fields.idempotencyKey ?? null;
    try {
      await this.#count(jobInsert(), jobValues(id, ownerId, config, fields));
    } catch (err) {
      if (key !== null && isUniqueViolation(err)) throw jobKeyConflict(key);
      throw err;
    }
    return (await this.getJob(id))!;
  }

  /**
   * Records a job with its first log lines and hands it to `enqueue` (pg-boss's `send` through
   * the `db` given), all in one statement: the job's row and lines go in front of the queue's
   * insert (`withQueuedJob`), so a database that goes away at any point leaves no job behind and
   * a submit that failed never runs later. ConflictError on a repeated idempotency key (its unique
   * index fails the whole statement, the queue entry with it).
   *
   * One statement, not BEGIN, two inserts and COMMIT in a pipeline: PostgreSQL parses, binds,
   * executes and answers one message instead of four, and the service reads one answer on a
   * connection it need not reserve. It is a named prepared statement, which PostgreSQL does not
   * parse and plan again on a connection that ran it before. The answer is the pending job as
   * written, built here from the values sent (the statement answers the queue's insert).
   */
  async createQueuedJob(
    ownerId: string,
    job: { config: unknown; fields: NewJobFields; firstLines: string[] },
    enqueue: (db: SqlExecutor, id: string) => Promise<unknown>,
  ): Promise<JobRecord> {
    const id = crypto.randomUUID();
    const key = job.fields.idempotencyKey ?? null;
    const values = jobValues(id, ownerId, job.config, job.fields);
    // Strictly increasing times, as appendJobLogLines keeps them.
    const start = Date.now();
    const times = job.firstLines.map((_, i) => start + i);
    let sent = false;
    try {
      await this.#guard(() =>
        enqueue({
          executeSql: async (text, params = []) => {
            if (sent) throw new Error("A job's queue entry is one statement");
            sent = true;
            const rows = await this.#sql.unsafe(
              withQueuedJob(text, params.length),
              [...params, ...values, times, job.firstLines] as postgres.ParameterOrJSON<never>[],
              { prepare: true },
            );
            return { rows: [...rows] };
          },
        }, id)
      );
    } catch (err) {
      if (key !== null && isUniqueViolation(err)) throw jobKeyConflict(key);
      throw err;
    }
    if (!sent) {
      throw new Error(`The job queue wrote no entry for job ${id}, so it was not recorded either`);
    }
    const [, , configJson, createdAt, name, instanceType] = values;
    return toJob({
      id,
      owner_id: ownerId,
      status: "pending",
      config_json: configJson,
      logs: "",
      error: null,
      created_at: createdAt,
      updated_at: createdAt,
      started_at: null,
      finished_at: null,
      name,
      instance_type: instanceType,
      pid: null,
      log_offset: 0,
      results_json: "[]",
    });
  }

  /** {@inheritDoc Registry.findJobByIdempotencyKey} */
  async findJobByIdempotencyKey(ownerId: string, key: string): Promise<JobRecord | null> {
    const row = await this.#one(
      "SELECT * FROM jobs WHERE owner_id = $1 AND idempotency_key = $2",
      [ownerId, key],
    );
    return row ? toJob(row) : null;
  }

  /** {@inheritDoc Registry.getJob} */
  async getJob(id: string): Promise<JobRecord | null> {
    const row = await this.#one("SELECT * FROM jobs WHERE id = $1", [id]);
    return row ? toJob(row) : null;
  }

  /** {@inheritDoc Registry.listJobs} */
  async listJobs(ownerId: string, options: ListOptions = {}): Promise<JobRecord[]> {
    const rows = await this.#all(
      "SELECT * FROM jobs WHERE owner_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
      [ownerId, options.limit ?? 100, options.skip ?? 0],
    );
    return rows.map(toJob);
  }

  /** {@inheritDoc Registry.setJobStatus} */
  async setJobStatus(
    id: string,
    status: JobStatus,
    error: string | null = null,
    options: { from?: JobStatus[]; at?: string } = {},
  ): Promise<JobRecord | null> {
    const time = options.at ?? now();
    const finished = status === "succeeded" || status === "failed" || status === "cancelled";
    const from = options.from ?? [];
    // One statement: the check of the current status and the change cannot interleave.
    const row = await this.#one(
      `UPDATE jobs SET status = $1, error = $2, updated_at = $3,
         started_at = CASE WHEN $4 AND started_at IS NULL THEN $3 ELSE started_at END,
         finished_at = CASE WHEN $5 THEN $3 ELSE finished_at END
       WHERE id = $6 AND (cardinality($7::text[]) = 0 OR status = ANY($7::text[]))
       RETURNING *`,
      [status, error, time, status === "running", finished, id, from],
    );
    return row ? toJob(row) : null;
  }

  /** {@inheritDoc Registry.appendJobLogs} */
  async appendJobLogs(id: string, text: string): Promise<void> {
    await this.#count("UPDATE jobs SET logs = logs || $1, updated_at = $2 WHERE id = $3", [
      text,
      now(),
      id,
    ]);
  }

  /** {@inheritDoc Registry.listJobsWithStatus} */
  async listJobsWithStatus(statuses: JobStatus[]): Promise<JobRecord[]> {
    const rows = await this.#all(
      "SELECT * FROM jobs WHERE status = ANY($1::text[]) ORDER BY created_at, id",
      [statuses],
    );
    return rows.map(toJob);
  }

  /** {@inheritDoc Registry.setJobProcess} */
  async setJobProcess(id: string, process: JobProcess | null): Promise<void> {
    await this.#count("UPDATE jobs SET pid = $1, pid_start = $2, updated_at = $3 WHERE id = $4", [
      process?.pid ?? null,
      process?.startTime ?? null,
      now(),
      id,
    ]);
  }

  /** {@inheritDoc Registry.setJobResults} */
  async setJobResults(id: string, results: JobResultFile[]): Promise<void> {
    await this.#count("UPDATE jobs SET results_json = $1, updated_at = $2 WHERE id = $3", [
      JSON.stringify(results),
      now(),
      id,
    ]);
  }

  /**
   * {@inheritDoc Registry.appendJobLogLines}
   *
   * Several processes may write one job's lines (the service that queued it, the worker that
   * runs it): the job's row is locked and each time raised past the job's last one, so times stay
   * strictly increasing in the order the lines were stored. With `attempt`, the lines are
   * kept only while that attempt is the job's current one.
   */
  async appendJobLogLines(
    id: string,
    lines: JobLogLine[],
    logOffset?: number,
    attempt?: number,
  ): Promise<void> {
    await this.#guard(() =>
      this.#sql.begin(async (tx) => {
        const [job] = await tx`SELECT attempt FROM jobs WHERE id = ${id} FOR UPDATE`;
        // A worker's lines are fenced by its attempt: a stale worker's lines are dropped.
        if (!job || (attempt !== undefined && Number(job.attempt) !== attempt)) return;
        const [last] = await tx`SELECT coalesce(max(timestamp), 0) AS t FROM job_logs
          WHERE job_id = ${id}`;
        let time = Number(last.t);
        const rows = lines.map((line) => {
          time = Math.max(line.timestamp, time + 1);
          return { job_id: id, timestamp: time, message: line.message };
        });
        if (rows.length > 0) {
          await tx`INSERT INTO job_logs ${tx(rows, "job_id", "timestamp", "message")}`;
        }
        if (logOffset !== undefined) {
          await tx`UPDATE jobs SET log_offset = ${logOffset} WHERE id = ${id}`;
        }
      })
    );
  }

  /** {@inheritDoc Registry.getJobLogs} */
  async getJobLogs(id: string, options: { sinceMs?: number } = {}): Promise<JobLogLine[]> {
    const rows = await this.#all(
      "SELECT timestamp, message FROM job_logs WHERE job_id = $1 AND timestamp > $2 ORDER BY seq",
      [id, options.sinceMs ?? -1],
    );
    return rows.map((r) => ({ timestamp: Number(r.timestamp), message: String(r.message) }));
  }

  /**
   * Claims a pending job (or a running one whose worker was lost) for `worker`: the attempt number
   * goes up, and with it the fence of every later write. Null when the job is gone or finished.
   */
  async claimJob(id: string, worker: string): Promise<JobClaim | null> {
    const time = now();
    const rows = await this.#all(
      `UPDATE jobs j SET status = 'running', attempt = j.attempt + 1, worker = $2, updated_at = $3,
         started_at = coalesce(j.started_at, $3)
       FROM (SELECT id, worker AS previous FROM jobs WHERE id = $1 FOR UPDATE) old
       WHERE j.id = old.id AND j.status IN ('pending', 'running')
       RETURNING j.*, old.previous`,
      [id, worker, time],
    );
    if (!rows[0]) return null;
    return {
      job: toJob(rows[0]),
      attempt: Number(rows[0].attempt),
      counted: Number(rows[0].attempt) - Number(rows[0].released_attempts),
      previousWorker: text(rows[0].previous),
    };
  }

  /** The current attempt of a job and whether a cancel was asked for (null when gone). */
  async jobAttempt(id: string): Promise<{ attempt: number; cancelRequested: boolean } | null> {
    const row = await this.#one("SELECT attempt, cancel_requested FROM jobs WHERE id = $1", [id]);
    return row
      ? { attempt: Number(row.attempt), cancelRequested: row.cancel_requested === true }
      : null;
  }

  /**
   * Ends an attempt: results and final status in one statement, only while `attempt` is still the
   * job's current one and it runs (a stale worker's outcome is dropped), and a NOTIFY of the job's
   * id on `channel` (a cancel waits for it). The job, or null.
   */
  async finishJobAttempt(
    id: string,
    attempt: number,
    outcome: { status: JobStatus; error: string | null; results: JobResultFile[]; channel: string },
  ): Promise<JobRecord | null> {
    const time = now();
    const row = await this.#one(
      `WITH ended AS (UPDATE jobs SET status = $1, error = $2, results_json = $3, updated_at = $4,
         finished_at = $4
       WHERE id = $5 AND attempt = $6 AND status = 'running' RETURNING *)
       SELECT ended.*, pg_notify($7, ended.id) FROM ended`,
      [
        outcome.status,
        outcome.error,
        JSON.stringify(outcome.results),
        time,
        id,
        attempt,
        outcome.channel,
      ],
    );
    return row ? toJob(row) : null;
  }

  /** {@inheritDoc Registry.listJobsFinishedBefore} */
  async listJobsFinishedBefore(before: string, limit: number): Promise<JobRecord[]> {
    const rows = await this.#all(
      `SELECT * FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1
       ORDER BY finished_at LIMIT $2`,
      [before, limit],
    );
    return rows.map(toJob);
  }

  /** How many jobs there are in each status (the statuses with none left out). */
  async countJobsByStatus(): Promise<Record<string, number>> {
    const rows = await this.#all("SELECT status, count(*) AS n FROM jobs GROUP BY status");
    return Object.fromEntries(rows.map((r) => [String(r.status), Number(r.n)]));
  }

  /** {@inheritDoc Registry.deleteJob} */
  async deleteJob(id: string): Promise<boolean> {
    return await this.#count("DELETE FROM jobs WHERE id = $1", [id]) > 0;
  }

  /**
   * Hands a running attempt back to the queue without counting it as a try (a worker that shuts
   * down past its drain timeout): the job is pending again. The tries used so far (this one not
   * among them), or null when the attempt is no longer the job's current one.
   */
  async releaseJobAttempt(id: string, attempt: number): Promise<number | null> {
    const row = await this.#one(
      `UPDATE jobs SET status = 'pending', released_attempts = released_attempts + 1,
         updated_at = $3
       WHERE id = $1 AND attempt = $2 AND status = 'running'
       RETURNING attempt - released_attempts AS used`,
      [id, attempt, now()],
    );
    return row ? Number(row.used) : null;
  }

  /**
   * Asks the worker running a job to stop it: sets the flag a worker checks, and notifies
   * `channel` so the worker hears it at once. False when the job is not running.
   */
  async requestCancel(id: string, channel: string): Promise<boolean> {
    return await this.#guard(() =>
      this.#sql.begin(async (tx) => {
        const rows = await tx`UPDATE jobs SET cancel_requested = true, updated_at = ${now()}
          WHERE id = ${id} AND status = 'running' RETURNING id`;
        if (rows.length > 0) await tx`SELECT pg_notify(${channel}, ${id})`;
        return rows.length > 0;
      })
    );
  }

  /**
   * Refills the rate-limit bucket of `key` to `now` and takes a token when there is one, in one
   * statement (so services taking at once never both take the last one).
   */
  async takeRateToken(
    key: string,
    bucket: { perMs: number; burst: number; now: number },
  ): Promise<{ allowed: boolean; tokens: number }> {
    // Every right-hand side reads the row as it was: refill, then take one when there is one.
    const [row] = await this.#all(
      `INSERT INTO rate_limits AS r (key, tokens, at, allowed)
         VALUES ($1, $3::float8 - 1, $4, $3::float8 >= 1)
       ON CONFLICT (key) DO UPDATE SET
         allowed = LEAST($3::float8, r.tokens + ($4 - r.at) * $2::float8) >= 1,
         tokens = LEAST($3::float8, r.tokens + ($4 - r.at) * $2::float8) -
           CASE WHEN LEAST($3::float8, r.tokens + ($4 - r.at) * $2::float8) >= 1 THEN 1 ELSE 0 END,
         at = $4
       RETURNING tokens, allowed`,
      [key, bucket.perMs, bucket.burst, bucket.now],
    );
    return { allowed: row.allowed === true, tokens: Number(row.tokens) };
  }

  /** Drops the rate-limit buckets last used before `before` (ms since the epoch). */
  async forgetRateBuckets(before: number): Promise<void> {
    await this.#count("DELETE FROM rate_limits WHERE at < $1", [before]);
  }

  /** Sends a notification on `channel` to every process listening on this database. */
  async notify(channel: string, payload: string): Promise<void> {
    await this.#all("SELECT pg_notify($1, $2)", [channel, payload]);
  }

  /**
   * Calls `onMessage` with the payload of every notification on `channel` (the client listens
   * again by itself after a reconnect), and `onListen` each time listening (re)starts: what was
   * notified while the connection was lost is not told again. Resolves once listening; the result
   * stops it.
   */
  async listen(
    channel: string,
    onMessage: (payload: string) => void,
    onListen?: () => void,
  ): Promise<() => Promise<void>> {
    const { unlisten } = await this.#guard(() => this.#sql.listen(channel, onMessage, onListen));
    return unlisten;
  }

  /** {@inheritDoc Registry.putSetting} */
  async putSetting(key: string, value: string): Promise<void> {
    await this.#count(
      "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
      [key, value],
    );
  }

  /** {@inheritDoc Registry.recordFile} */
  async recordFile(key: string, userId: string, size: number): Promise<void> {
    await this.#count(
      `INSERT INTO fd_files (key, user_id, size) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET user_id = EXCLUDED.user_id, size = EXCLUDED.size`,
      [key, userId, size],
    );
  }

  /** {@inheritDoc Registry.forgetFiles} */
  async forgetFiles(key: string): Promise<void> {
    await this.#count("DELETE FROM fd_files WHERE key = $1 OR starts_with(key, $2)", [
      key,
      `${key}/`,
    ]);
  }

  /** {@inheritDoc Registry.storedBytes} */
  async storedBytes(userId: string, except = ""): Promise<number> {
    const row = await this.#one(
      "SELECT coalesce(sum(size), 0) AS n FROM fd_files WHERE user_id = $1 AND key <> $2",
      [userId, except],
    );
    return Number(row?.n ?? 0);
  }

  /** {@inheritDoc Registry.getOrCreateSetting} */
  async getOrCreateSetting(key: string, create: () => string): Promise<string> {
    const row = await this.#one("SELECT value FROM settings WHERE key = $1", [key]);
    if (row) return String(row.value);
    // ON CONFLICT then re-read, so services starting together agree on one value.
    await this.#count(
      "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
      [key, create()],
    );
    return String((await this.#one("SELECT value FROM settings WHERE key = $1", [key]))!.value);
  }

  /** {@inheritDoc Registry.savePage} */
  async savePage(
    ownerId: string,
    fields: PageFields,
  ): Promise<{ page: PageSummary; previous: PageSummary | null }> {
    // Locked read, then upsert: two publishes of one name never both see "no previous page".
    return await this.#guard(() =>
      this.#sql.begin(async (tx) => {
        const [before] = await tx.unsafe(
          `SELECT ${PAGE_SUMMARY_COLUMNS} FROM pages WHERE owner_id = $1 AND name = $2 FOR UPDATE`,
          [ownerId, fields.name],
        );
        const time = now();
        const [row] = await tx.unsafe(
          `INSERT INTO pages (owner_id, name, notebook, layers_json, size_bytes, html_gzip,
             created_at, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
           ON CONFLICT (owner_id, name) DO UPDATE SET notebook = excluded.notebook,
             layers_json = excluded.layers_json, size_bytes = excluded.size_bytes,
             html_gzip = excluded.html_gzip, published_at = excluded.published_at
           RETURNING ${PAGE_SUMMARY_COLUMNS}`,
          [
            ownerId,
            fields.name,
            fields.notebook,
            JSON.stringify(fields.layers),
            fields.sizeBytes,
            Buffer.from(fields.htmlGzip),
            time,
          ],
        );
        return { page: toPageSummary(row), previous: before ? toPageSummary(before) : null };
      })
    );
  }

  /** {@inheritDoc Registry.getPage} */
  async getPage(ownerId: string, name: string): Promise<Page | null> {
    const row = await this.#one("SELECT * FROM pages WHERE owner_id = $1 AND name = $2", [
      ownerId,
      name,
    ]);
    return row
      ? { ...toPageSummary(row), htmlGzip: new Uint8Array(row.html_gzip as Uint8Array) }
      : null;
  }

  /** {@inheritDoc Registry.listPages} */
  async listPages(ownerId: string, options: ListOptions = {}): Promise<PageSummary[]> {
    const rows = await this.#all(
      `SELECT ${PAGE_SUMMARY_COLUMNS} FROM pages WHERE owner_id = $1
       ORDER BY published_at DESC, name LIMIT $2 OFFSET $3`,
      [ownerId, options.limit ?? 100, options.skip ?? 0],
    );
    return rows.map(toPageSummary);
  }

  /** {@inheritDoc Registry.deletePage} */
  async deletePage(ownerId: string, name: string): Promise<PageSummary | null> {
    const row = await this.#one(
      `DELETE FROM pages WHERE owner_id = $1 AND name = $2 RETURNING ${PAGE_SUMMARY_COLUMNS}`,
      [ownerId, name],
    );
    return row ? toPageSummary(row) : null;
  }

  /** {@inheritDoc Registry.close} */
  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}

/**
 * The embedded registry on SQLite (`node:sqlite`) in WAL mode: one file in the service's data
 * folder, numbered migrations applied on open (`PRAGMA user_version`).
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
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
     team_id TEXT REFERENCES teams(id), is_admin INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL);
   CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     token_hash TEXT NOT NULL, name TEXT, created_at TEXT NOT NULL);
   CREATE TABLE udfs (
     id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id), slug TEXT NOT NULL,
     udf_body TEXT NOT NULL, udf_type TEXT NOT NULL,
     allow_public_read INTEGER NOT NULL DEFAULT 0, allow_public_list INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, UNIQUE (owner_id, slug));
   CREATE TABLE share_tokens (
     token TEXT PRIMARY KEY, udf_id TEXT NOT NULL REFERENCES udfs(id) ON DELETE CASCADE,
     owner_id TEXT NOT NULL REFERENCES users(id), client_id TEXT,
     enabled INTEGER NOT NULL DEFAULT 1, cache INTEGER NOT NULL DEFAULT 1,
     public_read INTEGER NOT NULL DEFAULT 0, access_scope TEXT,
     metadata_json TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL,
     last_updated TEXT NOT NULL);
   CREATE INDEX share_tokens_owner ON share_tokens (owner_id, created_at);
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES users(id), status TEXT NOT NULL,
     config_json TEXT NOT NULL DEFAULT '{}', logs TEXT NOT NULL DEFAULT '', error TEXT,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, started_at TEXT, finished_at TEXT);
   CREATE INDEX jobs_owner ON jobs (owner_id, created_at);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Batch jobs run in their own processes: their pid, output offset, results and log lines.
  `ALTER TABLE jobs ADD COLUMN name TEXT;
   ALTER TABLE jobs ADD COLUMN instance_type TEXT;
   ALTER TABLE jobs ADD COLUMN pid INTEGER;
   ALTER TABLE jobs ADD COLUMN pid_start TEXT;
   ALTER TABLE jobs ADD COLUMN log_offset INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE jobs ADD COLUMN results_json TEXT NOT NULL DEFAULT '[]';
   CREATE INDEX jobs_status ON jobs (status, created_at);
   CREATE TABLE job_logs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
     timestamp INTEGER NOT NULL, message TEXT NOT NULL);
   CREATE INDEX job_logs_job ON job_logs (job_id, timestamp);`,
  // Published notebook pages (`fused publish`): the HTML gzip'd, the share tokens of its layers.
  `CREATE TABLE pages (
     owner_id TEXT NOT NULL REFERENCES users(id), name TEXT NOT NULL, notebook TEXT NOT NULL,
     layers_json TEXT NOT NULL DEFAULT '[]', size_bytes INTEGER NOT NULL, html_gzip BLOB NOT NULL,
     created_at TEXT NOT NULL, published_at TEXT NOT NULL, PRIMARY KEY (owner_id, name));`,
  // A client's key of a submission, so a retried submit answers the first job; API tokens that
  // expire or are revoked.
  `ALTER TABLE jobs ADD COLUMN idempotency_key TEXT;
   CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner_id, idempotency_key);
   ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
   ALTER TABLE api_tokens ADD COLUMN revoked_at TEXT;`,
  // Who wrote each fd:// file and its size: a user's share of the store, for their disk quota.
  `CREATE TABLE fd_files (key TEXT PRIMARY KEY, user_id TEXT NOT NULL, size INTEGER NOT NULL);
   CREATE INDEX fd_files_user ON fd_files (user_id, size);`,
];

type Row = Record<string, SQLInputValue>;

const USER_SELECT = `SELECT u.id, u.email, u.handle, u.is_admin, u.created_at, t.name AS team
  FROM users u LEFT JOIN teams t ON t.id = u.team_id`;

const TEAM_MEMBERS = "SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.name = ?";

function toUser(row: Row): User {
  return {
    id: String(row.id),
    email: String(row.email),
    handle: String(row.handle),
    team: row.team === null || row.team === undefined ? null : String(row.team),
    isAdmin: Number(row.is_admin) === 1,
    createdAt: String(row.created_at),
  };
}

function toUdf(row: Row): UdfRecord {
  return {
    id: String(row.id),
    ownerId: String(row.owner_id),
    slug: String(row.slug),
    udfBody: String(row.udf_body),
    udfType: String(row.udf_type),
    allowPublicRead: Number(row.allow_public_read) === 1,
    allowPublicList: Number(row.allow_public_list) === 1,
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

function toShareToken(row: Row): ShareToken {
  return {
    token: String(row.token),
    udfId: String(row.udf_id),
    ownerId: String(row.owner_id),
    clientId: row.client_id === null ? null : String(row.client_id),
    enabled: Number(row.enabled) === 1,
    cache: Number(row.cache) === 1,
    publicRead: Number(row.public_read) === 1,
    accessScope: row.access_scope === null ? null : String(row.access_scope),
    metadataJson: JSON.parse(String(row.metadata_json)),
    createdAt: String(row.created_at),
    lastUpdated: String(row.last_updated),
  };
}

function toJob(row: Row): JobRecord {
  const text = (v: SQLInputValue): string | null => (v === null ? null : String(v));
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
    process: row.pid === null
      ? null
      : { pid: Number(row.pid), startTime: String(row.pid_start ?? "") },
    logOffset: Number(row.log_offset ?? 0),
    results: JSON.parse(String(row.results_json ?? "[]")),
  };
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && /UNIQUE constraint failed/i.test(err.message);
}

const bool = (v: boolean): number => (v ? 1 : 0);

/** The registry on SQLite (`node:sqlite`), one file in the server's data folder. */
export class SqliteRegistry implements Registry {
  readonly #db: DatabaseSync;

  /** Opens (creating and migrating) the database at `path` (`:memory:` works too). */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    // WAL lets readers run while a save writes; busy_timeout covers a second process on the file.
    this.#db.exec(
      "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
    );
    this.#migrate();
  }

  /** The schema version after migrations. */
  get schemaVersion(): number {
    const row = this.#db.prepare("PRAGMA user_version").get() as Row;
    return Number(row.user_version);
  }

  #migrate(): void {
    let version = this.schemaVersion;
    while (version < MIGRATIONS.length) {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        this.#db.exec(MIGRATIONS[version]);
        version += 1;
        this.#db.exec(`PRAGMA user_version = ${version}`);
        this.#db.exec("COMMIT");
      } catch (err) {
        this.#db.exec("ROLLBACK");
        throw new Error(
          `Cannot apply registry migration ${version + 1}: ${(err as Error).message}`,
        );
      }
    }
  }

  // Statements are prepared once: preparing on every call was a third of a cached token run.
  readonly #statements = new Map<string, StatementSync>();

  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * Reads of UDFs and share tokens, the two lookups of every token run, are kept for a second:
   * they were a fifth of a cached token answer. Any write here clears them; another process on
   * the same file sees a change at most a second late.
   */
  readonly #reads = new Map<string, { value: unknown; at: number }>();

  #memo<T>(key: string, read: () => T): T {
    const now = performance.now();
    const hit = this.#reads.get(key);
    if (hit && now - hit.at < 1000) return hit.value as T;
    const value = read();
    if (this.#reads.size > 10_000) this.#reads.clear();
    this.#reads.set(key, { value, at: now });
    return value;
  }

  #get(sql: string, ...args: SQLInputValue[]): Row | undefined {
    return this.#prepare(sql).get(...args) as Row | undefined;
  }

  #all(sql: string, ...args: SQLInputValue[]): Row[] {
    return this.#prepare(sql).all(...args) as Row[];
  }

  #run(sql: string, ...args: SQLInputValue[]): number {
    this.#reads.clear();
    return Number(this.#prepare(sql).run(...args).changes);
  }

  #teamId(name: string): string {
    const row = this.#get("SELECT id FROM teams WHERE name = ?", name);
    if (row) return String(row.id);
    const id = crypto.randomUUID();
    this.#run("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", id, name, now());
    return id;
  }

  /** {@inheritDoc Registry.createUser} */
  createUser(user: NewUser): Promise<User> {
    const id = crypto.randomUUID();
    const handle = user.handle ?? user.email.split("@")[0];
    try {
      const teamId = user.team ? this.#teamId(user.team) : null;
      this.#run(
        "INSERT INTO users (id, email, handle, team_id, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        id,
        user.email,
        handle,
        teamId,
        bool(user.isAdmin ?? false),
        now(),
      );
    } catch (err) {
      if (isUniqueViolation(err)) {
        return Promise.reject(userConflict(user.email, handle));
      }
      throw err;
    }
    return this.getUser(id) as Promise<User>;
  }

  /** {@inheritDoc Registry.getUser} */
  getUser(id: string): Promise<User | null> {
    const row = this.#get(`${USER_SELECT} WHERE u.id = ?`, id);
    return Promise.resolve(row ? toUser(row) : null);
  }

  /** {@inheritDoc Registry.findUserByEmail} */
  findUserByEmail(email: string): Promise<User | null> {
    const row = this.#get(`${USER_SELECT} WHERE u.email = ?`, email);
    return Promise.resolve(row ? toUser(row) : null);
  }

  /** {@inheritDoc Registry.findUserByHandle} */
  findUserByHandle(handle: string): Promise<User | null> {
    const row = this.#get(`${USER_SELECT} WHERE u.handle = ?`, handle);
    return Promise.resolve(row ? toUser(row) : null);
  }

  /** {@inheritDoc Registry.ping} */
  ping(): Promise<void> {
    this.#get("SELECT 1");
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.createApiToken} */
  createApiToken(userId: string, options: NewApiToken = {}): Promise<IssuedToken> {
    const { id, token, hash } = newApiToken();
    this.#run(
      `INSERT INTO api_tokens (id, user_id, token_hash, name, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
      id,
      userId,
      hash,
      options.name ?? null,
      now(),
      options.expiresAt ?? null,
    );
    return Promise.resolve({ id, token });
  }

  /** {@inheritDoc Registry.listApiTokens} */
  listApiTokens(userId: string): Promise<ApiTokenInfo[]> {
    const rows = this.#all(
      "SELECT * FROM api_tokens WHERE user_id = ? ORDER BY created_at, id",
      userId,
    );
    return Promise.resolve(rows.map(toApiTokenInfo));
  }

  /** {@inheritDoc Registry.revokeApiToken} */
  revokeApiToken(id: string): Promise<boolean> {
    const changed = this.#run(
      "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
      now(),
      id,
    );
    return Promise.resolve(changed > 0);
  }

  /** {@inheritDoc Registry.authenticate} */
  async authenticate(token: string): Promise<User | null> {
    const id = apiTokenId(token);
    if (!id) return null;
    const row = this.#get("SELECT * FROM api_tokens WHERE id = ?", id);
    if (!row || !tokenMatches(token, String(row.token_hash)) || !tokenUsable(row)) return null;
    return await this.getUser(String(row.user_id));
  }

  /** {@inheritDoc Registry.createUdf} */
  createUdf(ownerId: string, fields: UdfFields): Promise<UdfRecord> {
    const id = crypto.randomUUID();
    const time = now();
    try {
      this.#run(
        `INSERT INTO udfs (id, owner_id, slug, udf_body, udf_type, allow_public_read,
           allow_public_list, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        id,
        ownerId,
        fields.slug,
        fields.udfBody,
        fields.udfType,
        bool(fields.allowPublicRead),
        bool(fields.allowPublicList),
        time,
        time,
      );
    } catch (err) {
      if (isUniqueViolation(err)) return Promise.reject(slugConflict(fields.slug));
      throw err;
    }
    return this.getUdf(id) as Promise<UdfRecord>;
  }

  /** {@inheritDoc Registry.updateUdf} */
  updateUdf(id: string, fields: UdfFields): Promise<UdfRecord | null> {
    let changes: number;
    try {
      changes = this.#run(
        `UPDATE udfs SET slug = ?, udf_body = ?, udf_type = ?, allow_public_read = ?,
           allow_public_list = ?, updated_at = ? WHERE id = ?`,
        fields.slug,
        fields.udfBody,
        fields.udfType,
        bool(fields.allowPublicRead),
        bool(fields.allowPublicList),
        now(),
        id,
      );
    } catch (err) {
      if (isUniqueViolation(err)) return Promise.reject(slugConflict(fields.slug));
      throw err;
    }
    return changes === 0 ? Promise.resolve(null) : this.getUdf(id);
  }

  /** {@inheritDoc Registry.getUdf} */
  getUdf(id: string): Promise<UdfRecord | null> {
    return Promise.resolve(this.#udf(id));
  }

  #udf(id: string): UdfRecord | null {
    return this.#memo(`udf:${id}`, () => {
      const row = this.#get("SELECT * FROM udfs WHERE id = ?", id);
      return row ? toUdf(row) : null;
    });
  }

  /** {@inheritDoc Registry.findUdf} */
  findUdf(ownerId: string, slug: string): Promise<UdfRecord | null> {
    const row = this.#get("SELECT * FROM udfs WHERE owner_id = ? AND slug = ?", ownerId, slug);
    return Promise.resolve(row ? toUdf(row) : null);
  }

  /** {@inheritDoc Registry.findTeamUdf} */
  findTeamUdf(team: string, slug: string): Promise<UdfRecord | null> {
    const row = this.#get(
      `SELECT * FROM udfs WHERE owner_id IN (${TEAM_MEMBERS}) AND slug = ?
       ORDER BY updated_at DESC LIMIT 1`,
      team,
      slug,
    );
    return Promise.resolve(row ? toUdf(row) : null);
  }

  /** {@inheritDoc Registry.findPublicUdf} */
  findPublicUdf(slug: string): Promise<UdfRecord | null> {
    const row = this.#get(
      "SELECT * FROM udfs WHERE slug = ? AND allow_public_list = 1 ORDER BY updated_at DESC LIMIT 1",
      slug,
    );
    return Promise.resolve(row ? toUdf(row) : null);
  }

  /** {@inheritDoc Registry.listUdfs} */
  listUdfs(scope: UdfScope, options: ListOptions = {}): Promise<UdfRecord[]> {
    const order = SORT_SQL[options.sort ?? "name"];
    const page = [options.limit ?? 100, options.skip ?? 0];
    let rows: Row[];
    if (scope.kind === "owner") {
      rows = this.#all(
        `SELECT * FROM udfs WHERE owner_id = ? ORDER BY ${order} LIMIT ? OFFSET ?`,
        scope.ownerId,
        ...page,
      );
    } else if (scope.kind === "team") {
      rows = this.#all(
        `SELECT * FROM udfs WHERE owner_id IN (${TEAM_MEMBERS}) ORDER BY ${order} LIMIT ? OFFSET ?`,
        scope.team,
        ...page,
      );
    } else {
      rows = this.#all(
        `SELECT * FROM udfs WHERE allow_public_list = 1 ORDER BY ${order} LIMIT ? OFFSET ?`,
        ...page,
      );
    }
    return Promise.resolve(rows.map(toUdf));
  }

  /** {@inheritDoc Registry.deleteUdf} */
  deleteUdf(id: string): Promise<boolean> {
    return Promise.resolve(this.#run("DELETE FROM udfs WHERE id = ?", id) > 0);
  }

  /** {@inheritDoc Registry.createShareToken} */
  createShareToken(
    udfId: string,
    ownerId: string,
    fields: ShareTokenFields = {},
  ): Promise<ShareToken> {
    const token = newShareToken();
    const time = now();
    this.#run(
      `INSERT INTO share_tokens (token, udf_id, owner_id, client_id, enabled, cache, public_read,
         access_scope, metadata_json, created_at, last_updated)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      token,
      udfId,
      ownerId,
      fields.clientId ?? null,
      bool(fields.enabled ?? true),
      bool(fields.cache ?? true),
      bool(fields.publicRead ?? false),
      fields.accessScope ?? null,
      JSON.stringify(fields.metadataJson ?? {}),
      time,
      time,
    );
    return this.getShareToken(token) as Promise<ShareToken>;
  }

  /** {@inheritDoc Registry.getShareToken} */
  getShareToken(token: string): Promise<ShareToken | null> {
    return Promise.resolve(this.#shareToken(token));
  }

  #shareToken(token: string): ShareToken | null {
    return this.#memo(`token:${token}`, () => {
      const row = this.#get("SELECT * FROM share_tokens WHERE token = ?", token);
      return row ? toShareToken(row) : null;
    });
  }

  /** {@inheritDoc Registry.getShareTokenUdf} */
  getShareTokenUdf(
    token: string,
  ): Promise<{ token: ShareToken; udf: UdfRecord | null } | null> {
    // Both reads are memoized (see #memo), and read without awaiting each: every token run asks.
    const found = this.#shareToken(token);
    return Promise.resolve(found && { token: found, udf: this.#udf(found.udfId) });
  }

  /** {@inheritDoc Registry.listShareTokens} */
  listShareTokens(ownerId: string, options: ListOptions = {}): Promise<ShareToken[]> {
    const rows = this.#all(
      "SELECT * FROM share_tokens WHERE owner_id = ? ORDER BY created_at, token LIMIT ? OFFSET ?",
      ownerId,
      options.limit ?? 100,
      options.skip ?? 0,
    );
    return Promise.resolve(rows.map(toShareToken));
  }

  /** {@inheritDoc Registry.updateShareToken} */
  async updateShareToken(token: string, fields: ShareTokenFields): Promise<ShareToken | null> {
    const current = await this.getShareToken(token);
    if (!current) return null;
    const next = { ...current, ...definedOnly(fields) };
    this.#run(
      `UPDATE share_tokens SET client_id = ?, enabled = ?, cache = ?, public_read = ?,
         access_scope = ?, metadata_json = ?, last_updated = ? WHERE token = ?`,
      next.clientId,
      bool(next.enabled),
      bool(next.cache),
      bool(next.publicRead),
      next.accessScope,
      JSON.stringify(next.metadataJson),
      now(),
      token,
    );
    return await this.getShareToken(token);
  }

  /** {@inheritDoc Registry.deleteShareToken} */
  async deleteShareToken(token: string): Promise<ShareToken | null> {
    const current = await this.getShareToken(token);
    if (current) this.#run("DELETE FROM share_tokens WHERE token = ?", token);
    return current;
  }

  /** {@inheritDoc Registry.createJob} */
  createJob(ownerId: string, config: unknown, fields: NewJobFields = {}): Promise<JobRecord> {
    const id = crypto.randomUUID();
    const time = now();
    const key = fields.idempotencyKey ?? null;
    try {
      this.#run(
        `INSERT INTO jobs (id, owner_id, status, config_json, created_at, updated_at, name,
           instance_type, idempotency_key) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
        id,
        ownerId,
        JSON.stringify(config ?? {}),
        time,
        time,
        fields.name ?? null,
        fields.instanceType ?? null,
        key,
      );
    } catch (err) {
      if (key !== null && isUniqueViolation(err)) return Promise.reject(jobKeyConflict(key));
      throw err;
    }
    return this.getJob(id) as Promise<JobRecord>;
  }

  /** {@inheritDoc Registry.findJobByIdempotencyKey} */
  findJobByIdempotencyKey(ownerId: string, key: string): Promise<JobRecord | null> {
    const row = this.#get(
      "SELECT * FROM jobs WHERE owner_id = ? AND idempotency_key = ?",
      ownerId,
      key,
    );
    return Promise.resolve(row ? toJob(row) : null);
  }

  /** {@inheritDoc Registry.getJob} */
  getJob(id: string): Promise<JobRecord | null> {
    const row = this.#get("SELECT * FROM jobs WHERE id = ?", id);
    return Promise.resolve(row ? toJob(row) : null);
  }

  /** {@inheritDoc Registry.listJobs} */
  listJobs(ownerId: string, options: ListOptions = {}): Promise<JobRecord[]> {
    const rows = this.#all(
      "SELECT * FROM jobs WHERE owner_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
      ownerId,
      options.limit ?? 100,
      options.skip ?? 0,
    );
    return Promise.resolve(rows.map(toJob));
  }

  /** {@inheritDoc Registry.setJobStatus} */
  setJobStatus(
    id: string,
    status: JobStatus,
    error: string | null = null,
    options: { from?: JobStatus[]; at?: string } = {},
  ): Promise<JobRecord | null> {
    const time = options.at ?? now();
    const finished = status === "succeeded" || status === "failed" || status === "cancelled";
    const from = options.from ?? [];
    const changes = this.#run(
      `UPDATE jobs SET status = ?, error = ?, updated_at = ?,
         started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END,
         finished_at = CASE WHEN ? THEN ? ELSE finished_at END
       WHERE id = ? AND (? = 0 OR status IN (SELECT value FROM json_each(?)))`,
      status,
      error,
      time,
      bool(status === "running"),
      time,
      bool(finished),
      time,
      id,
      from.length,
      JSON.stringify(from),
    );
    return changes === 0 ? Promise.resolve(null) : this.getJob(id);
  }

  /** {@inheritDoc Registry.appendJobLogs} */
  appendJobLogs(id: string, text: string): Promise<void> {
    this.#run("UPDATE jobs SET logs = logs || ?, updated_at = ? WHERE id = ?", text, now(), id);
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.listJobsFinishedBefore} */
  listJobsFinishedBefore(before: string, limit: number): Promise<JobRecord[]> {
    const rows = this.#all(
      `SELECT * FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?
       ORDER BY finished_at LIMIT ?`,
      before,
      limit,
    );
    return Promise.resolve(rows.map(toJob));
  }

  /** {@inheritDoc Registry.deleteJob} */
  deleteJob(id: string): Promise<boolean> {
    // Its log lines go with it (ON DELETE CASCADE).
    return Promise.resolve(this.#run("DELETE FROM jobs WHERE id = ?", id) > 0);
  }

  /** {@inheritDoc Registry.listJobsWithStatus} */
  listJobsWithStatus(statuses: JobStatus[]): Promise<JobRecord[]> {
    const rows = this.#all(
      `SELECT * FROM jobs WHERE status IN (SELECT value FROM json_each(?))
       ORDER BY created_at, id`,
      JSON.stringify(statuses),
    );
    return Promise.resolve(rows.map(toJob));
  }

  /** {@inheritDoc Registry.setJobProcess} */
  setJobProcess(id: string, process: JobProcess | null): Promise<void> {
    this.#run(
      "UPDATE jobs SET pid = ?, pid_start = ?, updated_at = ? WHERE id = ?",
      process?.pid ?? null,
      process?.startTime ?? null,
      now(),
      id,
    );
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.setJobResults} */
  setJobResults(id: string, results: JobResultFile[]): Promise<void> {
    this.#run(
      "UPDATE jobs SET results_json = ?, updated_at = ? WHERE id = ?",
      JSON.stringify(results),
      now(),
      id,
    );
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.appendJobLogLines} */
  appendJobLogLines(id: string, lines: JobLogLine[], logOffset?: number): Promise<void> {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const insert = this.#prepare(
        "INSERT INTO job_logs (job_id, timestamp, message) VALUES (?, ?, ?)",
      );
      for (const line of lines) insert.run(id, line.timestamp, line.message);
      if (logOffset !== undefined) {
        this.#prepare("UPDATE jobs SET log_offset = ? WHERE id = ?").run(logOffset, id);
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.getJobLogs} */
  getJobLogs(id: string, options: { sinceMs?: number } = {}): Promise<JobLogLine[]> {
    const rows = this.#all(
      `SELECT timestamp, message FROM job_logs WHERE job_id = ? AND timestamp > ?
       ORDER BY seq`,
      id,
      options.sinceMs ?? -1,
    );
    return Promise.resolve(
      rows.map((r) => ({ timestamp: Number(r.timestamp), message: String(r.message) })),
    );
  }

  /** {@inheritDoc Registry.putSetting} */
  putSetting(key: string, value: string): Promise<void> {
    this.#run(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = ?",
      key,
      value,
      value,
    );
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.recordFile} */
  recordFile(key: string, userId: string, size: number): Promise<void> {
    this.#run(
      `INSERT INTO fd_files (key, user_id, size) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET user_id = excluded.user_id, size = excluded.size`,
      key,
      userId,
      size,
    );
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.forgetFiles} */
  forgetFiles(key: string): Promise<void> {
    const prefix = `${key}/`;
    this.#run(
      "DELETE FROM fd_files WHERE key = ? OR substr(key, 1, ?) = ?",
      key,
      prefix.length,
      prefix,
    );
    return Promise.resolve();
  }

  /** {@inheritDoc Registry.storedBytes} */
  storedBytes(userId: string, except = ""): Promise<number> {
    const row = this.#get(
      "SELECT coalesce(sum(size), 0) AS n FROM fd_files WHERE user_id = ? AND key <> ?",
      userId,
      except,
    );
    return Promise.resolve(Number(row?.n ?? 0));
  }

  /** {@inheritDoc Registry.getOrCreateSetting} */
  getOrCreateSetting(key: string, create: () => string): Promise<string> {
    const row = this.#get("SELECT value FROM settings WHERE key = ?", key);
    if (row) return Promise.resolve(String(row.value));
    // INSERT OR IGNORE then re-read, so two processes starting together agree on one value.
    this.#run("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)", key, create());
    return Promise.resolve(
      String((this.#get("SELECT value FROM settings WHERE key = ?", key) as Row).value),
    );
  }

  /** {@inheritDoc Registry.savePage} */
  savePage(
    ownerId: string,
    fields: PageFields,
  ): Promise<{ page: PageSummary; previous: PageSummary | null }> {
    const select = `SELECT ${PAGE_SUMMARY_COLUMNS} FROM pages WHERE owner_id = ? AND name = ?`;
    // One transaction: two publishes of one name never both see "no previous page".
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const before = this.#get(select, ownerId, fields.name);
      const time = now();
      this.#run(
        `INSERT INTO pages (owner_id, name, notebook, layers_json, size_bytes, html_gzip,
           created_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (owner_id, name) DO UPDATE SET notebook = excluded.notebook,
           layers_json = excluded.layers_json, size_bytes = excluded.size_bytes,
           html_gzip = excluded.html_gzip, published_at = excluded.published_at`,
        ownerId,
        fields.name,
        fields.notebook,
        JSON.stringify(fields.layers),
        fields.sizeBytes,
        fields.htmlGzip,
        time,
        time,
      );
      const page = toPageSummary(this.#get(select, ownerId, fields.name) as Row);
      this.#db.exec("COMMIT");
      return Promise.resolve({ page, previous: before ? toPageSummary(before) : null });
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /** {@inheritDoc Registry.getPage} */
  getPage(ownerId: string, name: string): Promise<Page | null> {
    const row = this.#get("SELECT * FROM pages WHERE owner_id = ? AND name = ?", ownerId, name);
    return Promise.resolve(
      row ? { ...toPageSummary(row), htmlGzip: new Uint8Array(row.html_gzip as Uint8Array) } : null,
    );
  }

  /** {@inheritDoc Registry.listPages} */
  listPages(ownerId: string, options: ListOptions = {}): Promise<PageSummary[]> {
    const rows = this.#all(
      `SELECT ${PAGE_SUMMARY_COLUMNS} FROM pages WHERE owner_id = ?
       ORDER BY published_at DESC, name LIMIT ? OFFSET ?`,
      ownerId,
      options.limit ?? 100,
      options.skip ?? 0,
    );
    return Promise.resolve(rows.map(toPageSummary));
  }

  /** {@inheritDoc Registry.deletePage} */
  deletePage(ownerId: string, name: string): Promise<PageSummary | null> {
    const row = this.#get(
      `SELECT ${PAGE_SUMMARY_COLUMNS} FROM pages WHERE owner_id = ? AND name = ?`,
      ownerId,
      name,
    );
    if (!row) return Promise.resolve(null);
    this.#run("DELETE FROM pages WHERE owner_id = ? AND name = ?", ownerId, name);
    return Promise.resolve(toPageSummary(row));
  }

  /** {@inheritDoc Registry.close} */
  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}

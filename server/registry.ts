/**
 * The service's registry: users, teams, API tokens, saved UDFs, share tokens and batch jobs.
 * `Registry` is the interface (asynchronous, so a PostgreSQL store can implement it);
 * `SqliteRegistry` is the embedded default on `node:sqlite` in WAL mode, with numbered
 * migrations applied on open.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

/** A user of the service. */
export interface User {
  /** Stable id (uuid). */
  id: string;
  /** E-mail address; unique. */
  email: string;
  /** Short name; unique; used in `by-user-handle` routes. */
  handle: string;
  /** Name of the user's team, or null. Team routes (`exec-env`) resolve to it. */
  team: string | null;
  /** Whether the user may create users and tokens. */
  isAdmin: boolean;
  /** ISO time of creation. */
  createdAt: string;
}

/** Fields to create a user. */
export interface NewUser {
  /** E-mail address. */
  email: string;
  /** Short name; defaults to the part of the e-mail before `@`. */
  handle?: string;
  /** Team name; created when missing. */
  team?: string | null;
  /** Whether the user is an administrator. */
  isAdmin?: boolean;
}

/** A saved UDF as the registry stores it. */
export interface UdfRecord {
  /** Id (uuid). */
  id: string;
  /** Id of the owning user. */
  ownerId: string;
  /** Name of the UDF, unique per owner. */
  slug: string;
  /** The Udf JSON, as text. */
  udfBody: string;
  /** Fused `udf_type` (`auto`, `app`, ...). */
  udfType: string;
  /** Anyone authenticated may read and run it. */
  allowPublicRead: boolean;
  /** It appears in `/udf/public`. */
  allowPublicList: boolean;
  /** ISO time of creation. */
  createdAt: string;
  /** ISO time of the last save. */
  updatedAt: string;
}

/** Fields of a UDF save. */
export interface UdfFields {
  /** Name of the UDF. */
  slug: string;
  /** The Udf JSON, as text. */
  udfBody: string;
  /** Fused `udf_type`. */
  udfType: string;
  /** Anyone authenticated may read and run it. */
  allowPublicRead: boolean;
  /** It appears in `/udf/public`. */
  allowPublicList: boolean;
}

/** Which UDFs to list. */
export type UdfScope =
  | { kind: "owner"; ownerId: string }
  | { kind: "team"; team: string }
  | { kind: "public" };

/** Order of UDF lists: by name, or by last update (newest first with `-updated`). */
export type UdfSort = "name" | "-name" | "updated" | "-updated";

/** Paging and order of a list. */
export interface ListOptions {
  /** Rows to skip. */
  skip?: number;
  /** Most rows to return. */
  limit?: number;
  /** Order (UDF lists only). */
  sort?: UdfSort;
}

/** A share token: a capability URL that runs exactly one UDF without authentication. */
export interface ShareToken {
  /** The token (`fsh_...`). */
  token: string;
  /** The UDF it runs. */
  udfId: string;
  /** Who created it. */
  ownerId: string;
  /** Realtime instance id it was made for. */
  clientId: string | null;
  /** Disabled tokens answer 403. */
  enabled: boolean;
  /** Whether token runs may be served from the cache. */
  cache: boolean;
  /** Whether the token also reveals the UDF's code. */
  publicRead: boolean;
  /** Free-form scope string (kept for Fused compatibility). */
  accessScope: string | null;
  /** Free-form metadata. */
  metadataJson: Record<string, unknown>;
  /** ISO time of creation. */
  createdAt: string;
  /** ISO time of the last change. */
  lastUpdated: string;
}

/** Changeable fields of a share token. */
export interface ShareTokenFields {
  /** Realtime instance id. */
  clientId?: string | null;
  /** Enabled flag. */
  enabled?: boolean;
  /** Cache flag. */
  cache?: boolean;
  /** Public-read flag. */
  publicRead?: boolean;
  /** Scope string. */
  accessScope?: string | null;
  /** Metadata. */
  metadataJson?: Record<string, unknown>;
}

/** Status of a batch job. */
export type JobStatus = "pending" | "running" | "succeeded" | "failed" | "cancelled";

/** A batch job. */
export interface JobRecord {
  /** Id (uuid). */
  id: string;
  /** Id of the owning user. */
  ownerId: string;
  /** Status. */
  status: JobStatus;
  /** The job's configuration (JSON). */
  config: unknown;
  /** Accumulated logs. */
  logs: string;
  /** Error message of a failed job. */
  error: string | null;
  /** ISO time of creation. */
  createdAt: string;
  /** ISO time of the last change. */
  updatedAt: string;
  /** ISO time it started running. */
  startedAt: string | null;
  /** ISO time it finished. */
  finishedAt: string | null;
  /** Job name (Fused's `job_name`). */
  name: string | null;
  /** Batch instance type it runs on. */
  instanceType: string | null;
  /** The job's process (pid and start time, to recognise it after a restart); kept once it ends. */
  process: JobProcess | null;
  /** Bytes of the job's output file already copied into its log lines. */
  logOffset: number;
  /** Result files of a finished job (storage keys), in order. */
  results: JobResultFile[];
}

/** The operating-system process of a running job. */
export interface JobProcess {
  /** Process id. */
  pid: number;
  /** Start time of the process as the OS reports it (Linux: /proc/<pid>/stat field 22). */
  startTime: string;
}

/** One result file of a job. */
export interface JobResultFile {
  /** File name (`0.parquet`). */
  name: string;
  /** Storage key (`jobs/<id>/0.parquet`). */
  key: string;
  /** Content type of the file. */
  contentType?: string;
  /** Side information of the result (raster bounds), sent as `x-fused-metadata`. */
  metadata?: Record<string, unknown>;
}

/** One log line of a job. */
export interface JobLogLine {
  /** Milliseconds since the epoch; strictly increasing within a job. */
  timestamp: number;
  /** The line, without its newline. */
  message: string;
}

/** Optional fields of a new job. */
export interface NewJobFields {
  /** Job name. */
  name?: string | null;
  /** Batch instance type. */
  instanceType?: string | null;
}

/** A save clashed with an existing UDF name, or a user with an existing e-mail or handle. */
export class ConflictError extends Error {
  /** Creates a conflict error. */
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

/** A new API token: the secret is shown once, only its hash is stored. */
export interface IssuedToken {
  /** Token id (also embedded in the token). */
  id: string;
  /** The secret token to send as `Authorization: Bearer <token>`. */
  token: string;
}

/** The registry the service needs; SQLite here, PostgreSQL later. */
export interface Registry {
  /** Creates a user (and its team when missing); ConflictError on a taken e-mail or handle. */
  createUser(user: NewUser): Promise<User>;
  /** A user by id. */
  getUser(id: string): Promise<User | null>;
  /** A user by e-mail. */
  findUserByEmail(email: string): Promise<User | null>;
  /** A user by handle. */
  findUserByHandle(handle: string): Promise<User | null>;
  /** Issues an API token for a user. */
  createApiToken(userId: string, options?: { name?: string }): Promise<IssuedToken>;
  /** The user an API token belongs to, or null (constant-time comparison of hashes). */
  authenticate(token: string): Promise<User | null>;
  /** Saves a new UDF; ConflictError when the owner already has one with that slug. */
  createUdf(ownerId: string, fields: UdfFields): Promise<UdfRecord>;
  /** Overwrites a UDF; null when there is none; ConflictError on a slug clash. */
  updateUdf(id: string, fields: UdfFields): Promise<UdfRecord | null>;
  /** A UDF by id. */
  getUdf(id: string): Promise<UdfRecord | null>;
  /** A UDF by owner and slug. */
  findUdf(ownerId: string, slug: string): Promise<UdfRecord | null>;
  /** A UDF owned by any member of a team, by slug (the newest when several). */
  findTeamUdf(team: string, slug: string): Promise<UdfRecord | null>;
  /** A public-listed UDF by slug. */
  findPublicUdf(slug: string): Promise<UdfRecord | null>;
  /** UDFs in a scope, paged and ordered. */
  listUdfs(scope: UdfScope, options?: ListOptions): Promise<UdfRecord[]>;
  /** Deletes a UDF and its share tokens; false when there was none. */
  deleteUdf(id: string): Promise<boolean>;
  /** Creates a share token for a UDF. */
  createShareToken(
    udfId: string,
    ownerId: string,
    fields?: ShareTokenFields,
  ): Promise<ShareToken>;
  /** A share token by its value. */
  getShareToken(token: string): Promise<ShareToken | null>;
  /** Share tokens of an owner, oldest first. */
  listShareTokens(ownerId: string, options?: ListOptions): Promise<ShareToken[]>;
  /** Changes a share token; null when there is none. */
  updateShareToken(token: string, fields: ShareTokenFields): Promise<ShareToken | null>;
  /** Deletes a share token; returns it, or null when there was none. */
  deleteShareToken(token: string): Promise<ShareToken | null>;
  /** Creates a pending job. */
  createJob(ownerId: string, config: unknown, fields?: NewJobFields): Promise<JobRecord>;
  /** A job by id. */
  getJob(id: string): Promise<JobRecord | null>;
  /** Jobs of an owner, newest first. */
  listJobs(ownerId: string, options?: ListOptions): Promise<JobRecord[]>;
  /**
   * Sets a job's status (and start/finish times); null when there is none, or when `from` is
   * given and the job's status is not one of them (so a finished job is never changed again).
   */
  setJobStatus(
    id: string,
    status: JobStatus,
    error?: string | null,
    options?: { from?: JobStatus[] },
  ): Promise<JobRecord | null>;
  /** Appends text to a job's `logs` text (the job runner keeps line records instead). */
  appendJobLogs(id: string, text: string): Promise<void>;
  /** Jobs with one of these statuses, oldest first (the job runner's queue and recovery). */
  listJobsWithStatus(statuses: JobStatus[]): Promise<JobRecord[]>;
  /** Records (or clears) the process of a running job. */
  setJobProcess(id: string, process: JobProcess | null): Promise<void>;
  /** Records the result files of a job. */
  setJobResults(id: string, results: JobResultFile[]): Promise<void>;
  /**
   * Appends log lines to a job, and with `logOffset` records in the same transaction how far its
   * output file has been read (so a restarted service neither repeats nor loses a line).
   */
  appendJobLogLines(id: string, lines: JobLogLine[], logOffset?: number): Promise<void>;
  /** Log lines of a job, oldest first; with `sinceMs`, only those after that time. */
  getJobLogs(id: string, options?: { sinceMs?: number }): Promise<JobLogLine[]>;
  /** A named server setting (e.g. the URL-signing secret), created with `create()` when missing. */
  getOrCreateSetting(key: string, create: () => string): Promise<string>;
  /** Closes the store. */
  close(): Promise<void>;
}

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
];

type Row = Record<string, SQLInputValue>;

const USER_SELECT = `SELECT u.id, u.email, u.handle, u.is_admin, u.created_at, t.name AS team
  FROM users u LEFT JOIN teams t ON t.id = u.team_id`;

const TEAM_MEMBERS = "SELECT u.id FROM users u JOIN teams t ON t.id = u.team_id WHERE t.name = ?";

const SORT_SQL: Record<UdfSort, string> = {
  "name": "slug ASC, id ASC",
  "-name": "slug DESC, id ASC",
  "updated": "updated_at ASC, id ASC",
  "-updated": "updated_at DESC, id ASC",
};

function now(): string {
  return new Date().toISOString();
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

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
        return Promise.reject(
          new ConflictError(
            `A user with e-mail "${user.email}" or handle "${handle}" already exists`,
          ),
        );
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

  /** {@inheritDoc Registry.createApiToken} */
  createApiToken(userId: string, options: { name?: string } = {}): Promise<IssuedToken> {
    // The id is embedded so lookup is by id and the secret is compared in constant time.
    const id = randomBytes(8).toString("hex");
    const token = `fused_${id}_${randomBytes(24).toString("hex")}`;
    this.#run(
      "INSERT INTO api_tokens (id, user_id, token_hash, name, created_at) VALUES (?, ?, ?, ?, ?)",
      id,
      userId,
      sha256(token).toString("hex"),
      options.name ?? null,
      now(),
    );
    return Promise.resolve({ id, token });
  }

  /** {@inheritDoc Registry.authenticate} */
  async authenticate(token: string): Promise<User | null> {
    const match = /^fused_([0-9a-f]{16})_[0-9a-f]{48}$/.exec(token);
    if (!match) return null;
    const row = this.#get("SELECT user_id, token_hash FROM api_tokens WHERE id = ?", match[1]);
    if (!row) return null;
    const stored = Buffer.from(String(row.token_hash), "hex");
    if (!timingSafeEqual(stored, sha256(token))) return null;
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
    return Promise.resolve(this.#memo(`udf:${id}`, () => {
      const row = this.#get("SELECT * FROM udfs WHERE id = ?", id);
      return row ? toUdf(row) : null;
    }));
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
    const token = `fsh_${randomBytes(20).toString("hex")}`;
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
    return Promise.resolve(this.#memo(`token:${token}`, () => {
      const row = this.#get("SELECT * FROM share_tokens WHERE token = ?", token);
      return row ? toShareToken(row) : null;
    }));
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
    this.#run(
      `INSERT INTO jobs (id, owner_id, status, config_json, created_at, updated_at, name,
         instance_type) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)`,
      id,
      ownerId,
      JSON.stringify(config ?? {}),
      time,
      time,
      fields.name ?? null,
      fields.instanceType ?? null,
    );
    return this.getJob(id) as Promise<JobRecord>;
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
    options: { from?: JobStatus[] } = {},
  ): Promise<JobRecord | null> {
    const time = now();
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

  /** {@inheritDoc Registry.close} */
  close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
    return Promise.resolve();
  }
}

function slugConflict(slug: string): ConflictError {
  return new ConflictError(
    `A UDF named "${slug}" already exists for this user: save with overwrite (POST /udf/by-id/{id}) or choose another name`,
  );
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The service's registry: users, teams, API tokens, saved UDFs, share tokens and batch jobs.
 * `Registry` is the interface, with two stores: `SqliteRegistry` (sqlite.ts), the embedded
 * default in the data folder, and `PostgresRegistry` (postgres.ts), shared by any number of
 * services and workers. `openRegistry` picks one from a `--database` URL.
 *
 * @module
 */
import { ValidationError } from "../../client/errors.ts";

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
  /**
   * The client's key of this submission (`Idempotency-Key`): a second job with the same key of
   * the same owner is refused with a `ConflictError`, so a retried submit never makes two jobs.
   */
  idempotencyKey?: string | null;
}

/** A save clashed with an existing UDF name, or a user with an existing e-mail or handle. */
export class ConflictError extends Error {
  /** Creates a conflict error. */
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

/** A share token a published page's tile layer draws from, and the UDF it runs. */
export interface PageLayer {
  /** The share token (`fsh_...`). */
  token: string;
  /** The UDF's id when published. */
  udfId: string;
  /** The UDF's name when published. */
  udfSlug: string;
}

/** A published page without its HTML (what a listing shows). */
export interface PageSummary {
  /** Owner (user id). */
  ownerId: string;
  /** The page's name, unique per owner (the UDF name rule). */
  name: string;
  /** The notebook it was published from (its file name). */
  notebook: string;
  /** The share tokens its tile layers use; unpublishing deletes them. */
  layers: PageLayer[];
  /** Size of the HTML in bytes. */
  sizeBytes: number;
  /** When it was first published. */
  createdAt: string;
  /** When it was last published. */
  publishedAt: string;
}

/** A published page with its HTML (gzip-compressed as stored). */
export interface Page extends PageSummary {
  /** The executed notebook as HTML, gzip-compressed. */
  htmlGzip: Uint8Array;
}

/** What publishing a page writes. */
export interface PageFields {
  /** The page's name. */
  name: string;
  /** The notebook's file name. */
  notebook: string;
  /** Its layers' share tokens. */
  layers: PageLayer[];
  /** Size of the HTML in bytes. */
  sizeBytes: number;
  /** The HTML, gzip-compressed. */
  htmlGzip: Uint8Array;
}

/** A new API token: the secret is shown once, only its hash is stored. */
export interface IssuedToken {
  /** Token id (also embedded in the token). */
  id: string;
  /** The secret token to send as `Authorization: Bearer <token>`. */
  token: string;
}

/** An API token as listed (never its secret). */
export interface ApiTokenInfo {
  /** Token id (the part after `fused_`). */
  id: string;
  /** Its owner. */
  userId: string;
  /** A name given at creation, or null. */
  name: string | null;
  /** ISO time of creation. */
  createdAt: string;
  /** ISO time after which it is refused, or null (never). */
  expiresAt: string | null;
  /** ISO time it was revoked, or null. */
  revokedAt: string | null;
}

/** Options of a new API token. */
export interface NewApiToken {
  /** A name to recognise it by in lists. */
  name?: string;
  /** ISO time after which it is refused; never when absent. */
  expiresAt?: string | null;
}

/** The registry the service needs (SQLite or PostgreSQL). */
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
  createApiToken(userId: string, options?: NewApiToken): Promise<IssuedToken>;
  /**
   * The user an API token belongs to, or null when it is unknown, revoked or expired
   * (constant-time comparison of hashes).
   */
  authenticate(token: string): Promise<User | null>;
  /** A user's API tokens, oldest first (revoked and expired ones too). */
  listApiTokens(userId: string): Promise<ApiTokenInfo[]>;
  /** Revokes an API token by id; false when there is none or it was revoked already. */
  revokeApiToken(id: string): Promise<boolean>;
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
  /**
   * A share token and its UDF in one read (every token run needs both; on PostgreSQL one round
   * trip instead of two); `udf` is null when the UDF went between the two (deleting a UDF
   * deletes its tokens); null when there is no such token.
   */
  getShareTokenUdf(token: string): Promise<{ token: ShareToken; udf: UdfRecord | null } | null>;
  /** Share tokens of an owner, oldest first. */
  listShareTokens(ownerId: string, options?: ListOptions): Promise<ShareToken[]>;
  /** Changes a share token; null when there is none. */
  updateShareToken(token: string, fields: ShareTokenFields): Promise<ShareToken | null>;
  /** Deletes a share token; returns it, or null when there was none. */
  deleteShareToken(token: string): Promise<ShareToken | null>;
  /** Creates a pending job; ConflictError when its idempotency key was used by its owner. */
  createJob(ownerId: string, config: unknown, fields?: NewJobFields): Promise<JobRecord>;
  /** A job by id. */
  getJob(id: string): Promise<JobRecord | null>;
  /** The job an owner submitted with this idempotency key, or null. */
  findJobByIdempotencyKey(ownerId: string, key: string): Promise<JobRecord | null>;
  /** Jobs of an owner, newest first. */
  listJobs(ownerId: string, options?: ListOptions): Promise<JobRecord[]>;
  /**
   * Sets a job's status (and start/finish times); null when there is none, or when `from` is
   * given and the job's status is not one of them (so a finished job is never changed again).
   * `at` is the ISO time of the change when it happened earlier than now (a job's process that
   * ended while no service watched it); it becomes the start or finish time.
   */
  setJobStatus(
    id: string,
    status: JobStatus,
    error?: string | null,
    options?: { from?: JobStatus[]; at?: string },
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
  /** Jobs that finished before `before` (ISO time), oldest first, at most `limit` (retention). */
  listJobsFinishedBefore(before: string, limit: number): Promise<JobRecord[]>;
  /** Deletes a job and its log lines; false when it was not there. */
  deleteJob(id: string): Promise<boolean>;
  /** Resolves when the store answers a query; throws a `BackendUnavailableError` when not. */
  ping(): Promise<void>;
  /** Sets a named server setting, replacing its value. */
  putSetting(key: string, value: string): Promise<void>;
  /**
   * Records that `userId` wrote the `fd://` file `key` of `size` bytes: its bytes count against
   * that user's disk quota from now on (an overwrite by another user moves them to that user).
   */
  recordFile(key: string, userId: string, size: number): Promise<void>;
  /** Forgets the `fd://` file `key` and every file under `key/` (they were deleted). */
  forgetFiles(key: string): Promise<void>;
  /**
   * Bytes of the `fd://` files `userId` wrote last (their share of the store), leaving out the
   * file `except` (the one a write is about to replace).
   */
  storedBytes(userId: string, except?: string): Promise<number>;
  /** A named server setting (e.g. the URL-signing secret), created with `create()` when missing. */
  getOrCreateSetting(key: string, create: () => string): Promise<string>;
  /**
   * Publishes a page (a new one, or the owner's page of that name replaced); answers it and the
   * page it replaced, if any.
   */
  savePage(
    ownerId: string,
    fields: PageFields,
  ): Promise<{ page: PageSummary; previous: PageSummary | null }>;
  /** The owner's page of that name, with its HTML. */
  getPage(ownerId: string, name: string): Promise<Page | null>;
  /** The owner's pages, newest first, without their HTML. */
  listPages(ownerId: string, options?: ListOptions): Promise<PageSummary[]>;
  /** Removes the owner's page of that name; answers it (null when there was none). */
  deletePage(ownerId: string, name: string): Promise<PageSummary | null>;
  /** Closes the store. */
  close(): Promise<void>;
}

/** Where the registry lives: a PostgreSQL URL, or (embedded default) a SQLite file. */
export interface RegistryLocation {
  /** `postgres://USER:PASSWORD@HOST:PORT/DB` (or `postgresql://`); wins over `sqlitePath`. */
  databaseUrl?: string | null;
  /** The SQLite file of the embedded default. */
  sqlitePath: string;
  /** Most connections of the PostgreSQL pool (default 10). */
  poolSize?: number;
}

/** Whether a `--database` value is a PostgreSQL URL. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/**
 * Opens the registry: PostgreSQL when `databaseUrl` is set, else the SQLite file. Throws a
 * clear error for a URL of another kind, or when PostgreSQL cannot be reached.
 */
export async function openRegistry(location: RegistryLocation): Promise<Registry> {
  const url = location.databaseUrl;
  if (url) {
    if (!isPostgresUrl(url)) {
      throw new ValidationError(
        `Unsupported database URL "${
          url.replace(/:[^:@/]*@/, ":***@")
        }": use postgres://USER:PASSWORD@HOST:PORT/DATABASE, or leave it out for the embedded SQLite registry`,
      );
    }
    const { PostgresRegistry } = await import("./postgres.ts");
    return await PostgresRegistry.open(url, { max: location.poolSize });
  }
  const { SqliteRegistry } = await import("./sqlite.ts");
  return new SqliteRegistry(location.sqlitePath);
}

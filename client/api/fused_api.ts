/**
 * `FusedAPI`: the client bound to one service and token, with Fused's method names (camelCase).
 * Every method is the `fused.api.*` function of the same name, sent through this object's
 * transport.
 *
 * @module
 */
import { HttpError, NotSupportedError } from "../errors.ts";
import type { UdfResult } from "../formats/types.ts";
import type { Udf } from "../udf.ts";
import { whoami } from "./credentials.ts";
import {
  delete as deletePath,
  type DeleteOptions,
  download,
  get,
  list,
  type SignOptions,
  signUrl,
  signUrlPrefix,
  upload,
  type UploadOptions,
  type UploadSource,
} from "./files.ts";
import {
  type BatchJob,
  cancelJob,
  getExecTime,
  getJobResults,
  getJobs,
  type GetJobsOptions,
  getLogs,
  type GetLogsOptions,
  getStatus,
  type JobConfig,
  type JobRef,
  startJob,
  type StartJobOptions,
  tailLogs,
  type TailLogsOptions,
  waitForJob,
  type WaitForJobOptions,
} from "./jobs.ts";
import type { JobLog, JobSummary, ListDetails, SavedUdf, UdfAccessToken, User } from "./schemas.ts";
import {
  createUdfAccessToken,
  type CreateUdfAccessTokenOptions,
  deleteUdfAccessToken,
  getUdfAccessToken,
  getUdfAccessTokens,
  type GetUdfAccessTokensOptions,
  type UdfAccessTokenFields,
  updateUdfAccessToken,
} from "./tokens.ts";
import { z } from "zod";
import { setGlobalTransport, Transport } from "./transport.ts";
import { getSavedUdf, getUdfs, type GetUdfsOptions, loadSavedUdf } from "./udfs.ts";

/** Options of `new FusedAPI()`. */
export interface FusedAPIOptions {
  /** Service URL (`http://host:port/v1`); `fused.options.baseUrl` unless given. */
  baseUrl?: string;
  /** API token; `FUSED_AUTH_TOKEN` or `~/.fused/credentials` unless given. */
  token?: string;
  /** Make this the client of the `fused.api.*` functions (default true, as Fused's SDK). */
  setGlobalApi?: boolean;
}

/** Options of a `FusedAPI` method: the function's options without `transport`. */
export type MethodOptions<T> = Omit<T, "transport">;

/**
 * The API of one service.
 *
 * @example
 * ```ts ignore
 * import { FusedAPI } from "./fused_api.ts";
 * const api = new FusedAPI({ baseUrl: "http://127.0.0.1:8783/v1", token: "...", setGlobalApi: false });
 * console.log((await api.whoami()).email);
 * ```
 */
export class FusedAPI {
  /** The transport every method sends through. */
  readonly transport: Transport;

  /** Creates the client; by default it also becomes the one `fused.api.*` uses. */
  constructor(options: FusedAPIOptions = {}) {
    this.transport = new Transport({ baseUrl: options.baseUrl, token: options.token });
    if (options.setGlobalApi ?? true) setGlobalTransport(this.transport);
  }

  /** The service's base URL. */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  #with<T extends object>(opts: T | undefined): T & { transport: Transport } {
    return { ...(opts ?? {} as T), transport: this.transport };
  }

  /** The logged-in user. */
  whoami(): Promise<User> {
    return whoami(this.#with({}));
  }

  /** The team's auth token (`GET /execution-env/token`). */
  async authToken(): Promise<string> {
    try {
      return await this.transport.json(z.string(), "/execution-env/token");
    } catch (err) {
      if (err instanceof HttpError && err.status === 404 && /No route/i.test(err.message)) {
        throw new NotSupportedError(
          `The service at ${this.baseUrl} has no team tokens (/execution-env/token): use your own API token (fused.api.accessToken())`,
        );
      }
      throw err;
    }
  }

  /** Lists a folder (`fd://` URLs). */
  list(path: string): Promise<string[]>;
  /** Lists a folder with details. */
  list(path: string, opts: { details: true }): Promise<ListDetails[]>;
  /** Lists a folder. */
  list(path: string, opts: { details?: boolean } = {}): Promise<string[] | ListDetails[]> {
    return opts.details
      ? list(path, { transport: this.transport, details: true })
      : list(path, { transport: this.transport });
  }

  /** Downloads a file into memory. */
  get(path: string): Promise<Uint8Array> {
    return get(path, this.#with({}));
  }

  /** Downloads a file to a local path. */
  download(path: string, localPath: string): Promise<string> {
    return download(path, localPath, this.#with({}));
  }

  /** Uploads a local file, bytes or an Arrow table. */
  upload(
    source: UploadSource,
    remotePath: string,
    opts?: MethodOptions<UploadOptions>,
  ): Promise<string> {
    return upload(source, remotePath, this.#with(opts));
  }

  /** Deletes a file or folder. */
  delete(path: string, opts?: MethodOptions<DeleteOptions>): Promise<boolean> {
    return deletePath(path, this.#with(opts));
  }

  /** A signed URL of a file. */
  signUrl(path: string, opts?: MethodOptions<SignOptions>): Promise<string> {
    return signUrl(path, this.#with(opts));
  }

  /** Signed URLs of every file under a folder. */
  signUrlPrefix(path: string, opts?: MethodOptions<SignOptions>): Promise<Record<string, string>> {
    return signUrlPrefix(path, this.#with(opts));
  }

  /** Saved UDFs keyed by name (or id, or slug). */
  getUdfs(opts?: MethodOptions<GetUdfsOptions>): Promise<Record<string, Udf>> {
    return getUdfs(this.#with(opts));
  }

  /** The registry record of a saved UDF. */
  getUdf(ref: string): Promise<SavedUdf> {
    return getSavedUdf(ref, this.#with({}));
  }

  /** Loads a saved UDF. */
  loadUdf(ref: string): Promise<Udf> {
    return loadSavedUdf(ref, this.#with({}));
  }

  /** Creates a share token for a saved UDF. */
  createUdfAccessToken(
    udf?: string | MethodOptions<CreateUdfAccessTokenOptions>,
    udfName?: string,
    opts?: MethodOptions<CreateUdfAccessTokenOptions>,
  ): Promise<UdfAccessToken> {
    if (typeof udf === "object" && udf !== null) {
      return createUdfAccessToken(undefined, udfName, this.#with({ ...udf, ...opts }));
    }
    return createUdfAccessToken(udf, udfName, this.#with(opts));
  }

  /** Your share tokens. */
  getUdfAccessTokens(opts?: MethodOptions<GetUdfAccessTokensOptions>): Promise<UdfAccessToken[]> {
    return getUdfAccessTokens(this.#with(opts));
  }

  /** One share token. */
  getUdfAccessToken(token: string): Promise<UdfAccessToken> {
    return getUdfAccessToken(token, this.#with({}));
  }

  /** Changes a share token. */
  updateUdfAccessToken(token: string, fields: UdfAccessTokenFields): Promise<UdfAccessToken> {
    return updateUdfAccessToken(token, this.#with(fields));
  }

  /** Deletes a share token. */
  deleteUdfAccessToken(token: string): Promise<UdfAccessToken> {
    return deleteUdfAccessToken(token, this.#with({}));
  }

  /** Starts a batch job. */
  startJob(config: Udf | JobConfig, opts?: MethodOptions<StartJobOptions>): Promise<BatchJob> {
    return startJob(config, this.#with(opts));
  }

  /** The job history. */
  getJobs(opts?: MethodOptions<GetJobsOptions>): Promise<JobSummary[]> {
    return getJobs(this.#with(opts));
  }

  /** The status of a job. */
  getStatus(job: JobRef): Promise<BatchJob> {
    return getStatus(job, this.#with({}));
  }

  /** The log records of a job. */
  getLogs(job: JobRef, opts?: MethodOptions<GetLogsOptions>): Promise<JobLog[]> {
    return getLogs(job, this.#with(opts));
  }

  /** Prints a job's logs as they arrive. */
  tailLogs(job: JobRef, opts?: MethodOptions<TailLogsOptions>): Promise<void> {
    return tailLogs(job, this.#with(opts));
  }

  /** Waits until a job has finished. */
  waitForJob(job: JobRef, opts?: MethodOptions<WaitForJobOptions>): Promise<BatchJob> {
    return waitForJob(job, this.#with(opts));
  }

  /** Cancels a job. */
  cancelJob(job: JobRef): Promise<BatchJob> {
    return cancelJob(job, this.#with({}));
  }

  /** How long a job ran, in seconds as fused-py. */
  getExecTime(job: JobRef): Promise<number> {
    return getExecTime(job, this.#with({}));
  }

  /** The decoded results of a finished job. */
  getJobResults(job: JobRef): Promise<UdfResult[]> {
    return getJobResults(job, this.#with({}));
  }
}

/**
 * `fused.api`: the typed HTTP client of a Fused-compatible service (the embedded `fused serve` by
 * default). Importing this module also installs the remote engine of `fused.run` and the loader
 * of saved UDFs of `fused.load`.
 *
 * @example
 * ```ts ignore
 * import * as api from "./mod.ts";
 * await api.login({ token: "fus_...", baseUrl: "http://127.0.0.1:8783/v1" });
 * console.log((await api.whoami()).email, await api.list("fd://"));
 * ```
 *
 * @module
 */
import { setRemoteUdfLoader } from "../load.ts";
import { installEngine } from "../run.ts";
import { runBatch, UdfJob } from "./jobs.ts";
import { remoteRun } from "./realtime.ts";
import { setUdfServiceHooks } from "../udf.ts";
import {
  catalogUrl,
  createAccessToken,
  deleteCache,
  deleteObjectCache,
  deleteSaved,
  getAccessTokens,
  loadSavedUdf,
  toFused,
} from "./udfs.ts";

export {
  accessToken,
  defaultServerDataDir,
  login,
  type LoginOptions,
  type LoginResult,
  logout,
  whoami,
} from "./credentials.ts";
export {
  type ByteRange,
  delete,
  type DeleteOptions,
  download,
  get,
  type GetOptions,
  list,
  type SignOptions,
  signUrl,
  signUrlPrefix,
  upload,
  type UploadOptions,
  type UploadSource,
} from "./files.ts";
export { FusedAPI, type FusedAPIOptions, type MethodOptions } from "./fused_api.ts";
export {
  BatchJob,
  cancelJob as jobCancel,
  getExecTime as jobGetExecTime,
  getJobResults as jobGetResults,
  getJobs,
  type GetJobsOptions,
  getLogs as jobGetLogs,
  type GetLogsOptions,
  getStatus as jobGetStatus,
  type JobConfig,
  type JobRef,
  type LineWriter,
  printLogs as jobPrintLogs,
  runBatch,
  type RunBatchOptions,
  startJob,
  type StartJobOptions,
  tailLogs as jobTailLogs,
  type TailLogsOptions,
  UdfJob,
  waitForJob as jobWaitForJob,
  type WaitForJobOptions,
} from "./jobs.ts";
export { realtimeClientId } from "./instances.ts";
export {
  listPages,
  type PublishedPage,
  publishPage,
  type PublishPageOptions,
  unpublishPage,
} from "./pages.ts";
export {
  type CoreRunOptions,
  remoteRun,
  type RemoteRunRequest,
  runCode,
  type RunCodeOptions,
  runFile,
  runSharedFile,
  runSharedTile,
  runTile,
  serializeParameters,
} from "./realtime.ts";
export type {
  JobLog,
  JobStatus,
  JobSummary,
  ListDetails,
  SavedUdf,
  UdfAccessToken,
  User,
} from "./schemas.ts";
export {
  createUdfAccessToken,
  type CreateUdfAccessTokenOptions,
  deleteUdfAccessToken,
  getUdfAccessToken,
  getUdfAccessTokens,
  type GetUdfAccessTokensOptions,
  tokenFileUrl,
  tokenTileUrl,
  type TokenUrlOptions,
  type UdfAccessTokenFields,
  updateUdfAccessToken,
} from "./tokens.ts";
export {
  type ApiCallOptions,
  type AuthMode,
  type FusedMetadata,
  type QueryValue,
  type RequestOptions,
  Transport,
  type TransportInit,
} from "./transport.ts";
export type { AuthToken } from "./_token_store.ts";
export {
  catalogUrl,
  createAccessToken,
  type CreateAccessTokenOptions,
  deleteCache,
  deleteObjectCache,
  deleteSaved,
  getAccessTokens,
  getSavedUdf,
  getUdfs,
  type GetUdfsOptions,
  isShareToken,
  loadSavedUdf,
  toFused,
  type ToFusedOptions,
} from "./udfs.ts";

installEngine("remote", { run: (udf, call) => remoteRun(udf, call) });
installEngine("batch", {
  run: (udf, call) =>
    runBatch(udf, {
      instanceType: call.instanceType!,
      parameters: call.parameters,
      signal: call.signal,
    }),
});
setRemoteUdfLoader((ref, options) => loadSavedUdf(ref, { signal: options.signal }));
setUdfServiceHooks({
  toFused: (u, o) => toFused(u, o),
  createAccessToken: (u) => createAccessToken(u),
  getAccessTokens: (u) => getAccessTokens(u),
  deleteSaved: (u) => deleteSaved(u),
  deleteCache: (u) => deleteCache(u),
  deleteObjectCache: (folder) => deleteObjectCache({ folder }),
  catalogUrl: (u) => catalogUrl(u),
  job: (u, parameters) => new UdfJob(u, parameters),
});

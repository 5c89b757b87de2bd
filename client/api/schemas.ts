/**
 * Shapes of the service's JSON answers, as zod schemas; the client's types come from them. Objects
 * are loose (unknown fields are kept) so a newer service does not break an older client.
 *
 * @module
 */
import { z } from "zod";

/** `GET /user/self`: the logged-in user. */
export const UserSchema = z.looseObject({
  id: z.string().optional(),
  email: z.string(),
  handle: z.string().nullish(),
  team: z.string().nullish(),
  is_admin: z.boolean().optional(),
});

/** The logged-in user, as `whoami()` returns it. */
export type User = z.infer<typeof UserSchema>;

/** A saved UDF as the registry answers it: the Udf JSON travels as text in `udf_body`. */
export const SavedUdfSchema = z.looseObject({
  id: z.string(),
  slug: z.string(),
  udf_body: z.string(),
  udf_type: z.string().nullish(),
  allow_public_read: z.boolean().nullish(),
  allow_public_list: z.boolean().nullish(),
});

/** A saved UDF record. */
export type SavedUdf = z.infer<typeof SavedUdfSchema>;

/** A page of saved UDFs. */
export const SavedUdfListSchema = z.array(SavedUdfSchema);

/** One realtime instance of `GET /realtime-instance/available`. */
export const RealtimeInstanceSchema = z.looseObject({
  client_id: z.string().min(1),
  preference_rank: z.number().nullish(),
});

/** The list of realtime instances. */
export const RealtimeInstanceListSchema = z.array(RealtimeInstanceSchema);

/** A share token (Fused's `UdfAccessToken`). */
export const UdfAccessTokenSchema = z.looseObject({
  token: z.string().min(1),
  udf_id: z.string().nullish(),
  udf_email: z.string().nullish(),
  udf_slug: z.string().nullish(),
  enabled: z.boolean(),
  owning_user_id: z.string().nullish(),
  client_id: z.string().nullish(),
  public_read: z.boolean().nullish(),
  access_scope: z.string().nullish(),
  cache: z.boolean().nullish(),
  metadata_json: z.record(z.string(), z.unknown()).nullish(),
  last_updated: z.string().nullish(),
});

/** A share token. */
export type UdfAccessToken = z.infer<typeof UdfAccessTokenSchema>;

/** A page of share tokens. */
export const UdfAccessTokenListSchema = z.array(UdfAccessTokenSchema);

/** One entry of `list(path, { details: true })` (Fused's `ListDetails`). */
export const ListDetailsSchema = z.looseObject({
  url: z.string(),
  file_name: z.string().nullish(),
  is_directory: z.boolean().default(false),
  size: z.number().nullish(),
  last_modified: z.string().nullish(),
});

/** Details of one file or folder. */
export type ListDetails = z.infer<typeof ListDetailsSchema>;

/** `GET /files/list`: URLs. */
export const FileListSchema = z.array(z.string());

/** `GET /files/list-details`. */
export const FileDetailsListSchema = z.array(ListDetailsSchema);

/** `GET /files/sign_prefix`: blob key → signed URL. */
export const SignedPrefixSchema = z.record(z.string(), z.string());

/** A batch job's status (Fused's `RunResponse` of `POST /run`). */
export const JobStatusSchema = z.looseObject({
  job_id: z.string(),
  job_name: z.string().nullish(),
  instance_id: z.string().nullish(),
  instance_type: z.string().nullish(),
  status: z.string().nullish(),
  terminal_status: z.boolean().nullish(),
  job_status: z.string().nullish(),
  job_status_date: z.string().nullish(),
  finished_job_status: z.boolean().nullish(),
  total_tasks: z.number().nullish(),
  finished_tasks: z.number().nullish(),
  error: z.string().nullish(),
});

/** A batch job's status. */
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** One entry of the job history (`GET /job/self`). */
export const JobSummarySchema = z.looseObject({
  id: z.string(),
  job_status: z.string().nullish(),
  job_status_date: z.string().nullish(),
  creation_date: z.string().nullish(),
  instance_type: z.string().nullish(),
});

/** One job of the history. */
export type JobSummary = z.infer<typeof JobSummarySchema>;

/** A page of the job history. */
export const JobSummaryListSchema = z.array(JobSummarySchema);

/** One log record of a job (`GET /logs/{job_id}`). */
export const JobLogSchema = z.looseObject({
  message: z.string(),
  timestamp: z.number(),
});

/** One log line of a job, with its time in milliseconds since the epoch. */
export type JobLog = z.infer<typeof JobLogSchema>;

/** The log records of a job. */
export const JobLogListSchema = z.array(JobLogSchema);

/** One result file of a job (`GET /run/by-id/{id}/results`). */
export const JobResultSchema = z.looseObject({ name: z.string(), url: z.string() });

/** The result files of a job. */
export const JobResultListSchema = z.array(JobResultSchema);

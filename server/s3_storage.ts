/**
 * `fd://` storage on S3-compatible object storage (AWS S3, MinIO, Cloudflare R2; s3rver in the
 * tests), through `@aws-sdk/client-s3`. Chosen with `fused serve --storage s3://BUCKET/PREFIX`
 * or `FUSED_STORAGE_URL`; the endpoint, region and keys come from the standard variables
 * `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (the SDK's
 * own lookup, so profiles and instance roles work too).
 *
 * Folders are key prefixes, as S3 has none: a folder exists while a file is under it. Writes
 * stream through `@aws-sdk/lib-storage`'s multipart `Upload` (8 MiB parts, 4 in flight: memory
 * stays near 32 MiB whatever the file's size), and S3 shows an object only once its upload
 * completes, so a partial upload is never visible; a failed or refused one is aborted. (A
 * process killed mid-upload leaves invisible parts behind: production buckets want a lifecycle
 * rule that aborts incomplete multipart uploads after a day.) Reads can be ranged, and signed
 * URLs are real S3 presigned URLs (`@aws-sdk/s3-request-presigner`), fetched from the store
 * directly rather than through the service.
 *
 * @module
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { ValidationError } from "../client/errors.ts";
import { BackendUnavailableError, isConnectionError, shortMessage } from "./backend_errors.ts";
import {
  type FileInfo,
  FileNotFoundError,
  type FileStream,
  LocalStorage,
  RangeNotSatisfiableError,
  type ReadOptions,
  type Storage,
  TooLargeError,
  type WriteOptions,
} from "./storage.ts";

/** Bytes of a multipart part (S3's minimum is 5 MiB). */
const PART_SIZE = 8 * 1024 * 1024;
/** Parts uploaded at once. */
const QUEUE_SIZE = 4;
/** Keys per DeleteObjects call (S3's limit). */
const DELETE_BATCH = 1000;

/** Where an `s3://` storage URL points. */
export interface S3Location {
  /** Bucket name. */
  bucket: string;
  /** Key prefix of the store's root ("" or ending in `/`). */
  prefix: string;
}

/** Parses `s3://BUCKET/PREFIX` (the prefix may be empty). */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) {
    throw new ValidationError(
      `Cannot read the storage URL "${url}": write it as s3://BUCKET/PREFIX (a lower-case bucket name, an optional key prefix)`,
    );
  }
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((s) => s === "." || s === "..")) {
    throw new ValidationError(`The storage URL "${url}" has a "." or ".." segment: remove it`);
  }
  return { bucket: m[1], prefix: prefix === "" ? "" : `${prefix}/` };
}

/** Options of `S3Storage`. */
export interface S3StorageOptions {
  /** Client settings on top of the SDK's environment lookup (tests pass endpoint and keys). */
  client?: S3ClientConfig;
}

/** The SDK's error name or code. */
function errorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown; code?: unknown };
  return String(e?.Code ?? e?.name ?? e?.code ?? "");
}

function isNotFound(err: unknown): boolean {
  const name = errorName(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return name === "NoSuchKey" || name === "NotFound" || (status === 404 && name !== "NoSuchBucket");
}

const CREDENTIAL_ERRORS = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "CredentialsProviderError",
  "ExpiredToken",
  "InvalidToken",
]);

/** Storage on an S3 bucket under a key prefix (see the module notes). */
export class S3Storage implements Storage {
  /** The bucket. */
  readonly bucket: string;
  /** The root's key prefix ("" or ending in `/`). */
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #where: string;

  /** A store at `s3://BUCKET/PREFIX`. */
  constructor(url: string, options: S3StorageOptions = {}) {
    const { bucket, prefix } = parseS3Url(url);
    this.bucket = bucket;
    this.prefix = prefix;
    const endpoint = options.client?.endpoint ?? envOrUndefined("AWS_ENDPOINT_URL");
    this.#client = new S3Client({
      region: envOrUndefined("AWS_REGION") ?? "us-east-1",
      // A custom endpoint (MinIO, s3rver, R2) is addressed by path, not by a bucket host name.
      forcePathStyle: endpoint !== undefined,
      ...options.client,
    });
    this.#where = `s3://${bucket}/${prefix}${endpoint ? ` at ${endpoint}` : ""}`;
  }

  #key(key: string): string {
    return `${this.prefix}${key}`;
  }

  /** Runs an S3 call, turning unreachable servers and refused credentials into clear errors. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof FileNotFoundError || err instanceof ValidationError) throw err;
      if (err instanceof TooLargeError) throw err;
      const name = errorName(err);
      if (CREDENTIAL_ERRORS.has(name)) {
        throw new BackendUnavailableError(
          `The object store ${this.#where} refused the credentials (${name}: ${
            shortMessage(err)
          }): fix AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
        );
      }
      if (name === "NoSuchBucket") {
        throw new BackendUnavailableError(
          `The bucket "${this.bucket}" does not exist at ${this.#where}: create it, or fix --storage or FUSED_STORAGE_URL`,
        );
      }
      if (isConnectionError(err)) {
        throw new BackendUnavailableError(
          `Cannot reach the object store ${this.#where} (${
            shortMessage(err)
          }): check that it runs and that AWS_ENDPOINT_URL is right`,
        );
      }
      throw err;
    }
  }

  /** Checks that the bucket answers with these credentials (at start, for a clear message). */
  async check(): Promise<void> {
    await this.#call(() =>
      this.#client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }),
      )
    );
  }

  async *#pages(prefix: string): AsyncIterable<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.#call(() =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        )
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #head(key: string): Promise<FileInfo | null> {
    if (key === "") return null;
    try {
      const head = await this.#call(() =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }))
      );
      return {
        key,
        isDirectory: false,
        size: head.ContentLength ?? 0,
        lastModified: head.LastModified ?? null,
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async #isFolder(key: string): Promise<boolean> {
    if (key === "") return true;
    const page = await this.#call(() =>
      this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.#key(key)}/`,
          MaxKeys: 1,
        }),
      )
    );
    return (page.Contents?.length ?? 0) > 0;
  }

  /** {@inheritDoc Storage.stat} */
  async stat(key: string): Promise<FileInfo | null> {
    if (key === "") return { key, isDirectory: true, size: null, lastModified: null };
    const file = await this.#head(key);
    if (file) return file;
    return await this.#isFolder(key)
      ? { key, isDirectory: true, size: null, lastModified: null }
      : null;
  }

  /**
   * {@inheritDoc Storage.list}
   *
   * The folder's keys are listed in full and grouped here rather than with S3's `Delimiter`:
   * s3rver leaves out the common prefix of a folder that holds only folders (`jobs/` when every
   * key is `jobs/<id>/<file>`), and a listing must not depend on the server getting that right.
   * The cost is one request per 1,000 keys under the folder.
   */
  async list(key: string): Promise<FileInfo[]> {
    const base = key === "" ? this.prefix : `${this.#key(key)}/`;
    const files: FileInfo[] = [];
    const folders = new Set<string>();
    for await (const page of this.#pages(base)) {
      for (const object of page.Contents ?? []) {
        const rel = object.Key!.slice(base.length);
        if (rel === "") continue;
        const slash = rel.indexOf("/");
        if (slash >= 0) {
          folders.add(rel.slice(0, slash));
          continue;
        }
        files.push({
          key: key === "" ? rel : `${key}/${rel}`,
          isDirectory: false,
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? null,
        });
      }
    }
    const out = [
      ...files,
      ...[...folders].filter((f) => f !== "").map((f) => ({
        key: key === "" ? f : `${key}/${f}`,
        isDirectory: true,
        size: null,
        lastModified: null,
      })),
    ];
    if (out.length === 0 && key !== "") throw new FileNotFoundError(key);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** {@inheritDoc Storage.walk} */
  async *walk(key: string): AsyncIterable<FileInfo> {
    const file = await this.#head(key);
    if (file) {
      yield file;
      return;
    }
    const base = key === "" ? this.prefix : `${this.#key(key)}/`;
    for await (const page of this.#pages(base)) {
      for (const object of page.Contents ?? []) {
        const rel = object.Key!.slice(this.prefix.length);
        if (rel === "" || rel.endsWith("/")) continue;
        yield {
          key: rel,
          isDirectory: false,
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? null,
        };
      }
    }
  }

  /** {@inheritDoc Storage.read} */
  async read(key: string, options: ReadOptions = {}): Promise<FileStream> {
    if (key === "") throw new FileNotFoundError(key);
    const { range } = options;
    if (range && (range.start < 0 || (range.end !== undefined && range.end < range.start))) {
      throw new ValidationError(
        `Invalid byte range ${range.start}-${
          range.end ?? ""
        }: the start must be 0 or more and not after the end`,
      );
    }
    try {
      const object = await this.#call(() =>
        this.#client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: this.#key(key),
            Range: range ? `bytes=${range.start}-${range.end ?? ""}` : undefined,
          }),
        )
      );
      const body = object.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
      const size = object.ContentLength ?? 0;
      const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(object.ContentRange ?? "");
      if (!range || !served) return { body, size };
      return {
        body,
        size,
        range: { start: Number(served[1]), end: Number(served[2]), total: Number(served[3]) },
      };
    } catch (err) {
      if (isNotFound(err)) throw new FileNotFoundError(key);
      if (errorName(err) === "InvalidRange") {
        throw new RangeNotSatisfiableError(key, (await this.#head(key))?.size ?? 0);
      }
      throw err;
    }
  }

  /** {@inheritDoc Storage.write} */
  async write(
    key: string,
    body: ReadableStream<Uint8Array>,
    options: WriteOptions = {},
  ): Promise<FileInfo> {
    if (key === "") {
      throw new ValidationError(
        "Cannot write to the storage root: give a file name (fd://folder/file)",
      );
    }
    if (await this.#isFolder(key)) {
      throw new ValidationError(`fd://${key} is a folder: upload to a file path inside it`);
    }
    // As on a disk, a file cannot also be a folder: refuse a path through an existing file.
    const segments = key.split("/");
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join("/");
      if (await this.#head(parent)) {
        throw new ValidationError(
          `fd://${parent} is a file, so fd://${key} cannot be created inside it: choose another path`,
        );
      }
    }
    let written = 0;
    let failure: unknown;
    const limit = options.maxBytes ?? Infinity;
    const reader = body.getReader();
    // Pulled by the upload; a failure of the source (a client gone, the limit passed) is kept,
    // since the upload then reports its own abort instead.
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          written += value.byteLength;
          if (written > limit) throw new TooLargeError(limit);
          controller.enqueue(value);
        } catch (err) {
          failure = err;
          controller.error(err);
          reader.cancel(err).catch(() => {});
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.bucket, Key: this.#key(key), Body: counted },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      // On failure the multipart upload is aborted, so its parts do not linger either.
      leavePartsOnError: false,
    });
    try {
      await this.#call(() => upload.done());
    } catch (err) {
      throw failure ?? err;
    }
    return (await this.#head(key)) ??
      { key, isDirectory: false, size: written, lastModified: new Date() };
  }

  /** {@inheritDoc Storage.delete} */
  async delete(key: string, options: { maxDepth?: number | null } = {}): Promise<boolean> {
    if (key === "") {
      throw new ValidationError("Cannot delete the storage root: name a file or folder inside it");
    }
    if (await this.#head(key)) {
      await this.#call(() =>
        this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }))
      );
      return true;
    }
    const base = `${this.#key(key)}/`;
    const keys: string[] = [];
    let depth = 0;
    for await (const page of this.#pages(base)) {
      for (const object of page.Contents ?? []) {
        keys.push(object.Key!);
        depth = Math.max(depth, object.Key!.slice(base.length).split("/").length);
      }
    }
    if (keys.length === 0) return false;
    const maxDepth = options.maxDepth ?? null;
    if (maxDepth !== null && depth > maxDepth) {
      throw new ValidationError(
        `fd://${key}/ is ${depth} levels deep, more than max_depth=${maxDepth}: raise max_depth (or "unlimited") to delete it`,
      );
    }
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      const result = await this.#call(() =>
        this.#client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        )
      );
      if (result.Errors?.length) {
        const first = result.Errors[0];
        throw new Error(
          `Could not delete ${result.Errors.length} object(s) under fd://${key}/, e.g. ${first.Key}: ${first.Code} ${first.Message}`,
        );
      }
    }
    return true;
  }

  /**
   * A presigned GET URL of a file, valid for `seconds`: anyone holding it reads the file
   * straight from the store until it expires.
   */
  async signUrl(key: string, seconds: number): Promise<string> {
    return await this.#call(() =>
      getSignedUrl(
        this.#client,
        new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }),
        { expiresIn: seconds },
      )
    );
  }

  /** Closes the client's connections. */
  close(): void {
    this.#client.destroy();
  }
}

/**
 * The store of `--storage` / `FUSED_STORAGE_URL`: `s3://BUCKET/PREFIX` (checked at once, so a
 * wrong bucket or key is a clear error at start), a folder path, or, when null, `localRoot`.
 */
export async function openStorage(url: string | null, localRoot: string): Promise<Storage> {
  if (url === null || url === "") return new LocalStorage(localRoot);
  if (url.startsWith("s3://")) {
    const store = new S3Storage(url);
    try {
      await store.check();
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new ValidationError(
      `Unsupported storage URL "${url}": use s3://BUCKET/PREFIX, a folder path, or leave it out for the data folder`,
    );
  }
  return new LocalStorage(url);
}

/**
 * The URL of a store beside the `fd://` store (`s3://b/fused` → `s3://b/fused.runs`, a folder
 * `/srv/store` → `/srv/store.runs`): the service's own objects, which no `fd://` path reaches.
 */
export function siblingStoreUrl(storageUrl: string, suffix: string): string {
  if (storageUrl.startsWith("s3://")) {
    const { bucket, prefix } = parseS3Url(storageUrl);
    return `s3://${bucket}/${prefix === "" ? ".fused" : prefix.slice(0, -1)}.${suffix}`;
  }
  return `${storageUrl.replace(/\/+$/, "")}.${suffix}`;
}

function envOrUndefined(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

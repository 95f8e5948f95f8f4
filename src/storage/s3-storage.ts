import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat as statLocal } from "node:fs/promises";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { SluiceError } from "../errors.js";
import { type CircuitBreaker, createCircuitBreaker } from "../resilience/circuit-breaker.js";
import { type RetryOptions, withRetry } from "../resilience/retry.js";
import { isTransientS3Error, s3Error, s3ErrorName, s3HttpStatus } from "./s3-errors.js";
import type { Storage, StorageEntry } from "./storage.js";

/** How to reach an S3-compatible service. Credentials default to the AWS SDK chain (env, profile, instance role). */
export interface S3ConnectionOptions {
  /** e.g. `http://127.0.0.1:9000` for MinIO or a test server; omit for AWS. */
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  /** `bucket` in the path instead of the host name; needed by most S3-compatible servers. */
  readonly forcePathStyle?: boolean | undefined;
  readonly credentials?:
    | {
        readonly accessKeyId: string;
        readonly secretAccessKey: string;
        readonly sessionToken?: string | undefined;
      }
    | undefined;
}

/** Options of {@link s3Storage}. */
export interface S3StorageOptions extends S3ConnectionOptions {
  readonly bucket: string;
  /** Key prefix the storage is rooted at (no leading/trailing `/` needed). */
  readonly prefix?: string | undefined;
  /** Retries of transient failures per operation. Default `{ max: 4, baseMs: 200, maxDelayMs: 10_000 }`. */
  readonly retry?: Partial<Pick<RetryOptions, "max" | "baseMs" | "maxDelayMs" | "onRetry">> | undefined;
  /** The storage's circuit breaker. Default 5 consecutive failed operations open it for 60 s. */
  readonly circuitBreaker?:
    | { readonly failureThreshold?: number; readonly openMs?: number; readonly now?: () => number }
    | undefined;
  /** Multipart part size for uploads (min 5 MiB). Default 8 MiB. */
  readonly partSizeBytes?: number | undefined;
  /** Keys per ListObjectsV2 page (1..1000). Default 1000. */
  readonly listPageSize?: number | undefined;
  /**
   * Flexible checksums on requests: `when_supported` (the SDK default for AWS) or `when_required`
   * (default when a custom `endpoint` is set, as many S3-compatible servers reject the newer headers).
   */
  readonly checksums?: "when_supported" | "when_required" | undefined;
  /** TCP connect timeout. Default 10 s. */
  readonly connectTimeoutMs?: number | undefined;
  /** A socket idle for this long is dropped (and the call retried). Default 120 s. */
  readonly idleTimeoutMs?: number | undefined;
}

/** A Storage on an S3 bucket prefix. */
export interface S3Storage extends Storage {
  readonly kind: "s3";
  readonly bucket: string;
  /** Normalized key prefix, without leading/trailing `/` ("" for the bucket root). */
  readonly prefix: string;
  /** The breaker guarding this storage's calls. */
  readonly breaker: CircuitBreaker;
  /** Releases the HTTP connections. */
  close(): void;
}

const MIB = 1024 * 1024;

/**
 * Storage on an S3 (or S3-compatible) bucket prefix. Every call is retried on transient failures
 * (throttling, 5xx, timeouts, dropped connections) and guarded by a per-storage circuit breaker.
 * Exclusive writes send `If-None-Match: *` after a HEAD pre-check (see `writeFile`). Note: `stat` on a
 * missing bucket returns null (HEAD answers carry no error code); list, read and write name the bucket.
 *
 * @example
 * const landing = s3Storage({ bucket: "acme-landing", prefix: "sluice", region: "eu-west-1" });
 * for await (const entry of landing.list("in/orders")) console.log(entry.path, entry.etag);
 */
export function s3Storage(options: S3StorageOptions): S3Storage {
  const bucket = options.bucket;
  if (!bucket || bucket.includes("/")) {
    throw new SluiceError("CONFIG_INVALID", `"${bucket}" is not an S3 bucket name`);
  }
  const rootPrefix = normalizePath(options.prefix ?? "", true);
  const root = `s3://${bucket}${rootPrefix ? `/${rootPrefix}` : ""}`;
  const partSize = Math.max(5 * MIB, options.partSizeBytes ?? 8 * MIB);
  const pageSize = Math.min(1000, Math.max(1, options.listPageSize ?? 1000));
  const retry: RetryOptions = {
    max: options.retry?.max ?? 4,
    baseMs: options.retry?.baseMs ?? 200,
    maxDelayMs: options.retry?.maxDelayMs ?? 10_000,
    onRetry: options.retry?.onRetry,
    isTransient: isTransientS3Error,
  };
  const breaker = createCircuitBreaker({
    name: `S3 ${root}`,
    failureThreshold: options.circuitBreaker?.failureThreshold ?? 5,
    openMs: options.circuitBreaker?.openMs ?? 60_000,
    now: options.circuitBreaker?.now,
    isFailure: isTransientS3Error,
  });
  // Calls we can replay go through `client` (no SDK retries; withRetry decides). Uploads of streams
  // cannot be replayed as a whole, so `uploadClient` keeps the SDK's per-request (per-part) retries.
  const client = new S3Client(clientConfig(options, 1));
  const uploadClient = new S3Client(clientConfig(options, Math.max(1, retry.max + 1)));
  // Conditional writes (If-None-Match: *) are sent unless the server answered 501 to them once.
  let conditionalWrites = true;

  const keyOf = (path: string): string => {
    const clean = normalizePath(path, false);
    return rootPrefix ? `${rootPrefix}/${clean}` : clean;
  };
  const where = (key: string): string => `s3://${bucket}/${key}`;

  /** One logical operation: mapped errors, retries, breaker. */
  const call = <T>(operation: string, key: string, fn: (attempt: number) => Promise<T>): Promise<T> =>
    breaker.run(() =>
      withRetry(async (attempt) => {
        try {
          return await fn(attempt);
        } catch (error) {
          throw s3Error(error, operation, where(key));
        }
      }, retry),
    );

  /** HEAD without retries or breaker: for use inside another call. */
  const rawHead = async (key: string): Promise<StorageEntry | null> => {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return entry(key, out.ContentLength, out.LastModified, out.ETag);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  };
  const head = (key: string): Promise<StorageEntry | null> => call("HeadObject", key, () => rawHead(key));

  const entry = (key: string, size?: number, modified?: Date, etag?: string): StorageEntry => ({
    path: rootPrefix ? key.slice(rootPrefix.length + 1) : key,
    size: size ?? 0,
    mtimeMs: modified?.getTime() ?? 0,
    etag: unquote(etag),
  });

  const notFound = (key: string, error: unknown): SluiceError =>
    new SluiceError("FILE_NOT_FOUND", `${where(key)}: no such object`, { cause: error });

  const upload = async (key: string, body: Readable, exclusive: boolean): Promise<void> => {
    const params = {
      Bucket: bucket,
      Key: key,
      Body: body,
      ...(exclusive && conditionalWrites ? { IfNoneMatch: "*" } : {}),
    };
    await new Upload({
      client: uploadClient,
      params,
      partSize,
      queueSize: 4,
      leavePartsOnError: false,
    }).done();
  };

  /** Whether `path` names exactly `key` (keys with empty, `.` or `..` parts would be addressed as others). */
  const addressable = (path: string, key: string): boolean => {
    try {
      return keyOf(path) === key;
    } catch {
      return false;
    }
  };

  const getStream = (key: string): Promise<Readable> =>
    call("GetObject", key, async () => {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!(out.Body instanceof Readable)) throw new Error("GetObject returned no stream body");
        return out.Body;
      } catch (error) {
        if (isNotFound(error)) throw notFound(key, error);
        throw error;
      }
    });

  /**
   * Copies through this client when the server could not find the source of a server-side copy that a
   * HEAD finds (some S3-compatible servers decode x-amz-copy-source wrongly: s3rver leaves %2B, %26
   * and %3D encoded). Throws `error` when the source is really missing.
   */
  const copyThroughClient = async (src: string, dst: string, error: unknown): Promise<void> => {
    if (!(error instanceof SluiceError && error.code === "FILE_NOT_FOUND") || !(await head(src))) throw error;
    const body = await getStream(src);
    await breaker.run(async () => {
      try {
        await upload(dst, body, false);
      } catch (uploadError) {
        throw s3Error(uploadError, "Upload", where(dst));
      }
    });
  };

  async function* list(
    prefix: string,
    options: { includeRefused?: boolean } = {},
  ): AsyncGenerator<StorageEntry> {
    const includeRefused = options.includeRefused === true;
    const clean = normalizePath(prefix, true);
    const full = [rootPrefix, clean].filter((p) => p !== "").join("/");
    const listPrefix = full === "" ? "" : `${full}/`;
    let token: string | undefined;
    do {
      const page = await call("ListObjectsV2", listPrefix, () =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: listPrefix,
            ContinuationToken: token,
            MaxKeys: pageSize,
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        // Keys ending in "/" are folder markers made by consoles and tools, not files.
        if (!object.Key || object.Key.endsWith("/")) continue;
        const found = entry(object.Key, object.Size, object.LastModified, object.ETag);
        if (addressable(found.path, object.Key)) yield found;
        else if (includeRefused) yield { ...found, refused: { reason: UNADDRESSABLE, folder: false } };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  return {
    kind: "s3",
    root,
    bucket,
    prefix: rootPrefix,
    breaker,
    list,
    stat: (path) => head(keyOf(path)),
    createReadStream: (path) => getStream(keyOf(path)),
    async readFile(path) {
      const key = keyOf(path);
      return call("GetObject", key, async () => {
        try {
          const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
        } catch (error) {
          if (isNotFound(error)) throw notFound(key, error);
          throw error;
        }
      });
    },
    async writeFile(path, data, writeOptions = {}) {
      const key = keyOf(path);
      const exclusive = writeOptions.exclusive === true;
      // Cheap pre-check: most exclusive writes that lose do so here, without sending the body.
      if (exclusive && (await head(key))) return false;
      if (typeof data !== "string" && !Buffer.isBuffer(data)) {
        // A stream can be sent once only: no replay here (the SDK still retries each part).
        return breaker.run(async () => {
          try {
            await upload(key, data, exclusive);
            return true;
          } catch (error) {
            if (exclusive && isPreconditionFailed(error)) return false;
            throw s3Error(error, "Upload", where(key));
          }
        });
      }
      const body = typeof data === "string" ? Buffer.from(data) : data;
      if (!exclusive) {
        await call("PutObject", key, () =>
          client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })),
        );
        return true;
      }
      const md5 = createHash("md5").update(body).digest("hex");
      return call("PutObject", key, async (attempt) => {
        // With If-None-Match: * the service itself refuses to overwrite (atomic, as Delta commits need).
        // Servers that ignore the header (s3rver, older MinIO) only get the HEAD above: two writers racing
        // between that HEAD and this PUT could both "win"; the last one's content stays.
        const put = (conditional: boolean) =>
          client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ...(conditional ? { IfNoneMatch: "*" } : {}),
            }),
          );
        try {
          try {
            await put(conditionalWrites);
          } catch (error) {
            if (!conditionalWrites || s3HttpStatus(error) !== 501) throw error;
            conditionalWrites = false; // the server does not implement conditional writes: HEAD-then-PUT
            if (await rawHead(key)) return false;
            await put(false);
          }
          return true;
        } catch (error) {
          if (!isPreconditionFailed(error)) throw error;
          // A retry after a lost response finds our own earlier write: same content means we won.
          if (attempt > 1 && (await rawHead(key))?.etag === md5) return true;
          return false;
        }
      });
    },
    async putLocalFile(localPath, path) {
      const key = keyOf(path);
      const info = await statLocal(localPath).catch(() => null);
      if (!info?.isFile())
        throw new SluiceError("FILE_NOT_FOUND", `${localPath}: no such local file to upload`);
      await breaker.run(async () => {
        try {
          await upload(key, createReadStream(localPath), false);
        } catch (error) {
          throw s3Error(error, "Upload", where(key));
        }
      });
    },
    async move(from, to) {
      const src = keyOf(from);
      const dst = keyOf(to);
      const source = await head(src);
      if (!source) throw notFound(src, undefined);
      const exists = () => new SluiceError("STORAGE_ERROR", `${where(dst)}: already exists; not overwriting`);
      if (await head(dst)) throw exists();
      const serverCopy = call("CopyObject", dst, async (attempt) => {
        try {
          await client.send(
            new CopyObjectCommand({
              Bucket: bucket,
              Key: dst,
              CopySource: copySource(bucket, src),
              ...(conditionalWrites ? { IfNoneMatch: "*" } : {}),
            }),
          );
        } catch (error) {
          if (isNotFound(error)) throw notFound(src, error);
          if (!isPreconditionFailed(error)) throw error;
          // A retry after a lost response may find our own copy.
          if (attempt > 1 && (await rawHead(dst))?.size === source.size) return;
          throw exists();
        }
      });
      await serverCopy.catch((error: unknown) => copyThroughClient(src, dst, error));
      await call("DeleteObject", src, () =>
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: src })),
      );
    },
    async copy(from, to) {
      const src = keyOf(from);
      const dst = keyOf(to);
      await call("CopyObject", dst, async () => {
        try {
          await client.send(
            new CopyObjectCommand({ Bucket: bucket, Key: dst, CopySource: copySource(bucket, src) }),
          );
        } catch (error) {
          if (isNotFound(error)) throw notFound(src, error);
          throw error;
        }
      }).catch((error: unknown) => copyThroughClient(src, dst, error));
    },
    async delete(path) {
      const key = keyOf(path);
      await call("DeleteObject", key, () =>
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
      );
    },
    async checkPath(path) {
      keyOf(path);
    },
    localPath: () => undefined,
    close() {
      client.destroy();
      uploadClient.destroy();
    },
  };
}

function clientConfig(options: S3StorageOptions, maxAttempts: number): S3ClientConfig {
  const checksums = options.checksums ?? (options.endpoint ? "when_required" : "when_supported");
  const region =
    options.region ??
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION ??
    (options.endpoint ? "us-east-1" : undefined);
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(region ? { region } : {}),
    ...(options.forcePathStyle !== undefined ? { forcePathStyle: options.forcePathStyle } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts,
    requestChecksumCalculation: checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
    responseChecksumValidation: checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
    requestHandler: {
      connectionTimeout: options.connectTimeoutMs ?? 10_000,
      socketTimeout: options.idleTimeoutMs ?? 120_000,
    },
  };
}

/**
 * Normalizes a storage-relative path to an S3 key fragment: no empty or `.` segments; `..` is refused
 * (it would escape the root, and HTTP rewrites it). A backslash is an ordinary character of a key.
 */
function normalizePath(path: string, allowEmpty: boolean): string {
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    throw new SluiceError("STORAGE_ERROR", `${path}: path escapes the storage root`);
  }
  if (!allowEmpty && segments.length === 0) {
    throw new SluiceError("STORAGE_ERROR", `"${path}" is not an object path`);
  }
  return segments.join("/");
}

const UNADDRESSABLE =
  "this S3 key has an empty, '.' or '..' part, which HTTP clients and servers rewrite into another key: Sluice cannot read or move it as it is; copy it to a key without such parts";

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, "");
}

function isNotFound(error: unknown): boolean {
  const name = s3ErrorName(error);
  return (
    name === "NoSuchKey" || name === "NotFound" || (s3HttpStatus(error) === 404 && name !== "NoSuchBucket")
  );
}

function isPreconditionFailed(error: unknown): boolean {
  return s3HttpStatus(error) === 412 || s3ErrorName(error) === "PreconditionFailed";
}

import { createReadStream } from "node:fs";
import { stat as statLocal } from "node:fs/promises";
import { DeleteObjectCommand, GetObjectCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { SluiceError } from "../errors.js";
import { type CircuitBreaker, createCircuitBreaker } from "../resilience/circuit-breaker.js";
import type { RetryOptions } from "../resilience/retry.js";
import { listS3Objects } from "./list-s3-objects.js";
import { copyS3Object, moveS3Object } from "./move-s3-object.js";
import { isNotFound, normalizePath, s3Bucket } from "./s3-bucket.js";
import { isTransientS3Error, s3Error } from "./s3-errors.js";
import type { Storage } from "./storage.js";
import { writeS3Object } from "./write-s3-object.js";

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

/** How an S3 call is retried unless the options say otherwise: the only level that retries it. */
export const S3_RETRY = { max: 4, baseMs: 200, maxDelayMs: 10_000 } as const;

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
  const pageSize = Math.min(1000, Math.max(1, options.listPageSize ?? 1000));
  const retry: RetryOptions = {
    max: options.retry?.max ?? S3_RETRY.max,
    baseMs: options.retry?.baseMs ?? S3_RETRY.baseMs,
    maxDelayMs: options.retry?.maxDelayMs ?? S3_RETRY.maxDelayMs,
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
  const b = s3Bucket({
    bucket,
    rootPrefix,
    // Calls we can replay go through `client` (no SDK retries; withRetry decides). Uploads of streams
    // cannot be replayed as a whole, so `uploadClient` keeps the SDK's per-request (per-part) retries.
    client: new S3Client(clientConfig(options, 1)),
    uploadClient: new S3Client(clientConfig(options, Math.max(1, retry.max + 1))),
    retry,
    breaker,
    partSize: Math.max(5 * MIB, options.partSizeBytes ?? 8 * MIB),
  });

  return {
    kind: "s3",
    root,
    bucket,
    prefix: rootPrefix,
    breaker,
    list: (prefix, listOptions) => listS3Objects(b, pageSize, prefix, listOptions),
    stat: (path) => b.head(b.keyOf(path)),
    createReadStream: (path) => b.getStream(b.keyOf(path)),
    async readFile(path) {
      const key = b.keyOf(path);
      return b.call("GetObject", key, async () => {
        try {
          const out = await b.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
        } catch (error) {
          if (isNotFound(error)) throw b.notFound(key, error);
          throw error;
        }
      });
    },
    writeFile: (path, data, writeOptions) => writeS3Object(b, path, data, writeOptions),
    async putLocalFile(localPath, path) {
      const key = b.keyOf(path);
      const info = await statLocal(localPath).catch(() => null);
      if (!info?.isFile())
        throw new SluiceError("FILE_NOT_FOUND", `${localPath}: no such local file to upload`);
      await breaker.run(async () => {
        try {
          await b.upload(key, createReadStream(localPath), false);
        } catch (error) {
          throw s3Error(error, "Upload", b.where(key));
        }
      });
    },
    move: (from, to) => moveS3Object(b, from, to),
    copy: (from, to) => copyS3Object(b, from, to),
    async delete(path) {
      const key = b.keyOf(path);
      await b.call("DeleteObject", key, () =>
        b.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })),
      );
    },
    async checkPath(path) {
      b.keyOf(path);
    },
    localPath: () => undefined,
    close() {
      b.client.destroy();
      b.uploadClient.destroy();
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

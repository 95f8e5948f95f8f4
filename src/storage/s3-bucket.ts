import { Readable } from "node:stream";
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { SluiceError } from "../errors.js";
import type { CircuitBreaker } from "../resilience/circuit-breaker.js";
import { markRetried, type RetryOptions, withRetry } from "../resilience/retry.js";
import { s3Error, s3ErrorName, s3HttpStatus } from "./s3-errors.js";
import type { StorageEntry } from "./storage.js";

/** What an S3 storage is made of: clients, policies and the bucket prefix it is rooted at. */
export interface S3BucketSetup {
  readonly bucket: string;
  /** Normalized key prefix ("" for the bucket root). */
  readonly rootPrefix: string;
  /** For calls that can be replayed: no SDK retries, `retry` decides. */
  readonly client: S3Client;
  /** For uploads of streams, which cannot be replayed as a whole: keeps the SDK's per-part retries. */
  readonly uploadClient: S3Client;
  readonly retry: RetryOptions;
  readonly breaker: CircuitBreaker;
  readonly partSize: number;
}

/** The operations every S3 storage call is built from; shared by listing, writing, moving and copying. */
export interface S3Bucket extends S3BucketSetup {
  /** Conditional writes (If-None-Match: *) are sent unless the server answered 501 to them once. */
  conditionalWrites: boolean;
  /** The key of a storage-relative path. */
  keyOf(path: string): string;
  /** `s3://bucket/key`, for messages. */
  where(key: string): string;
  /** One logical operation: mapped errors, retries, breaker. */
  call<T>(operation: string, key: string, fn: (attempt: number) => Promise<T>): Promise<T>;
  /** HEAD without retries or breaker: for use inside another call. */
  rawHead(key: string): Promise<StorageEntry | null>;
  head(key: string): Promise<StorageEntry | null>;
  entry(key: string, size?: number, modified?: Date, etag?: string): StorageEntry;
  notFound(key: string, error: unknown): SluiceError;
  upload(key: string, body: Readable, exclusive: boolean): Promise<void>;
  getStream(key: string): Promise<Readable>;
  /**
   * Copies through this client when the server could not find the source of a server-side copy that a
   * HEAD finds (some S3-compatible servers decode x-amz-copy-source wrongly: s3rver leaves %2B, %26
   * and %3D encoded). Throws `error` when the source is really missing.
   */
  copyThroughClient(src: string, dst: string, error: unknown): Promise<void>;
}

/**
 * The shared operations of one S3 storage over `setup`.
 *
 * @example
 * const b = s3Bucket({ bucket, rootPrefix: "sluice", client, uploadClient, retry, breaker, partSize });
 * await b.head(b.keyOf("in/a.csv"));
 */
export function s3Bucket(setup: S3BucketSetup): S3Bucket {
  const { bucket, rootPrefix, client, uploadClient, retry, breaker, partSize } = setup;
  const b: S3Bucket = {
    ...setup,
    conditionalWrites: true,
    keyOf(path) {
      const clean = normalizePath(path, false);
      return rootPrefix ? `${rootPrefix}/${clean}` : clean;
    },
    where: (key) => `s3://${bucket}/${key}`,
    call: (operation, key, fn) =>
      breaker.run(() =>
        withRetry(async (attempt) => {
          try {
            return await fn(attempt);
          } catch (error) {
            throw s3Error(error, operation, b.where(key));
          }
        }, retry),
      ),
    async rawHead(key) {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return b.entry(key, out.ContentLength, out.LastModified, out.ETag);
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },
    head: (key) => b.call("HeadObject", key, () => b.rawHead(key)),
    entry: (key, size, modified, etag) => ({
      path: rootPrefix ? key.slice(rootPrefix.length + 1) : key,
      size: size ?? 0,
      mtimeMs: modified?.getTime() ?? 0,
      etag: unquote(etag),
    }),
    notFound: (key, error) =>
      new SluiceError("FILE_NOT_FOUND", `${b.where(key)}: no such object`, { cause: error }),
    async upload(key, body, exclusive) {
      const params = {
        Bucket: bucket,
        Key: key,
        Body: body,
        ...(exclusive && b.conditionalWrites ? { IfNoneMatch: "*" } : {}),
      };
      try {
        await new Upload({
          client: uploadClient,
          params,
          partSize,
          queueSize: 4,
          leavePartsOnError: false,
        }).done();
      } catch (error) {
        // The SDK retried the part with the storage's budget: no level above retries it again.
        const attempts = (error as { $metadata?: { attempts?: unknown } } | null)?.$metadata?.attempts;
        throw typeof attempts === "number" && attempts > 1 ? markRetried(error, attempts) : error;
      }
    },
    getStream: (key) =>
      b.call("GetObject", key, async () => {
        try {
          const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          if (!(out.Body instanceof Readable)) throw new Error("GetObject returned no stream body");
          return out.Body;
        } catch (error) {
          if (isNotFound(error)) throw b.notFound(key, error);
          throw error;
        }
      }),
    async copyThroughClient(src, dst, error) {
      if (!(error instanceof SluiceError && error.code === "FILE_NOT_FOUND") || !(await b.head(src)))
        throw error;
      const body = await b.getStream(src);
      await breaker.run(async () => {
        try {
          await b.upload(dst, body, false);
        } catch (uploadError) {
          throw s3Error(uploadError, "Upload", b.where(dst));
        }
      });
    },
  };
  return b;
}

/**
 * Normalizes a storage-relative path to an S3 key fragment: no empty or `.` segments; `..` is refused
 * (it would escape the root, and HTTP rewrites it). A backslash is an ordinary character of a key.
 */
export function normalizePath(path: string, allowEmpty: boolean): string {
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    throw new SluiceError("STORAGE_ERROR", `${path}: path escapes the storage root`);
  }
  if (!allowEmpty && segments.length === 0) {
    throw new SluiceError("STORAGE_ERROR", `"${path}" is not an object path`);
  }
  return segments.join("/");
}

function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, "");
}

export function isNotFound(error: unknown): boolean {
  const name = s3ErrorName(error);
  return (
    name === "NoSuchKey" || name === "NotFound" || (s3HttpStatus(error) === 404 && name !== "NoSuchBucket")
  );
}

export function isPreconditionFailed(error: unknown): boolean {
  return s3HttpStatus(error) === 412 || s3ErrorName(error) === "PreconditionFailed";
}

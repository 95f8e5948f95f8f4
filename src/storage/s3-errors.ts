import { firstLine, SluiceError } from "../errors.js";

/** What an AWS SDK / network error looks like from here. */
interface AwsLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly Code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: unknown;
  readonly cause?: unknown;
}

const TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "InternalError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "ConditionalRequestConflict",
  "OperationAborted",
]);

const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ETIMEDOUT",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

const CREDENTIAL_NAMES: ReadonlySet<string> = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "InvalidToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
]);

const DENIED_NAMES: ReadonlySet<string> = new Set([
  "AccessDenied",
  "Forbidden",
  "AllAccessDisabled",
  "AccountProblem",
]);

/** The S3 error code of an SDK error (`NoSuchBucket`, `SlowDown`, ...) or a Node network code. */
export function s3ErrorName(error: unknown): string | undefined {
  const e = error as AwsLikeError | null | undefined;
  if (!e || typeof e !== "object") return undefined;
  return e.Code ?? (typeof e.code === "string" ? e.code : undefined) ?? e.name;
}

/** HTTP status of an SDK error, when a response was received. */
export function s3HttpStatus(error: unknown): number | undefined {
  return (error as AwsLikeError | null | undefined)?.$metadata?.httpStatusCode;
}

/**
 * Whether retrying an S3 call that threw `error` may help: 5xx (except 501), 429, throttling and
 * timeout codes, dropped or refused connections.
 *
 * @example
 * if (isTransientS3Error(error)) scheduleRetry();
 */
export function isTransientS3Error(error: unknown): boolean {
  if (error instanceof SluiceError) return error.transient;
  for (let e: unknown = error, depth = 0; e && typeof e === "object" && depth < 4; depth++) {
    const candidate = e as AwsLikeError;
    const status = candidate.$metadata?.httpStatusCode;
    if (status !== undefined && ((status >= 500 && status !== 501) || status === 429)) return true;
    for (const key of [candidate.name, candidate.code, candidate.Code]) {
      if (typeof key === "string" && (TRANSIENT_NAMES.has(key) || TRANSIENT_NETWORK_CODES.has(key)))
        return true;
    }
    e = candidate.cause;
  }
  return false;
}

/**
 * Turns an AWS SDK error into a SluiceError that names the bucket and key: missing bucket,
 * wrong credentials and access denied are terminal `STORAGE_ERROR`s with a hint; throttling,
 * 5xx and network failures are transient.
 *
 * @example
 * catch (error) { throw s3Error(error, "GetObject", "s3://lake/orders/_delta_log/00000.json"); }
 */
export function s3Error(error: unknown, operation: string, location: string): SluiceError {
  if (error instanceof SluiceError) return error;
  const name = s3ErrorName(error) ?? "Error";
  const status = s3HttpStatus(error);
  const detail =
    error instanceof Error && error.message && error.message !== name ? `: ${firstLine(error.message)}` : "";
  const bucket = bucketOf(location);
  const opts = (transient: boolean) => ({ cause: error, transient });
  if (name === "NoSuchBucket") {
    return new SluiceError(
      "STORAGE_ERROR",
      `${location}: bucket "${bucket}" does not exist (${operation})`,
      opts(false),
    );
  }
  if (name === "CredentialsProviderError") {
    return new SluiceError(
      "STORAGE_ERROR",
      `${location}: no AWS credentials found for ${operation}; set AWS_ACCESS_KEY_ID and ` +
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or the s3 credentials in sluice.yaml",
      opts(false),
    );
  }
  if (CREDENTIAL_NAMES.has(name)) {
    return new SluiceError(
      "STORAGE_ERROR",
      `${location}: S3 rejected the credentials (${name}${detail}) during ${operation}; check AWS_ACCESS_KEY_ID / ` +
        "AWS_SECRET_ACCESS_KEY / AWS_PROFILE or the s3 credentials in sluice.yaml",
      opts(false),
    );
  }
  if (DENIED_NAMES.has(name) || status === 403) {
    return new SluiceError(
      "STORAGE_ERROR",
      `${location}: access denied (${name}) during ${operation}; the credentials lack permission on bucket "${bucket}"`,
      opts(false),
    );
  }
  if (isTransientS3Error(error)) {
    const statusText = status === undefined ? "" : ` HTTP ${status}`;
    return new SluiceError(
      "STORAGE_ERROR",
      `${location}: ${operation} failed temporarily (${name}${statusText}${detail})`,
      opts(true),
    );
  }
  const statusText = status === undefined ? "" : `, HTTP ${status}`;
  return new SluiceError(
    "STORAGE_ERROR",
    `${location}: ${operation} failed (${name}${statusText}${detail})`,
    opts(false),
  );
}

function bucketOf(location: string): string {
  return location.replace(/^s3:\/\//, "").split("/")[0] ?? location;
}

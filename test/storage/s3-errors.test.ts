import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { isTransientS3Error, s3Error } from "../../src/storage/s3-errors.js";

/** Errors shaped like the AWS SDK's: a name, an S3 code and response metadata. */
function sdkError(name: string, status?: number, message = name): Error {
  return Object.assign(new Error(message), {
    name,
    Code: name,
    $metadata: status === undefined ? {} : { httpStatusCode: status },
  });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
}

describe("isTransientS3Error", () => {
  it.each([
    sdkError("SlowDown", 503),
    sdkError("ServiceUnavailable", 503),
    sdkError("InternalError", 500),
    sdkError("Throttling", 400),
    sdkError("ThrottlingException", 400),
    sdkError("RequestTimeout", 400),
    sdkError("TimeoutError"),
    sdkError("Whatever", 502),
    sdkError("TooManyRequests", 429),
    networkError("ECONNRESET"),
    networkError("ETIMEDOUT"),
    networkError("ECONNREFUSED"),
    Object.assign(new Error("wrapped"), { cause: networkError("ECONNRESET") }),
    new SluiceError("STORAGE_ERROR", "x", { transient: true }),
  ])("transient: %s", (error) => {
    expect(isTransientS3Error(error)).toBe(true);
  });

  it.each([
    sdkError("NoSuchBucket", 404),
    sdkError("AccessDenied", 403),
    sdkError("InvalidAccessKeyId", 403),
    sdkError("NotImplemented", 501),
    sdkError("PreconditionFailed", 412),
    networkError("ENOTFOUND"),
    new Error("plain"),
    "a string",
    new SluiceError("STORAGE_ERROR", "x"),
  ])("terminal: %s", (error) => {
    expect(isTransientS3Error(error)).toBe(false);
  });
});

describe("s3Error", () => {
  const at = "s3://acme/landing/in/a.csv";

  it("names a missing bucket", () => {
    const error = s3Error(
      sdkError("NoSuchBucket", 404, "The specified bucket does not exist"),
      "GetObject",
      at,
    );
    expect(error.message).toBe('s3://acme/landing/in/a.csv: bucket "acme" does not exist (GetObject)');
    expect(error.transient).toBe(false);
  });

  it("explains access denied", () => {
    const error = s3Error(sdkError("Forbidden", 403, "Forbidden"), "HeadObject", at);
    expect(error.message).toBe(
      's3://acme/landing/in/a.csv: access denied (Forbidden) during HeadObject; the credentials lack permission on bucket "acme"',
    );
    expect(error.transient).toBe(false);
  });

  it("marks throttling transient and keeps the cause", () => {
    const cause = sdkError("SlowDown", 503, "Please reduce your request rate.");
    const error = s3Error(cause, "PutObject", at);
    expect(error.code).toBe("STORAGE_ERROR");
    expect(error.transient).toBe(true);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      "s3://acme/landing/in/a.csv: PutObject failed temporarily (SlowDown HTTP 503: Please reduce your request rate.)",
    );
  });

  it("keeps SluiceErrors as they are", () => {
    const original = new SluiceError("FILE_NOT_FOUND", "gone");
    expect(s3Error(original, "GetObject", at)).toBe(original);
  });
});

import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { isPreconditionFailed, type S3Bucket } from "./s3-bucket.js";
import { s3Error, s3HttpStatus } from "./s3-errors.js";

/**
 * Writes an object; with `exclusive`, returns false when it exists already. Exclusive writes send
 * `If-None-Match: *` after a HEAD pre-check, and fall back to HEAD-then-PUT on servers without it.
 *
 * @example
 * await writeS3Object(b, "orders/_delta_log/00000000000000000001.json", commit, { exclusive: true });
 */
export async function writeS3Object(
  b: S3Bucket,
  path: string,
  data: string | Buffer | Readable,
  writeOptions: { readonly exclusive?: boolean } = {},
): Promise<boolean> {
  const key = b.keyOf(path);
  const exclusive = writeOptions.exclusive === true;
  // Cheap pre-check: most exclusive writes that lose do so here, without sending the body.
  if (exclusive && (await b.head(key))) return false;
  if (typeof data !== "string" && !Buffer.isBuffer(data)) {
    // A stream can be sent once only: no replay here (the SDK still retries each part).
    return b.breaker.run(async () => {
      try {
        await b.upload(key, data, exclusive);
        return true;
      } catch (error) {
        if (exclusive && isPreconditionFailed(error)) return false;
        throw s3Error(error, "Upload", b.where(key));
      }
    });
  }
  const body = typeof data === "string" ? Buffer.from(data) : data;
  if (!exclusive) {
    await b.call("PutObject", key, () =>
      b.client.send(new PutObjectCommand({ Bucket: b.bucket, Key: key, Body: body })),
    );
    return true;
  }
  const md5 = createHash("md5").update(body).digest("hex");
  return b.call("PutObject", key, async (attempt) => {
    // With If-None-Match: * the service itself refuses to overwrite (atomic, as Delta commits need).
    // Servers that ignore the header (s3rver, older MinIO) only get the HEAD above: two writers racing
    // between that HEAD and this PUT could both "win"; the last one's content stays.
    const put = (conditional: boolean) =>
      b.client.send(
        new PutObjectCommand({
          Bucket: b.bucket,
          Key: key,
          Body: body,
          ...(conditional ? { IfNoneMatch: "*" } : {}),
        }),
      );
    try {
      try {
        await put(b.conditionalWrites);
      } catch (error) {
        if (!b.conditionalWrites || s3HttpStatus(error) !== 501) throw error;
        b.conditionalWrites = false; // the server does not implement conditional writes: HEAD-then-PUT
        if (await b.rawHead(key)) return false;
        await put(false);
      }
      return true;
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
      // A retry after a lost response finds our own earlier write: same content means we won.
      if (attempt > 1 && (await b.rawHead(key))?.etag === md5) return true;
      return false;
    }
  });
}

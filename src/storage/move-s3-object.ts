import { CopyObjectCommand, DeleteObjectCommand } from "@aws-sdk/client-s3";
import { SluiceError } from "../errors.js";
import { isNotFound, isPreconditionFailed, type S3Bucket } from "./s3-bucket.js";

/**
 * Moves an object: a server-side copy that never overwrites (a copy through the client where the
 * server cannot find the source), then deleting the source.
 *
 * @example
 * await moveS3Object(b, "in/a.csv", "archive/a.csv");
 */
export async function moveS3Object(b: S3Bucket, from: string, to: string): Promise<void> {
  const src = b.keyOf(from);
  const dst = b.keyOf(to);
  const source = await b.head(src);
  if (!source) throw b.notFound(src, undefined);
  const exists = () => new SluiceError("STORAGE_ERROR", `${b.where(dst)}: already exists; not overwriting`);
  if (await b.head(dst)) throw exists();
  const serverCopy = b.call("CopyObject", dst, async (attempt) => {
    try {
      await b.client.send(
        new CopyObjectCommand({
          Bucket: b.bucket,
          Key: dst,
          CopySource: copySource(b.bucket, src),
          ...(b.conditionalWrites ? { IfNoneMatch: "*" } : {}),
        }),
      );
    } catch (error) {
      if (isNotFound(error)) throw b.notFound(src, error);
      if (!isPreconditionFailed(error)) throw error;
      // A retry after a lost response may find our own copy.
      if (attempt > 1 && (await b.rawHead(dst))?.size === source.size) return;
      throw exists();
    }
  });
  await serverCopy.catch((error: unknown) => b.copyThroughClient(src, dst, error));
  await b.call("DeleteObject", src, () =>
    b.client.send(new DeleteObjectCommand({ Bucket: b.bucket, Key: src })),
  );
}

/**
 * Copies an object server-side (through the client where the server cannot find the source).
 *
 * @example
 * await copyS3Object(b, "in/a.csv", "backup/a.csv");
 */
export async function copyS3Object(b: S3Bucket, from: string, to: string): Promise<void> {
  const src = b.keyOf(from);
  const dst = b.keyOf(to);
  await b
    .call("CopyObject", dst, async () => {
      try {
        await b.client.send(
          new CopyObjectCommand({ Bucket: b.bucket, Key: dst, CopySource: copySource(b.bucket, src) }),
        );
      } catch (error) {
        if (isNotFound(error)) throw b.notFound(src, error);
        throw error;
      }
    })
    .catch((error: unknown) => b.copyThroughClient(src, dst, error));
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

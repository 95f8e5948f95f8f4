import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { normalizePath, type S3Bucket } from "./s3-bucket.js";
import type { StorageEntry } from "./storage.js";

const UNADDRESSABLE =
  "this S3 key has an empty, '.' or '..' part, which HTTP clients and servers rewrite into another key: Sluice cannot read or move it as it is; copy it to a key without such parts";

/**
 * Every object below `prefix`, a ListObjectsV2 page of `pageSize` keys at a time. Folder markers are
 * skipped; keys no path can address are yielded as refused only when asked (`includeRefused`).
 *
 * @example
 * for await (const entry of listS3Objects(b, 1000, "in/orders")) console.log(entry.path);
 */
export async function* listS3Objects(
  b: S3Bucket,
  pageSize: number,
  prefix: string,
  options: { includeRefused?: boolean } = {},
): AsyncGenerator<StorageEntry> {
  const includeRefused = options.includeRefused === true;
  const clean = normalizePath(prefix, true);
  const full = [b.rootPrefix, clean].filter((p) => p !== "").join("/");
  const listPrefix = full === "" ? "" : `${full}/`;
  let token: string | undefined;
  do {
    const page = await b.call("ListObjectsV2", listPrefix, () =>
      b.client.send(
        new ListObjectsV2Command({
          Bucket: b.bucket,
          Prefix: listPrefix,
          ContinuationToken: token,
          MaxKeys: pageSize,
        }),
      ),
    );
    for (const object of page.Contents ?? []) {
      // Keys ending in "/" are folder markers made by consoles and tools, not files.
      if (!object.Key || object.Key.endsWith("/")) continue;
      const found = b.entry(object.Key, object.Size, object.LastModified, object.ETag);
      if (addressable(b, found.path, object.Key)) yield found;
      else if (includeRefused) yield { ...found, refused: { reason: UNADDRESSABLE, folder: false } };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Whether `path` names exactly `key` (keys with empty, `.` or `..` parts would be addressed as others). */
function addressable(b: S3Bucket, path: string, key: string): boolean {
  try {
    return b.keyOf(path) === key;
  } catch {
    return false;
  }
}

import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { firstLine, SluiceError } from "../errors.js";
import type { Storage, StorageEntry } from "./storage.js";

/**
 * Streams an object of `storage` into `localFile` (parent folders created; never the whole object in
 * memory) and checks that the object did not change meanwhile: its size and ETag (or, without ETags,
 * its mtime) must be the same after the download as before, and the byte count must match.
 * Throws `FILE_NOT_FOUND` when the object is missing to begin with, and the transient
 * `FILE_VANISHED` / `FILE_CHANGED` when it was deleted or overwritten during the download;
 * the partial local file is removed in every failure. Returns the object's entry. `onChunk` sees every
 * chunk as it streams by (e.g. to hash the content in the same pass); the download waits for the
 * promise it may return before the next chunk.
 *
 * @example
 * const entry = await downloadToFile(landing, "in/orders/a.csv", join(tmp, "a.csv"));
 */
export async function downloadToFile(
  storage: Storage,
  path: string,
  localFile: string,
  options: { readonly onChunk?: (chunk: Buffer) => Promise<void> | undefined } = {},
): Promise<StorageEntry> {
  const where = `${storage.root}/${path}`;
  const before = await storage.stat(path);
  if (!before) throw new SluiceError("FILE_NOT_FOUND", `${where}: no such file`);
  await mkdir(dirname(localFile), { recursive: true });
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      const pending = options.onChunk?.(chunk);
      if (pending) pending.then(() => callback(null, chunk), callback);
      else callback(null, chunk);
    },
  });
  try {
    let streamError: unknown;
    try {
      await pipeline(await storage.createReadStream(path), counter, createWriteStream(localFile));
    } catch (error) {
      streamError = error;
    }
    const after = await storage.stat(path);
    if (!after) {
      throw new SluiceError("FILE_VANISHED", `${where}: the file disappeared while it was being downloaded`, {
        transient: true,
        cause: streamError,
      });
    }
    if (changed(before, after)) {
      throw new SluiceError(
        "FILE_CHANGED",
        `${where}: the file was overwritten while it was being downloaded`,
        {
          transient: true,
          cause: streamError,
        },
      );
    }
    if (streamError !== undefined) throw downloadError(streamError, where);
    if (bytes !== before.size) {
      throw new SluiceError(
        "FILE_CHANGED",
        `${where}: downloaded ${bytes} bytes but the file has ${before.size}; it changed during the download`,
        { transient: true },
      );
    }
    return after;
  } catch (error) {
    await rm(localFile, { force: true });
    throw error;
  }
}

function changed(before: StorageEntry, after: StorageEntry): boolean {
  if (before.size !== after.size) return true;
  if (before.etag !== undefined || after.etag !== undefined) return before.etag !== after.etag;
  return before.mtimeMs !== after.mtimeMs;
}

function downloadError(error: unknown, where: string): SluiceError {
  if (error instanceof SluiceError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOENT") {
    return new SluiceError("FILE_VANISHED", `${where}: the file disappeared while it was being downloaded`, {
      transient: true,
      cause: error,
    });
  }
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  // Local disk problems are not going to fix themselves; network trouble mid-stream usually does.
  const localDisk = code === "ENOSPC" || code === "EACCES" || code === "EROFS" || code === "EDQUOT";
  return new SluiceError("STORAGE_ERROR", `${where}: download failed: ${message}`, {
    cause: error,
    transient: !localDisk,
  });
}

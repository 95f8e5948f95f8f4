import { createHash } from "node:crypto";
import { join } from "node:path";
import { downloadToFile } from "../storage/download-to-file.js";
import type { Storage, StorageEntry } from "../storage/storage.js";
import { hashStream } from "./hash-file.js";

/** A landing file ready for DuckDB: a local path to read and the content's hash. */
export interface AcquiredFile {
  /** Where DuckDB reads the file: in place for a local landing zone, a downloaded copy otherwise. */
  readonly localPath: string;
  readonly sha256: string;
  readonly bytes: number;
  /** True when `localPath` is a temporary copy (removed with the run's work folder). */
  readonly downloaded: boolean;
}

/**
 * Makes a landing file readable by DuckDB and hashes it in one pass. Local files are hashed in place;
 * remote ones (S3) are streamed into `workDir` — never held in memory — and hashed on the way, failing
 * with the transient FILE_CHANGED / FILE_VANISHED when the object changes or disappears meanwhile.
 *
 * @example
 * const { localPath, sha256 } = await acquireFile(ctx.landing, entry, workDir, 0);
 */
export async function acquireFile(
  landing: Storage,
  entry: StorageEntry,
  workDir: string,
  index: number,
): Promise<AcquiredFile> {
  const inPlace = landing.localPath(entry.path);
  if (inPlace) {
    const hashed = await hashStream(await landing.createReadStream(entry.path));
    return { localPath: inPlace, sha256: hashed.sha256, bytes: hashed.bytes, downloaded: false };
  }
  const hash = createHash("sha256");
  let bytes = 0;
  // Keep the file name: DuckDB detects compression (.gz, .zst) from the extension.
  const localPath = join(workDir, `f${index}`, entry.path.split("/").pop() ?? "file");
  await downloadToFile(landing, entry.path, localPath, {
    onChunk: (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
    },
  });
  return { localPath, sha256: hash.digest("hex"), bytes, downloaded: true };
}

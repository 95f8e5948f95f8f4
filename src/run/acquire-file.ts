import { createHash } from "node:crypto";
import { join } from "node:path";
import { compressionCheckFor } from "../integrity/compression-check-for.js";
import { type ContentDigest, hashStream } from "../integrity/hash-file.js";
import { hashInBackground } from "../integrity/hash-in-background.js";
import { lineCounter } from "../integrity/line-count.js";
import { downloadToFile } from "../storage/download-to-file.js";
import type { Storage, StorageEntry } from "../storage/storage.js";
import { duckdbReadPath } from "./duckdb-read-path.js";

/**
 * From this size on, a local file is hashed in a background thread (`hashInBackground`); a smaller one
 * on the main thread. Starting a worker thread costs ~20 ms of CPU, about what hashing 32 MiB does.
 */
export const BACKGROUND_HASH_MIN_BYTES = 32 << 20;

/** A landing file ready for DuckDB: a local path to read and the content's hash. */
export interface AcquiredFile {
  /**
   * Where DuckDB reads the file: in place for a local landing zone (through a link with a literal name
   * when the path holds glob characters, see `duckdbReadPath`), a downloaded copy otherwise.
   */
  readonly localPath: string;
  /**
   * The content's hash. Local files are hashed in the background (the file can be read meanwhile);
   * settled already for downloaded ones. Marked as handled: await it to see a read failure.
   */
  readonly digest: Promise<ContentDigest>;
  /** True when `localPath` is a downloaded copy (removed with the run's work folder). */
  readonly downloaded: boolean;
  /**
   * Stops a hash still running in the background and closes the file (the digest then rejects unless it
   * had settled). Called when the run is over, so that it does not wait for hashes nobody needs.
   */
  readonly release?: (() => Promise<void>) | undefined;
  /**
   * DuckDB starts reading the file while it is still being hashed: the hash, if it runs in a thread of
   * its own, takes only idle CPU from now on (see `hashInBackground`).
   */
  readonly yieldToReader?: (() => void) | undefined;
}

/**
 * Makes a landing file readable by DuckDB and hashes it. Local files are read in place and hashed in
 * the background (a missing or unreadable file fails at once) — a big one that needs no compression
 * check in a thread of its own, which drops to background priority once `yieldToReader()` says DuckDB
 * reads the file meanwhile (see `hashInBackground`); remote ones (S3) are streamed into `workDir` — never held in memory —
 * and hashed on the way, failing with the transient FILE_CHANGED / FILE_VANISHED when the object changes
 * or disappears meanwhile. A file DuckDB reads decompressed (`.gz`, `.zst`; see `compressionCheckFor`) is
 * checked to be whole in the same read: the digest's `damage` says how it is not.
 *
 * @example
 * const { localPath, digest } = await acquireFile(ctx.landing, entry, workDir, 0, "csv");
 * const { sha256, damage } = await digest;
 */
export async function acquireFile(
  landing: Storage,
  entry: StorageEntry,
  workDir: string,
  index: number,
  format: string | undefined,
): Promise<AcquiredFile> {
  const check = compressionCheckFor(entry.path, format);
  const inPlace = landing.localPath(entry.path);
  if (inPlace) {
    // Opened now (a missing or unreadable file fails here), hashed while the run goes on.
    const hashing =
      !check && entry.size >= BACKGROUND_HASH_MIN_BYTES ? await hashInBackground(inPlace) : undefined;
    const digest = hashing?.digest ?? hashStream(await landing.createReadStream(entry.path), check);
    digest.catch(() => undefined);
    try {
      const localPath = await duckdbReadPath(inPlace, join(workDir, `f${index}`));
      return {
        localPath,
        digest,
        downloaded: false,
        release: hashing?.release,
        yieldToReader: hashing?.yieldToReader,
      };
    } catch (error) {
      await hashing?.release();
      throw error;
    }
  }
  const hash = createHash("sha256");
  let bytes = 0;
  const counter = check ? undefined : lineCounter();
  // Keep the file name: DuckDB detects compression (.gz, .zst) from the extension.
  const localPath = join(workDir, `f${index}`, entry.path.split("/").pop() ?? "file");
  try {
    await downloadToFile(landing, entry.path, localPath, {
      onChunk: (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
        counter?.write(chunk);
        return check?.write(chunk);
      },
    });
  } catch (error) {
    await check?.end();
    throw error;
  }
  const damage = await check?.end();
  const digest = { sha256: hash.digest("hex"), bytes, damage, lines: counter?.end() ?? check?.lines?.() };
  return { localPath, digest: Promise.resolve(digest), downloaded: true };
}

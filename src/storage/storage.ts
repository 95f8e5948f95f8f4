import type { Readable } from "node:stream";

/** One object in a storage location; `path` is relative to the storage root, with `/` separators. */
export interface StorageEntry {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Content tag when the backend has one (S3 ETag); undefined for local files. */
  readonly etag?: string | undefined;
}

/**
 * A place files live: the landing zone or the lake root. Paths are relative
 * to the root and always use `/`. Implementations: local folder, S3 bucket prefix.
 */
export interface Storage {
  readonly kind: "local" | "s3";
  /** Human-readable root: a folder or `s3://bucket/prefix`. */
  readonly root: string;
  /** Every object below `prefix` (recursive). Missing prefix yields nothing. */
  list(prefix: string): AsyncIterable<StorageEntry>;
  stat(path: string): Promise<StorageEntry | null>;
  /** Streams an object's content. */
  createReadStream(path: string): Promise<Readable>;
  readFile(path: string): Promise<Buffer>;
  /**
   * Writes an object. With `exclusive`, fails with `{ exists: true }` semantics
   * (returns false) when the path already exists — the primitive Delta commits rely on.
   */
  writeFile(
    path: string,
    data: Buffer | string | Readable,
    options?: { exclusive?: boolean },
  ): Promise<boolean>;
  /** Uploads a local file to `path` (a plain copy/rename for local storage). */
  putLocalFile(localPath: string, path: string): Promise<void>;
  /** Moves an object; never overwrites: fails when `to` exists. */
  move(from: string, to: string): Promise<void>;
  copy(from: string, to: string): Promise<void>;
  delete(path: string): Promise<void>;
  /** A local file-system path for `path` when the backend is local (DuckDB reads it in place). */
  localPath(path: string): string | undefined;
}

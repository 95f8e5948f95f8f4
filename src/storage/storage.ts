import type { Readable } from "node:stream";

/** One object in a storage location; `path` is relative to the storage root, with `/` separators. */
export interface StorageEntry {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Content tag when the backend has one (S3 ETag); undefined for local files. */
  readonly etag?: string | undefined;
  /**
   * Why Sluice will not read this entry (listed only when asked with `includeRefused`): a symbolic link
   * in a local folder (`folder`: it leads to a folder), or an S3 key that cannot be addressed as listed.
   */
  readonly refused?: { readonly reason: string; readonly folder: boolean } | undefined;
}

/**
 * A place files live: the landing zone or the lake root. Paths are relative
 * to the root and always use `/`. Implementations: local folder, S3 bucket prefix.
 *
 * A local folder never follows a symbolic link below its root (the root itself may be one): every
 * operation on a path through one fails with STORAGE_ERROR naming the link, so that whoever can write
 * into the folder cannot make Sluice read or write elsewhere.
 */
export interface Storage {
  readonly kind: "local" | "s3";
  /** Human-readable root: a folder or `s3://bucket/prefix`. */
  readonly root: string;
  /**
   * Every object below `prefix` (recursive). Missing prefix yields nothing. With `includeRefused`, also
   * what Sluice will not read there (see `StorageEntry.refused`), so that it can be reported.
   */
  list(prefix: string, options?: { readonly includeRefused?: boolean }): AsyncIterable<StorageEntry>;
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
  /**
   * Fails with STORAGE_ERROR when `path` cannot be used safely: a local path through a symbolic link,
   * an S3 key with an empty, `.` or `..` part. Lets a run refuse a destination before it publishes.
   */
  checkPath(path: string): Promise<void>;
  /**
   * A local file-system path for `path` when the backend is local (DuckDB reads it in place); undefined
   * for remote backends and for local names that are not valid UTF-8 (read them through the streams).
   */
  localPath(path: string): string | undefined;
  /**
   * Opens a batch of operations (a run's intake of one file, its archive moves): until the returned
   * function is called, each folder on the way to a path is looked at for links once, not once per
   * path; a path's last part is looked at every time, and a link found is refused every time. Absent
   * where there is nothing to look at (S3).
   */
  batch?(): () => void;
  /**
   * A store whose log entries are coordinated (see `coordinatedLogStorage`): completes the entries of the
   * log folder `dir` (`<table>/_delta_log`, `<table>/_manifests`) that a writer claimed and did not copy
   * (it died, or lost its connection). Until then a claimed version is invisible to readers, and a commit
   * read from such a log would take a version, txn and orphans that miss it. Absent: nothing to complete.
   */
  completeLog?(dir: string): Promise<void>;
}

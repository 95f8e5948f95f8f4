import { gzipCheck } from "./gzip-check.js";
import type { LineCount } from "./line-count.js";
import { zstdFrameCheck } from "./zstd-frame-check.js";

/**
 * Checks, as a file's bytes stream by to be hashed, that its compressed content is whole: DuckDB
 * reads a truncated gzip or zstd file without an error, as if it ended where it was cut.
 */
export interface CompressionCheck {
  /** The next chunk of the file; resolves when the next one may be written. */
  write(chunk: Buffer): Promise<void>;
  /** After the last chunk (or a failed read): why the content is not whole, undefined when it is. */
  end(): Promise<string | undefined>;
  /** After `end()`: the decompressed content's line breaks, when the check inflates it (gzip). */
  lines?(): LineCount | undefined;
}

/**
 * The check for a file DuckDB reads decompressed, or undefined: like DuckDB's CSV reader (which JSON
 * lines go through too), by the name's suffix — `.gz` gzip, `.zst` zstd; Parquet compresses inside the
 * file and is read as it is.
 *
 * @example
 * compressionCheck("in/a.csv.gz", "csv") // a gzip check
 * compressionCheck("in/a.csv", "csv")    // undefined
 */
export function compressionCheck(path: string, format: string | undefined): CompressionCheck | undefined {
  if (format === "parquet") return undefined;
  if (path.endsWith(".gz")) return gzipCheck();
  if (path.endsWith(".zst")) return zstdFrameCheck();
  return undefined;
}

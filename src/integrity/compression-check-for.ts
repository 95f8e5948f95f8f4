import type { CompressionCheck } from "./compression-check.js";
import { gzipCheck } from "./gzip-check.js";
import { zstdCheck } from "./zstd-check.js";

/**
 * The check for a file DuckDB reads decompressed, or undefined: like DuckDB's CSV reader (which JSON
 * lines go through too), by the name's suffix — `.gz` gzip, `.zst` zstd; Parquet compresses inside the
 * file and is read as it is.
 *
 * @example
 * compressionCheckFor("in/a.csv.gz", "csv") // a gzip check
 * compressionCheckFor("in/a.csv", "csv")    // undefined
 */
export function compressionCheckFor(path: string, format: string | undefined): CompressionCheck | undefined {
  if (format === "parquet") return undefined;
  if (path.endsWith(".gz")) return gzipCheck();
  if (path.endsWith(".zst")) return zstdCheck();
  return undefined;
}

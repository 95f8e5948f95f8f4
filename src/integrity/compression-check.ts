import type { LineCount } from "./line-count.js";

/**
 * Checks, as a file's bytes stream by to be hashed, that its compressed content is whole: DuckDB
 * reads a truncated gzip or zstd file without an error, as if it ended where it was cut.
 */
export interface CompressionCheck {
  /** The next chunk of the file; resolves when the next one may be written. */
  write(chunk: Buffer): Promise<void>;
  /** After the last chunk (or a failed read): why the content is not whole, undefined when it is. */
  end(): Promise<string | undefined>;
  /** After `end()`: the decompressed content's line breaks, when the check decompresses it (gzip, zstd). */
  lines?(): LineCount | undefined;
}

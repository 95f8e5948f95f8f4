import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** Sniff buffer for files with huge lines (or compressed ones, whose bytes say nothing of their lines). */
export const SNIFF_LINE_LIMIT = 256 * 1024 * 1024;
/** Sniff buffer when the start of the file has no long lines: DuckDB reads a whole buffer per sniff. */
export const SNIFF_SMALL_LIMIT = 16 * 1024 * 1024;
/** Bytes of a file's start scanned before it is read. */
const SCAN_BYTES = 32 * 1024 * 1024;
/** DuckDB's sniffer sample (rows; its `sample_size` default). */
const SNIFF_SAMPLE_LINES = 20_480;
/** The first line is looked at within this many bytes (its field count bounds the columns). */
const FIRST_LINE_BYTES = 4 * 1024 * 1024;

/** What the first bytes of an uncompressed CSV file say before DuckDB reads it. */
export interface CsvStart {
  /** The 1-based number of a line longer than `maxLineBytes` among the first lines, if any. */
  readonly overlongLine: number | undefined;
  /** The sniff buffer the file needs (see {@link SNIFF_SMALL_LIMIT}). */
  readonly sniffLimit: number;
  /** The first line (within 4 MiB) as latin-1 text: its fields are counted before any read. */
  readonly firstLine: string;
}

const cache = new Map<string, CsvStart>();

/**
 * Scans the first 32 MiB of a CSV file once: whether a line there (or the one still open at its end) is
 * longer than `maxLineBytes`, the sniff buffer it needs (16 MiB when those bytes hold the sniffer's whole
 * sample and no line of 8 MiB or more, else 256 MiB), and its first line. A run reads its sample file at
 * validation and again when staging it: the answer is kept per path, size and modification time.
 *
 * @example
 * const { overlongLine, sniffLimit } = scanCsvStart("landing/in/a.csv", 32 << 20);
 */
export function scanCsvStart(path: string, maxLineBytes: number): CsvStart {
  if (/\.(gz|gzip|zst|zstd)$/i.test(path))
    return { overlongLine: undefined, sniffLimit: SNIFF_LINE_LIMIT, firstLine: "" };
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const stat = fstatSync(fd);
    const key = `${path}\0${stat.size}\0${stat.mtimeMs}\0${maxLineBytes}`;
    const known = cache.get(key);
    if (known) return known;
    const buffer = Buffer.allocUnsafe(Math.min(stat.size, SCAN_BYTES));
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    const bytes = buffer.subarray(0, length);
    const firstEnd = bytes.indexOf(10);
    const scanned: CsvStart = {
      overlongLine: overlongAtEnd(fd, bytes, stat.size, maxLineBytes),
      sniffLimit:
        (length < SCAN_BYTES || linesAtLeast(bytes, SNIFF_SAMPLE_LINES)) &&
        !lineAtLeast(bytes, SNIFF_SMALL_LIMIT / 2)
          ? SNIFF_SMALL_LIMIT
          : SNIFF_LINE_LIMIT,
      firstLine: bytes
        .subarray(0, Math.min(firstEnd === -1 ? length : firstEnd, FIRST_LINE_BYTES))
        .toString("latin1"),
    };
    if (cache.size >= 8) cache.delete(cache.keys().next().value!);
    cache.set(key, scanned);
    return scanned;
  } catch {
    return { overlongLine: undefined, sniffLimit: SNIFF_LINE_LIMIT, firstLine: "" };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Whether `bytes` hold at least `count` line breaks. */
function linesAtLeast(bytes: Buffer, count: number): boolean {
  let at = -1;
  for (let n = 0; n < count; n++) {
    at = bytes.indexOf(10, at + 1);
    if (at === -1) return false;
  }
  return true;
}

/**
 * Whether a line of `bytes` (the one still open at the end included) is `limit` bytes or longer. Such a
 * line covers a whole aligned block of `limit / 2` bytes, so one search per block finds it.
 */
export function lineAtLeast(bytes: Buffer, limit: number): boolean {
  const step = Math.max(1, Math.floor(limit / 2));
  for (let p = 0; p < bytes.length; p += step) {
    const found = bytes.indexOf(10, p);
    const end = found === -1 ? bytes.length : found;
    if (end - p < step) continue;
    const start = p === 0 ? 0 : bytes.lastIndexOf(10, p - 1) + 1;
    if (end - start >= limit) return true;
  }
  return false;
}

/**
 * The number of a line longer than `max` at the end of the scanned bytes: one wholly inside them cannot
 * be (they are no longer than `max`), so only the line still open there is read on, until it ends or
 * passes `max`.
 */
function overlongAtEnd(fd: number, bytes: Buffer, size: number, max: number): number | undefined {
  if (max < bytes.length) return overlongWithin(bytes, max);
  const start = bytes.length === 0 ? 0 : bytes.lastIndexOf(10, bytes.length - 1) + 1;
  if (size - start <= max) return undefined;
  const rest = Buffer.allocUnsafe(Math.min(size - bytes.length, max - (bytes.length - start) + 1));
  const more = readSync(fd, rest, 0, rest.length, bytes.length);
  if (rest.subarray(0, more).indexOf(10) !== -1 || bytes.length - start + more <= max) return undefined;
  let line = 1;
  for (let at = bytes.indexOf(10); at !== -1 && at < start; at = bytes.indexOf(10, at + 1)) line++;
  return line;
}

/** The number of a line longer than `max` wholly within `bytes`, or undefined. */
function overlongWithin(bytes: Buffer, max: number): number | undefined {
  let start = 0;
  let line = 1;
  for (let nl = bytes.indexOf(10); nl !== -1; nl = bytes.indexOf(10, start)) {
    if (nl - start > max) return line;
    line++;
    start = nl + 1;
  }
  return bytes.length - start > max ? line : undefined;
}

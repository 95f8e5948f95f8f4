/**
 * Watches the bytes of a CSV file, chunk by chunk, for what DuckDB's reader and PostgreSQL's `COPY`
 * read differently although both accept it:
 * - a quote that neither opens a field (right after a delimiter or a line break) nor closes one (right
 *   before them) nor is doubled inside a quoted field: PostgreSQL toggles quoting wherever a quote is
 *   (`ab"c"d` is `abcd`), DuckDB keeps it as text, and around a quoted field DuckDB drops spaces
 *   PostgreSQL keeps (` "ab" ` is `ab` against ` ab `);
 * - with `timestamps`, seconds with more than six decimals (`00:00:00.1234567`): DuckDB truncates them
 *   to microseconds, PostgreSQL rounds;
 * - without `header`, a UTF-8 byte-order mark at the start: DuckDB drops it, PostgreSQL keeps it in the
 *   first value (with a header it is in the line PostgreSQL skips).
 * Anything else either parser refuses, or the two read alike (see docs/warehouses.md). Only quotes are
 * looked at one by one (`indexOf`), so a file without any costs one scan of its bytes.
 *
 * @example
 * const check = new CsvBytesCheck(",", '"', true, true);
 * for (const chunk of chunks) if (!check.push(chunk)) break;
 * const same = check.end();
 */
export class CsvBytesCheck {
  private readonly delimiter: number;
  private readonly quote: number;
  private inQuote = false;
  /** The last byte of the previous chunk (-1: none yet, the start of the file). */
  private previous = -1;
  /** The previous chunk ended with a quote inside a quoted field: the next byte says which kind. */
  private pendingQuote = false;
  /** The end of the previous chunk, where a timestamp's digits may have begun. */
  private tail = Buffer.alloc(0);
  private failed: string | undefined;
  /** The first bytes of the file, until there are enough to tell a byte-order mark. */
  private head: Buffer | undefined = Buffer.alloc(0);

  constructor(
    delimiter: string,
    quote: string,
    private readonly timestamps: boolean,
    private readonly header: boolean,
  ) {
    this.delimiter = delimiter.charCodeAt(0);
    this.quote = quote.charCodeAt(0);
  }

  /** Why the file may be read differently, once a chunk showed it. */
  get reason(): string | undefined {
    return this.failed;
  }

  /** Checks the next chunk; false once the file may be read differently (see {@link reason}). */
  push(chunk: Buffer): boolean {
    if (this.failed) return false;
    if (!this.header && this.startsWithBom(chunk)) {
      this.failed = "a byte-order mark before the first value";
    } else if (!this.quotesAtEdges(chunk)) {
      this.failed = "a quote inside an unquoted value, or text beside a quoted one";
    } else if (this.timestamps && this.longFraction(chunk)) {
      this.failed = "seconds with more than six decimals";
    }
    if (chunk.length > 0) this.previous = chunk[chunk.length - 1]!;
    return this.failed === undefined;
  }

  /** At the end of the file: true when nothing read differently was seen (no quoted field left open). */
  end(): boolean {
    if (this.pendingQuote) {
      this.pendingQuote = false;
      this.inQuote = false;
    }
    if (!this.failed && this.inQuote) this.failed = "a quoted value is not closed";
    return this.failed === undefined;
  }

  /** Whether the file starts with a byte-order mark, once its first three bytes were seen. */
  private startsWithBom(chunk: Buffer): boolean {
    if (this.head === undefined) return false;
    this.head = Buffer.concat([this.head, chunk.subarray(0, BOM.length - this.head.length)]);
    const seen = this.head.length;
    if (seen < BOM.length && BOM.subarray(0, seen).equals(this.head)) return false;
    const bom = this.head.equals(BOM);
    this.head = undefined;
    return bom;
  }

  private atEdge(byte: number | undefined): boolean {
    return byte === undefined || byte === -1 || byte === this.delimiter || byte === 10 || byte === 13;
  }

  private quotesAtEdges(chunk: Buffer): boolean {
    let from = 0;
    if (this.pendingQuote) {
      this.pendingQuote = false;
      if (chunk.length === 0) {
        this.pendingQuote = true;
        return true;
      }
      if (chunk[0] === this.quote) from = 1;
      else if (this.atEdge(chunk[0])) this.inQuote = false;
      else return false;
    }
    for (;;) {
      const at = chunk.indexOf(this.quote, from);
      if (at < 0) return true;
      if (!this.inQuote) {
        if (!this.atEdge(at > 0 ? chunk[at - 1] : this.previous)) return false;
        this.inQuote = true;
        from = at + 1;
        continue;
      }
      if (at + 1 >= chunk.length) {
        this.pendingQuote = true;
        return true;
      }
      const next = chunk[at + 1];
      if (next === this.quote) {
        from = at + 2;
      } else if (this.atEdge(next)) {
        this.inQuote = false;
        from = at + 1;
      } else {
        return false;
      }
    }
  }

  private longFraction(chunk: Buffer): boolean {
    // Across the boundary: the end of the previous chunk with the start of this one.
    if (chunk.length === 0) return false;
    const across = Buffer.concat([this.tail, chunk.subarray(0, LONG_FRACTION_BYTES)]);
    // A chunk shorter than the pattern keeps the end of the one before it too.
    const last = chunk.length >= LONG_FRACTION_BYTES ? chunk : across;
    this.tail = Buffer.from(last.subarray(Math.max(0, last.length - LONG_FRACTION_BYTES)));
    return hasLongFraction(across) || hasLongFraction(chunk);
  }
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** The bytes of `:ss.fffffff`, seconds with seven decimals. */
const LONG_FRACTION_BYTES = 11;

const isDigit = (byte: number | undefined) => byte !== undefined && byte >= 48 && byte <= 57;

/**
 * Whether `bytes` hold seconds with more than six decimals (`:ss.fffffff`). Found from each colon
 * (`indexOf`, a few per row) rather than by a regular expression tried at every digit of the file.
 */
function hasLongFraction(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(58); at >= 0; at = bytes.indexOf(58, at + 1)) {
    if (!isDigit(bytes[at + 1]) || !isDigit(bytes[at + 2]) || bytes[at + 3] !== 46) continue;
    let digits = 0;
    while (digits < 7 && isDigit(bytes[at + 4 + digits])) digits++;
    if (digits === 7) return true;
  }
  return false;
}

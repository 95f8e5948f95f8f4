/**
 * The layout of a CSV file read from its first kilobytes, for files DuckDB's sniffer misreads: a
 * preamble before the header, a header polluted by an extra or missing delimiter or a stray quote, a
 * space-separated file, padding after each delimiter, decimal-comma numbers. Pure text work on a small
 * sample: the bulk reading stays DuckDB's.
 */

/** How the records of a sample are split. */
export interface SampleDialect {
  /** One character, or a character and a space (`", "`: the padding is part of the delimiter). */
  readonly delimiter: string;
  /** "" for none. */
  readonly quote: string;
  readonly escape: string;
}

/** What {@link detectCsvLayout} found. */
export interface CsvLayout extends SampleDialect {
  /** Columns of the data rows. */
  readonly columns: number;
  /** Lines before the header (or before the first row of a file without one). */
  readonly preambleLines: number;
  /** 0-based line of the header row; undefined when the file has none. */
  readonly headerLine: number | undefined;
  /**
   * Names of a header row that does not split into {@link columns} fields as the data does (null where
   * none could be given); undefined when the header reads as it is.
   */
  readonly repairedNames: readonly (string | null)[] | undefined;
  /** Share of the sample's data rows that have {@link columns} fields. */
  readonly consistency: number;
  /**
   * The lines skipped hold an unbalanced quote while the rows use quotes: DuckDB, which skips lines
   * quote-aware, cannot skip them (the header must be replaced in a copy).
   */
  readonly strayQuote: boolean;
  /** Numbers written with a decimal comma (and `.` or space between thousands) in some column. */
  readonly decimalComma: DecimalComma | undefined;
}

interface SampleRecord {
  readonly fields: readonly string[];
  /** Quoted fields holding the delimiter (the quote is in use). */
  readonly quotedDelimiters: number;
  /** Every delimiter outside quotes is followed by a space. */
  readonly padded: boolean;
  /** A quote opened and never closed (within the lines a value may span). */
  readonly unterminated: boolean;
  /** 0-based line the record starts on. */
  readonly line: number;
}

/** The sample's lines (any line end), without a partial last line when the sample was cut. */
export function sampleLines(sample: string, complete: boolean): string[] {
  const text = sample.charCodeAt(0) === 0xfeff ? sample.slice(1) : sample;
  const lines = text.split(/\r\n|\r|\n/);
  if (!complete && lines.length > 1) lines.pop();
  else if (lines.at(-1) === "") lines.pop();
  return lines.slice(0, MAX_SAMPLE_LINES);
}

const MAX_SAMPLE_LINES = 400;

/** Records from line `from` on, quote-aware; blank lines are no records. */
function parseRecords(
  lines: readonly string[],
  from: number,
  d: SampleDialect,
  span = 20,
  to = lines.length,
): SampleRecord[] {
  const records: SampleRecord[] = [];
  for (let i = from; i < to; i++) {
    if (lines[i] === "") continue;
    const start = i;
    let line = lines[i]!;
    if (d.quote === "" || !line.includes(d.quote)) {
      // Most lines quote nothing: a plain split (the sample of a clean file is checked in about a millisecond).
      const fields = line.split(d.delimiter);
      const padded = fields.length > 1 && fields.slice(1).every((f) => f.startsWith(" "));
      records.push({ fields, line: start, quotedDelimiters: 0, padded, unterminated: false });
      continue;
    }
    const fields: string[] = [];
    let field = "";
    let quoted = false;
    let quotedDelimiters = 0;
    let padded = true;
    let pos = 0;
    for (;;) {
      if (pos >= line.length) {
        // A quoted value goes on on the next line (at most a few: a stray quote must not eat the sample).
        if (quoted && i + 1 < to && i - start < span) {
          field += "\n";
          line = lines[++i]!;
          pos = 0;
          continue;
        }
        break;
      }
      const ch = line[pos]!;
      if (quoted) {
        if (d.escape !== d.quote && ch === d.escape && line[pos + 1] === d.quote) {
          field += d.quote;
          pos += 2;
        } else if (ch === d.quote && line[pos + 1] === d.quote && d.escape === d.quote) {
          field += ch;
          pos += 2;
        } else if (ch === d.quote) {
          quoted = false;
          if (field.includes(d.delimiter.trim() || d.delimiter)) quotedDelimiters++;
          pos++;
        } else {
          field += ch;
          pos++;
        }
      } else if (d.quote !== "" && ch === d.quote && field.trim() === "") {
        quoted = true;
        field = "";
        pos++;
      } else if (line.startsWith(d.delimiter, pos)) {
        fields.push(field);
        field = "";
        pos += d.delimiter.length;
        if (line[pos] !== " ") padded = false;
      } else {
        field += ch;
        pos++;
      }
    }
    fields.push(field);
    records.push({
      fields,
      line: start,
      quotedDelimiters,
      padded: padded && fields.length > 1,
      unterminated: quoted,
    });
  }
  return records;
}

/** The most frequent field count of records (ties: the larger count). */
function modalCount(records: readonly SampleRecord[]): { count: number; share: number } {
  const counts = new Map<number, number>();
  for (const r of records) counts.set(r.fields.length, (counts.get(r.fields.length) ?? 0) + 1);
  let count = 0;
  let n = 0;
  for (const [c, k] of counts) if (k > n || (k === n && c > count)) [count, n] = [c, k];
  return { count, share: records.length === 0 ? 0 : n / records.length };
}

const NUMBER = /^[+-]?(\d+([.,]\d+)?|\d{1,3}([., ]\d{3})+([.,]\d+)?)$/;
const DATE_LIKE = /^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$/;
const isValue = (v: string): boolean => NUMBER.test(v.trim()) || DATE_LIKE.test(v.trim());

/** A header: every field a non-empty name (not a number or date), names distinct. */
function looksLikeHeader(fields: readonly string[]): boolean {
  const names = fields.map((f) => f.trim());
  return (
    names.length > 0 &&
    names.every((n) => n !== "" && !isValue(n)) &&
    new Set(names.map((n) => n.toLowerCase())).size === names.length
  );
}

/** Whether a record is a header over the rows after it: names where some column holds numbers or dates. */
function headerOver(record: SampleRecord, rows: readonly SampleRecord[]): boolean {
  if (!looksLikeHeader(record.fields)) return false;
  const typed = record.fields.some((_, c) => {
    const values = rows.map((r) => r.fields[c]?.trim() ?? "").filter((v) => v !== "");
    return values.length > 0 && values.filter(isValue).length >= values.length * 0.8;
  });
  // All-text data: a first row of distinct names is taken for a header, as most files have one.
  const allText = rows.every((r) => r.fields.every((v) => v.trim() === "" || !isValue(v)));
  return typed || allText;
}

/** A title row: in a file of three or more columns, one non-empty field at most. */
const titleLike = (r: SampleRecord): boolean =>
  r.fields.length >= 3 && r.fields.filter((f) => f.trim() !== "").length <= 1;

const DELIMITERS = [",", ";", "\t", "|"];

/** The dialects tried: the user's fixed parts kept, the rest from the usual candidates. */
function candidates(sample: string, fixed: Partial<SampleDialect>): SampleDialect[] {
  const out: SampleDialect[] = [];
  const delimiters = fixed.delimiter !== undefined ? [fixed.delimiter] : [...DELIMITERS, " "];
  const quotes = fixed.quote !== undefined ? [fixed.quote] : ['"', "'", ""];
  for (const delimiter of delimiters) {
    for (const quote of quotes) {
      const escapes =
        fixed.escape !== undefined
          ? [fixed.escape]
          : quote !== "" && sample.includes(`\\${quote}`)
            ? ["\\", quote]
            : [quote];
      for (const esc of escapes) out.push({ delimiter, quote, escape: esc });
    }
  }
  return out;
}

interface Scored {
  readonly dialect: SampleDialect;
  readonly records: SampleRecord[];
  readonly columns: number;
  /** Records (the first one aside: it may be a header) with `columns` fields. */
  readonly consistent: number;
  readonly share: number;
  /** Quoted fields holding the delimiter: the quote character is in use. */
  readonly quoting: number;
  /** The first line has as many fields as the rows. */
  readonly headFits: boolean;
}

/**
 * A dialect over the lines from `from`: the first line is parsed on its own (a stray quote in a header
 * must not swallow the rows), the rest decide the column count.
 */
function score(lines: readonly string[], from: number, dialect: SampleDialect): Scored {
  const head = parseRecords(lines, from, dialect, 0, from + 1);
  const rows = parseRecords(lines, from + 1, dialect);
  const { count, share } = modalCount(rows.length > 0 ? rows : head);
  const quoting = rows.reduce((n, r) => n + r.quotedDelimiters, 0);
  return {
    dialect,
    records: [...head, ...rows],
    columns: count,
    consistent: Math.round(share * rows.length),
    share,
    quoting,
    headFits: head[0]?.fields.length === count,
  };
}

/** Better of two dialects: more consistent rows (within 10%: more columns), then the earlier candidate. */
function better(a: Scored, b: Scored): boolean {
  const usable = (s: Scored) => s.columns >= 2;
  if (usable(a) !== usable(b)) return usable(a);
  const top = Math.max(a.consistent, b.consistent);
  if (Math.abs(a.consistent - b.consistent) > top * 0.1) return a.consistent > b.consistent;
  // Rows split alike both ways (`1;2,5` by `;` or `,`): the one that splits the first line alike too.
  if (a.headFits !== b.headFits) return a.headFits;
  if (a.dialect.delimiter === b.dialect.delimiter && a.quoting > 0 !== b.quoting > 0) return a.quoting > 0;
  return a.columns > b.columns;
}

/** The best dialect for the records from line `from` (space only when no other delimiter splits the rows). */
function bestDialect(lines: readonly string[], from: number, sample: string, fixed: Partial<SampleDialect>) {
  let best: Scored | undefined;
  let bestSpace: Scored | undefined;
  for (const dialect of candidates(sample, fixed)) {
    const s = score(lines, from, dialect);
    if (dialect.delimiter === " " && fixed.delimiter === undefined) {
      if (!bestSpace || better(s, bestSpace)) bestSpace = s;
    } else if (!best || better(s, best)) best = s;
  }
  if (bestSpace && (!best || best.columns < 2 || best.share < 0.5) && bestSpace.columns >= 2)
    return bestSpace;
  return best;
}

/** Names for a header line that does not split as the data does (see docs/messy-csv.md). */
export function repairHeader(line: string, dialect: SampleDialect, columns: number): (string | null)[] {
  const strip = (f: string) => f.replaceAll(dialect.quote || '"', "").trim();
  const bare = dialect.delimiter.trim() || dialect.delimiter;
  const byData = line.split(bare).map(strip);
  if (byData.length === columns) return byData;
  for (const split of [...DELIMITERS, " "].map((d) => line.split(d).map(strip))) {
    if (split.length === columns && split.every((f) => f !== "")) return split;
  }
  const anySpace = line.split(new RegExp(`[${bare.replace(/[\\\]^-]/g, "\\$&")}\\s]+`)).map(strip);
  if (anySpace.length === columns && anySpace.every((f) => f !== "")) return anySpace;
  const nonEmpty = byData.filter((f) => f !== "");
  if (nonEmpty.length === columns) return nonEmpty;
  // One delimiter too many or too few somewhere: the names before it and after it keep their places.
  const head = Math.ceil(Math.min(byData.length, columns) / 2);
  const tail = Math.min(byData.length, columns) - head;
  return Array.from({ length: columns }, (_, i) =>
    i < head ? byData[i]! : i >= columns - tail ? byData[byData.length - (columns - i)]! : null,
  ).map((n) => (n === "" ? null : n));
}

const DECIMAL_COMMA = /^[+-]?(\d+|\d{1,3}(\.\d{3})+|\d{1,3}( \d{3})+)(,\d+)?$/;

/** Columns (0-based) whose sampled values are all numbers with a decimal comma, and their thousands separator. */
export interface DecimalComma {
  readonly columns: readonly number[];
  readonly thousands: "." | " " | undefined;
}

/** Whether the data rows' numbers use a decimal comma: a column of them, one holding a comma at least. */
export function decimalCommaOf(
  rows: readonly SampleRecord[],
  columns: number,
  delimiter: string,
): CsvLayout["decimalComma"] {
  if (delimiter.startsWith(",")) return undefined;
  const found: number[] = [];
  let thousands: "." | " " | undefined;
  for (let c = 0; c < columns; c++) {
    const values = rows.map((r) => r.fields[c]?.trim() ?? "").filter((v) => v !== "");
    if (values.length === 0 || !values.every((v) => DECIMAL_COMMA.test(v))) continue;
    if (!values.some((v) => v.includes(","))) continue;
    found.push(c);
    if (values.some((v) => /\d\.\d{3}/.test(v))) thousands = ".";
    else if (values.some((v) => /\d \d{3}/.test(v))) thousands ??= " ";
  }
  return found.length > 0 ? { columns: found, thousands } : undefined;
}

/**
 * Whether a dialect (as sniffed) reads the sample cleanly: every data row has `columns` fields, the
 * header (when there is one) too and it is no title row, no row after it reads as a header, no padding
 * after the delimiter and no decimal-comma column. When it does, detection costs nothing more.
 */
export function sampleFits(
  sample: string,
  complete: boolean,
  read: SampleDialect & { readonly skip: number; readonly header: boolean; readonly columns: number },
): boolean {
  const lines = sampleLines(sample, complete);
  const records = parseRecords(lines, read.skip, read);
  const header = read.header ? records[0] : undefined;
  const rows = read.header ? records.slice(1) : records;
  if (rows.some((r) => r.fields.length !== read.columns)) return false;
  if (header && (header.fields.length !== read.columns || titleLike(header))) return false;
  if (rows.length > 1 && headerOver(rows[0]!, rows.slice(1))) return false;
  return (
    !paddedAfter(rows, read.delimiter) && decimalCommaOf(rows, read.columns, read.delimiter) === undefined
  );
}

/** Every field after the first starts with a space (`a, b, c`). */
function paddedAfter(rows: readonly SampleRecord[], delimiter: string): boolean {
  if (delimiter === " " || delimiter.endsWith(" ") || rows.length === 0) return false;
  return rows.every((r) => r.padded);
}

/**
 * The layout of the sample's file: the dialect that splits most rows alike (trying the start of the data
 * a few lines further when the first lines do not split as the rest), where the header is, which lines
 * come before it, the header's names when it had to be repaired. Undefined when nothing splits.
 *
 * @example
 * detectCsvLayout("Report\nid,name\n1,a\n2,b\n", true, {}) // { delimiter: ",", preambleLines: 1, headerLine: 1, ... }
 */
export function detectCsvLayout(
  sample: string,
  complete: boolean,
  fixed: Partial<SampleDialect>,
): CsvLayout | undefined {
  const lines = sampleLines(sample, complete);
  let found: Scored | undefined;
  for (let from = 0; from < Math.min(16, Math.max(1, lines.length - 2)); from++) {
    const s = bestDialect(lines, from, sample, fixed);
    if (s && s.columns >= 2 && (!found || s.share > found.share + 0.05)) found = s;
    if (found && found.share >= 0.9) break;
  }
  // Too little evidence (a few rows that disagree) is no layout: the sniffer's reading stands.
  if (!found || found.consistent < 2 || found.share < 0.75) return undefined;
  let { dialect } = found;
  const { columns, records } = found;
  const first = records.findIndex(
    (r, i) => r.fields.length === columns && !r.unterminated && !(titleLike(r) && records[i + 1]),
  );
  if (first === -1) return undefined;
  const start = records[first]!;
  const rows = records.slice(first + 1).filter((r) => r.fields.length === columns);
  let headerLine: number | undefined;
  let preambleLines: number;
  let repairedNames: (string | null)[] | undefined;
  if (headerOver(start, rows)) {
    headerLine = start.line;
    preambleLines = start.line;
  } else {
    const before = start.line > 0 ? lines[start.line - 1]! : "";
    const names = before.trim() === "" ? undefined : repairHeader(before, dialect, columns);
    const named = names?.filter((n) => n !== null) ?? [];
    if (names && named.length >= Math.max(2, columns / 2) && named.every((n) => !isValue(n))) {
      headerLine = start.line - 1;
      preambleLines = start.line - 1;
      repairedNames = names;
    } else {
      preambleLines = start.line;
    }
    rows.unshift(start);
  }
  // A line skipped before the header is a title or a note, never a row: one that splits into two values
  // or more means the layout is wrong (rows would be lost), and the sniffer's reading stands.
  const bare = dialect.delimiter.trim() || dialect.delimiter;
  if (lines.slice(0, preambleLines).some((l) => l.split(bare).filter((f) => f.trim() !== "").length > 1)) {
    return undefined;
  }
  // DuckDB skips lines quote-aware: a stray quote in a skipped header would swallow the rows. When no
  // data row quotes anything, the file is read without a quote character.
  const skipped = lines.slice(0, headerLine === undefined ? preambleLines : headerLine + 1).join("\n");
  const quotes = dialect.quote === "" ? 0 : skipped.split(dialect.quote).length - 1;
  const quotedRows = lines.slice(start.line).some((l) => dialect.quote !== "" && l.includes(dialect.quote));
  if (quotes % 2 === 1 && !quotedRows) dialect = { ...dialect, quote: "", escape: "" };
  const strayQuote = quotes % 2 === 1 && quotedRows;
  if (paddedAfter(rows, dialect.delimiter)) {
    dialect = { ...dialect, delimiter: `${dialect.delimiter} ` };
    if (repairedNames) repairedNames = repairedNames.map((n) => n?.trim() ?? null);
  }
  return {
    ...dialect,
    columns,
    preambleLines,
    headerLine,
    repairedNames,
    consistency: found.share,
    strayQuote,
    decimalComma: decimalCommaOf(rows, columns, dialect.delimiter),
  };
}

/**
 * How a CSV file was read, as the run report gives it per file (`files[].csv`): the dialect, where the
 * header was found, what was skipped or repaired. `source` is `sniffed` when DuckDB's sniffer (with
 * `source.options`) read the file cleanly, `repaired` when Sluice detected another layout.
 */
export interface CsvDetection {
  readonly source: "sniffed" | "repaired";
  readonly delimiter: string;
  readonly quote: string;
  readonly escape: string;
  /** 1-based line of the header row; null when the file has none. */
  readonly header_line: number | null;
  /** Lines skipped before the header (or the first row). */
  readonly preamble_lines: number;
  /** The delimiter is followed by a space that is not part of the values (`a, b`). */
  readonly padding_trimmed: boolean;
  /** The header did not split as the rows do: its names were repaired (`column_N` where none fit). */
  readonly header_repaired: boolean;
  readonly decimal_separator?: string;
  readonly thousands_separator?: string;
  /** 1-based line of the first total/summary line after the data (quarantined, rule `footer`), and how many. */
  readonly footer_line?: number;
  readonly footer_lines?: number;
  /** 1-based line where a second table starts, and its non-blank lines (quarantined, rule `second_table`). */
  readonly second_table_line?: number;
  readonly second_table_lines?: number;
}

/** A footer's first field: a total or summary word (`Total`, `Grand total`, `Sum:`, `Summe`, `Gesamt`). */
const TOTAL_WORD =
  /^(grand[\s_-]*|sub[\s_-]*)?totals?\b|^(sum|summe|gesamt\w*|summary|average|avg|count|totaux?)\b/i;

/**
 * Whether a line is a total/summary line of a table of `columns` fields: its first field a total word,
 * no more fields than the rows and at most half of the others filled (`Total,,123,`, `Total: 40 rows`).
 */
export function footerLike(line: string, dialect: SampleDialect, columns: number): boolean {
  const bare = dialect.delimiter.trim() || dialect.delimiter;
  const strip = (f: string) => (dialect.quote ? f.replaceAll(dialect.quote, "") : f).trim();
  const fields = line.split(bare).map(strip);
  // A delimiter closing the line (`Total,,123,,`) adds an empty field the reader does not count.
  if (fields.length === columns + 1 && fields.at(-1) === "") fields.pop();
  if (fields.length > columns || !TOTAL_WORD.test(fields[0] ?? "")) return false;
  const filled = fields.slice(1).filter((f) => f !== "").length;
  return filled <= Math.max(1, Math.floor((columns - 1) / 2));
}

/**
 * Index of the first of the trailing footer lines of `lines` (the end of a file; blank lines between
 * them count with them), or `lines.length` when the last non-blank line is no footer. A line that is
 * the only non-blank one is never a footer (no data before it).
 */
export function trailingFooterAt(lines: readonly string[], dialect: SampleDialect, columns: number): number {
  let at = lines.length;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    if (!footerLike(line, dialect, columns)) break;
    at = i;
  }
  // Blank lines before the first footer stay blank lines, not footers.
  while (at < lines.length && lines[at]!.trim() === "") at++;
  const before = lines.slice(0, at).some((l) => l.trim() !== "");
  return before ? at : lines.length;
}

/**
 * The 0-based line where a second table starts in the sample, after the rows read from line `from`: a
 * blank line after data rows, then a line that is no row of this table (a title, or a header: names
 * of another width, or names over rows of this width). Undefined when the sample holds one table.
 */
export function secondTableAt(
  sample: string,
  complete: boolean,
  read: SampleDialect & { readonly from: number; readonly columns: number },
): number | undefined {
  const lines = sampleLines(sample, complete);
  if (lines.length === 0 || lines.length < read.from) return undefined;
  const records = parseRecords(lines, read.from, read);
  let rows = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const afterBlank = r.line > 0 && lines[r.line - 1]!.trim() === "";
    if (rows > 0 && afterBlank && !footerLike(lines[r.line]!, read, read.columns)) {
      const next = records.slice(i + 1, i + 21);
      const other = r.fields.length !== read.columns;
      if (looksLikeHeader(r.fields) && (other || headerOver(r, next))) return r.line;
      // A block of another width (a table without a header).
      if (
        other &&
        r.fields.length >= 2 &&
        next.length > 0 &&
        next.every((n) => n.fields.length === r.fields.length)
      )
        return r.line;
    }
    if (r.fields.length === read.columns) rows++;
  }
  return undefined;
}

/**
 * Where a second table starts in a block of lines that closes a file and that the reader rejected for
 * their width (`texts`, consecutive lines): a header (names, none a value) of another width than the
 * table's, within the block's first few lines, over lines of that header's width (up to 20 looked at);
 * a one-field title line right before it (`Returns`) starts the table. Returns the 0-based index of
 * the table's first line in `texts`, undefined when the block reads as rows of this table gone wrong.
 */
export function lateTableAt(
  texts: readonly string[],
  dialect: SampleDialect,
  columns: number,
): number | undefined {
  const records = parseRecords(texts, 0, dialect, 20, Math.min(texts.length, 28));
  for (let i = 0; i < Math.min(records.length, 6); i++) {
    const header = records[i]!;
    const rows = records.slice(i + 1, i + 21);
    const width = header.fields.length;
    if (
      width === columns ||
      width < 2 ||
      !looksLikeHeader(header.fields) ||
      rows.length === 0 ||
      !rows.every((r) => r.fields.length === width)
    ) {
      continue;
    }
    const title = records[i - 1];
    const titled =
      title !== undefined &&
      title.line === header.line - 1 &&
      title.fields.filter((f) => f.trim() !== "").length === 1;
    return titled ? title.line : header.line;
  }
  return undefined;
}

import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import type { DuckDBConnection } from "@duckdb/node-api";
import {
  type SampleDialect,
  sampleLines,
  secondTableAt,
  trailingFooterAt,
} from "../plan/detect-csv-layout.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { blankLinesFrom } from "./blank-lines-from.js";

/** Bytes of a file's end looked through for total/summary lines. */
const TAIL_BYTES = 16 * 1024;
/** Bytes of a file's start looked through for a second table (the detection sample). */
const HEAD_BYTES = 64 * 1024;

/**
 * The quarantine rules of lines that follow a file's table and are no rows of it (lower case, like
 * `malformed` and the check rules). They are the `error_type` of such lines in a malformed table: no
 * reader error type is lower case.
 */
export const FOOTER_RULE = "footer";
export const SECOND_TABLE_RULE = "second_table";
/** SQL: whether a malformed table's row is such a line (`error_type` is one of those rules). */
export const TRAILING_SQL = `error_type IN ('${FOOTER_RULE}', '${SECOND_TABLE_RULE}')`;

/** The quarantine reason of a second table's lines. */
export function secondTableReason(line: number): string {
  return `a second table starts at line ${line}: its lines are no rows of the first (load it as its own file)`;
}

/** What {@link quarantineTrailingBlocks} left out of a read, for the report's `csv`. */
export interface TrailingBlocks {
  /** The copy to read instead of the file. */
  readonly path: string;
  /** 1-based line where a second table starts. */
  readonly secondTableLine?: number;
  /** How many non-blank lines the second table has (quarantined). */
  readonly secondTableLines?: number;
  /** 1-based line of the first footer line, and how many footer lines there are. */
  readonly footerLine?: number;
  readonly footerLines?: number;
}

/**
 * Finds what follows a CSV file's table and is no row of it: trailing total/summary lines (`Total,,123,`)
 * and a second table after a blank line within the sample. When there is any, the file is read through
 * a copy where those lines are blank, and each is put in the malformed table with its line and reason
 * (rules `footer`, `second_table`). A clean file costs one 16 KB read of its end, and a scan of its sample
 * for a blank line.
 */
export async function quarantineTrailingBlocks(
  con: DuckDBConnection,
  read: {
    readonly path: string;
    readonly workDir: string | undefined;
    readonly malformedTable: string;
    readonly encoding: BufferEncoding;
    readonly sample: { readonly text: string; readonly complete: boolean } | undefined;
  },
  dialect: SampleDialect & { readonly skip: number; readonly header: boolean },
  columns: number,
): Promise<TrailingBlocks | undefined> {
  if (!read.workDir || !read.sample || columns < 2) return undefined;
  let footerStart = footerByte(read.path, dialect, columns, read.encoding);
  let tableAt: number | undefined;
  // A blank line between lines: only then can the sample hold a second table.
  if (/(\r\n|\r|\n)[ \t]*(\r\n|\r|\n)[ \t]*[^\s]/.test(read.sample.text)) {
    const from = dialect.skip + (dialect.header ? 1 : 0);
    tableAt = secondTableAt(read.sample.text, read.sample.complete, { ...dialect, from, columns });
    // Total lines can close the first table right before the second one.
    const before = sampleLines(read.sample.text, read.sample.complete).slice(from, tableAt);
    const footerAt = tableAt === undefined ? undefined : trailingFooterAt(before, dialect, columns) + from;
    if (footerAt !== undefined && footerAt < tableAt!) footerStart = lineByte(read.path, footerAt);
  }
  const tableStart = tableAt === undefined ? undefined : lineByte(read.path, tableAt);
  const start = Math.min(footerStart ?? Number.POSITIVE_INFINITY, tableStart ?? Number.POSITIVE_INFINITY);
  if (!Number.isFinite(start)) return undefined;
  const cut = await blankLinesFrom(read.path, read.workDir, start, read.encoding);
  if (cut.lines.length === 0) return undefined;
  // The lines from the second table's start (1-based: its sample index + 1) are its; those before, footers.
  const tableLine = tableStart === undefined ? Number.POSITIVE_INFINITY : tableAt! + 1;
  const footers = cut.lines.filter((l) => l.line < tableLine);
  const table = cut.lines.filter((l) => l.line >= tableLine);
  const footerReason = "a total or summary line after the data, not a row";
  const values = [
    ...footers.map((l) => [l, FOOTER_RULE, footerReason] as const),
    ...table.map((l) => [l, SECOND_TABLE_RULE, secondTableReason(table[0]!.line)] as const),
  ].map(
    ([l, kind, reason]) =>
      `(${l.line}, ${quoteLiteral(kind)}, ${quoteLiteral(reason)}, ${quoteLiteral(l.text)})`,
  );
  for (let i = 0; i < values.length; i += 1000) {
    await con.run(
      `INSERT INTO ${quoteIdent(read.malformedTable)} VALUES ${values.slice(i, i + 1000).join(", ")}`,
    );
  }
  return {
    path: cut.path,
    ...(table.length > 0 ? { secondTableLine: table[0]!.line, secondTableLines: table.length } : {}),
    ...(footers.length > 0 ? { footerLine: footers[0]!.line, footerLines: footers.length } : {}),
  };
}

/**
 * Whether a file may hold lines that are no rows of its table: a total/summary line at its end, or a
 * blank line followed by more lines (a second table, found or ruled out only by a read of its own). Files
 * read together with others are checked this way first: such a file is read alone, where those lines
 * are quarantined. Reads the whole file: meant for the small files of a group.
 */
export function mayHaveTrailingBlocks(path: string, dialect: SampleDialect, columns: number): boolean {
  return columns >= 2 && trailingBlocksIn(readFileSync(path), dialect, columns);
}

/** {@link mayHaveTrailingBlocks} of a file's content, read already (a group reads each member once). */
export function trailingBlocksIn(content: Buffer, dialect: SampleDialect, columns: number): boolean {
  // As for a file read alone: a single column has no footer or second table to tell from its rows.
  if (columns < 2) return false;
  const from = Math.max(0, content.length - TAIL_BYTES);
  if (footerIn(content.subarray(from), from, dialect, columns, "utf8") !== undefined) return true;
  return /(\r\n|\r|\n)[ \t]*(\r\n|\r|\n)\s*\S/.test(content.toString("latin1"));
}

/** Byte offset of the first trailing footer line of a file, undefined when its end holds none. */
function footerByte(
  path: string,
  dialect: SampleDialect,
  columns: number,
  encoding: BufferEncoding,
): number | undefined {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const from = Math.max(0, size - TAIL_BYTES);
    const buffer = Buffer.allocUnsafe(size - from);
    const length = readSync(fd, buffer, 0, buffer.length, from);
    return footerIn(buffer.subarray(0, length), from, dialect, columns, encoding);
  } finally {
    closeSync(fd);
  }
}

/** Byte offset of the first footer line of `tail`, the bytes of a file from offset `from` to its end. */
function footerIn(
  tail: Buffer,
  from: number,
  dialect: SampleDialect,
  columns: number,
  encoding: BufferEncoding,
): number | undefined {
  const length = tail.length;
  const starts: number[] = [];
  const lines: string[] = [];
  let lineStart = 0;
  const push = (end: number) => {
    starts.push(lineStart);
    lines.push(tail.subarray(lineStart, end).toString(encoding));
  };
  for (let i = 0; i < length; i++) {
    const b = tail[i]!;
    if (b !== 10 && b !== 13) continue;
    push(i);
    if (b === 13 && tail[i + 1] === 10) i++;
    lineStart = i + 1;
  }
  if (lineStart < length) push(length);
  // A tail that starts inside a line: that first piece is no whole line.
  const skip = from > 0 ? 1 : 0;
  const at = trailingFooterAt(lines.slice(skip), dialect, columns) + skip;
  return at < lines.length ? from + starts[at]! : undefined;
}

/** Byte offset of a file's 0-based line `index` (within its first {@link HEAD_BYTES}). */
function lineByte(path: string, index: number): number | undefined {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(HEAD_BYTES);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    let line = 0;
    for (let i = 0; i < length && line < index; i++) {
      const b = buffer[i]!;
      if (b !== 10 && b !== 13) continue;
      if (b === 13 && buffer[i + 1] === 10) i++;
      line++;
      if (line === index) return i + 1;
    }
    return index === 0 ? 0 : undefined;
  } finally {
    closeSync(fd);
  }
}

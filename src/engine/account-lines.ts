import type { DuckDBConnection } from "@duckdb/node-api";
import type { LineCount } from "../integrity/line-count.js";
import { linesOf } from "../integrity/line-count.js";
import { quoteIdent } from "../plan/sql-text.js";
import { describeColumns, queryNumber } from "./duckdb-query.js";
import type { StagedFile } from "./stage-file.js";

/** Line breaks in a text value: `\n`, `\r\n` and a lone `\r` each count once. */
function breaksSql(value: string): string {
  const count = (needle: string) => `(strlen(${value}) - strlen(replace(${value}, ${needle}, '')))`;
  return `coalesce(${count("chr(10)")} + ${count("chr(13)")} - ${count("chr(13) || chr(10)")} // 2, 0)`;
}

/**
 * How many lines of a read file are not accounted for: neither a header or skipped line, a blank line,
 * a row read (loaded or malformed), nor a line break inside a quoted value. Zero for a whole read; more
 * means the reader lost lines without a word (a line bigger than its buffer, a quote that swallowed the
 * rest of the file). `lines` were counted as the file was hashed, independently of the reader; `records`
 * is rows read plus malformed ones. Only when the quick count disagrees are the rows read again to count
 * line breaks inside values (files with quoted line breaks, or a lost line).
 *
 * @example
 * const lost = await unaccountedLines(con, staged, "csv", digest.lines, accepted + malformed);
 */
export async function unaccountedLines(
  con: DuckDBConnection,
  staged: StagedFile,
  format: "csv" | "jsonl",
  lines: LineCount,
  records: number,
  /** Makes `staged.table` first when it is made on demand (a file read with a group). */
  materialize?: (staged: StagedFile) => Promise<void>,
): Promise<number> {
  const total = linesOf(lines, "any");
  if (format === "jsonl") {
    // A JSON line cannot hold a raw line break: each line is a record, blank, or whitespace only.
    return Math.max(0, total - lines.blank - (staged.blankLines ?? 0) - records);
  }
  const deficit = total - (staged.headerLines ?? 0) - lines.blank - records;
  if (deficit <= 0) return 0;
  await materialize?.(staged);
  const columns = await describeColumns(con, quoteIdent(staged.table));
  const texts = columns.filter((c) => /^(VARCHAR|JSON)$/i.test(c.type) && !c.name.startsWith("_sluice_"));
  const inValues =
    texts.length === 0
      ? 0
      : await queryNumber(
          con,
          `SELECT coalesce(sum(${texts.map((c) => breaksSql(quoteIdent(c.name))).join(" + ")}), 0) FROM ${quoteIdent(staged.table)}`,
        );
  const inRejected = await queryNumber(
    con,
    `SELECT coalesce(sum(${breaksSql("raw")}), 0) FROM ${quoteIdent(staged.malformedTable)}`,
  );
  return Math.max(0, deficit - inValues - inRejected);
}

import type { ColumnConfig, FileSourceConfig } from "../config/schema.js";
import { quoteIdent, quoteLiteral } from "./sql-text.js";

/** The CSV dialect Sluice reads a file with: the user's options, the rest as DuckDB sniffed them. */
export interface CsvDialect {
  readonly delimiter: string;
  readonly quote: string;
  readonly escape: string;
  readonly header: boolean;
  readonly skip: number;
  readonly encoding: string;
  readonly newLine?: string | undefined;
  readonly comment?: string | undefined;
}

/** A column as staged: its normalized name, its source name and the DuckDB type it is read as. */
export interface StagedColumn {
  readonly name: string;
  readonly sourceName: string;
  readonly type: string;
  /** True when the type came from `columns:` rather than inference. */
  readonly declared: boolean;
  /** A JSON column of flattened nested data: the paths inside it (`items__sku`), which masks may name. */
  readonly inside?: readonly string[] | undefined;
}

const encodingNames: Record<string, string> = {
  "utf-8": "utf-8",
  utf8: "utf-8",
  "latin-1": "latin-1",
  latin1: "latin-1",
  "iso-8859-1": "latin-1",
  "utf-16": "utf-16",
};

/** DuckDB's name for a configured encoding. */
export function duckdbEncoding(encoding: string | undefined): string {
  return encodingNames[encoding ?? "utf-8"] ?? "utf-8";
}

/** Reader options the user fixed in `source.options` (the sniffer fills in the rest). */
export function userCsvOptions(options: FileSourceConfig["options"]): string[] {
  const out: string[] = [];
  if (!options) return out;
  if (options.delimiter !== undefined) out.push(`delim=${quoteLiteral(options.delimiter)}`);
  if (options.quote !== undefined) out.push(`quote=${quoteLiteral(options.quote)}`);
  if (options.escape !== undefined) out.push(`escape=${quoteLiteral(options.escape)}`);
  if (options.header !== undefined) out.push(`header=${options.header}`);
  if (options.skip !== undefined) out.push(`skip=${options.skip}`);
  if (options.comment !== undefined) out.push(`comment=${quoteLiteral(options.comment)}`);
  if (options.encoding !== undefined) out.push(`encoding=${quoteLiteral(duckdbEncoding(options.encoding))}`);
  return out;
}

/**
 * `sniff_csv` over a file with the user's fixed options. The sniffer gets a generous line limit so
 * one overlong line does not stop detection; the read itself applies the normal limit and rejects it.
 */
export function csvSniffSql(
  path: string,
  options: FileSourceConfig["options"],
  sniffLineLimit: number,
): string {
  // ignore_errors: ragged rows must not make the sniffer give up on the real delimiter.
  const args = [
    quoteLiteral(path),
    ...userCsvOptions(options),
    `max_line_size=${sniffLineLimit}`,
    // DuckDB's default buffer is 16x max_line_size: 4 GiB for the sniff limit. One line's worth is enough.
    `buffer_size=${sniffLineLimit}`,
    "ignore_errors=true",
  ];
  return `SELECT Delimiter, Quote, Escape, NewLineDelimiter, SkipRows, HasHeader, Columns, DateFormat, TimestampFormat FROM sniff_csv(${args.join(", ")})`;
}

function dialectArgs(dialect: CsvDialect): string[] {
  const args = [
    `delim=${quoteLiteral(dialect.delimiter)}`,
    `quote=${quoteLiteral(dialect.quote)}`,
    `escape=${quoteLiteral(dialect.escape)}`,
    `skip=${dialect.skip}`,
    `encoding=${quoteLiteral(dialect.encoding)}`,
  ];
  if (dialect.newLine) args.push(`new_line=${quoteLiteral(dialect.newLine)}`);
  if (dialect.comment) args.push(`comment=${quoteLiteral(dialect.comment)}`);
  return args;
}

/** Reads the header row as plain strings, exactly as written (empty and duplicate names included). */
export function csvHeaderSql(
  path: string,
  dialect: CsvDialect,
  columnCount: number,
  sniffLineLimit: number,
): string {
  const columns = Array.from({ length: columnCount }, (_, i) => `${quoteLiteral(`c${i}`)}: 'VARCHAR'`).join(
    ", ",
  );
  const args = [
    quoteLiteral(path),
    ...dialectArgs(dialect),
    "header=false",
    "auto_detect=false",
    `columns={${columns}}`,
    "null_padding=true",
    "ignore_errors=true",
    `max_line_size=${sniffLineLimit}`,
    `buffer_size=${sniffLineLimit}`,
    "strict_mode=false",
    // DuckDB's parallel scanner refuses null_padding in a file with line breaks inside quoted fields;
    // one row is read, so one thread costs nothing.
    "parallel=false",
  ];
  return `SELECT * FROM read_csv(${args.join(", ")}) LIMIT 1`;
}

/** Options of the real read: explicit dialect and columns, rejects captured into two named tables. */
export interface CsvReadOptions {
  readonly dialect: CsvDialect;
  readonly columns: readonly StagedColumn[];
  readonly rejectsTable: string;
  readonly rejectsScan: string;
  readonly dateFormat?: string | undefined;
  readonly timestampFormat?: string | undefined;
  readonly maxLineSize?: number | undefined;
  readonly nullStrings?: readonly string[] | undefined;
}

/** `read_csv(...)` of a file with every reader decision explicit, so every file of a pipeline reads alike. */
export function csvReadSql(path: string, options: CsvReadOptions): string {
  const columns = options.columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(", ");
  const args = [
    quoteLiteral(path),
    ...dialectArgs(options.dialect),
    `header=${options.dialect.header}`,
    "auto_detect=false",
    `columns={${columns}}`,
    "store_rejects=true",
    `rejects_table=${quoteLiteral(options.rejectsTable)}`,
    `rejects_scan=${quoteLiteral(options.rejectsScan)}`,
    "rejects_limit=0",
  ];
  if (options.dateFormat) args.push(`dateformat=${quoteLiteral(options.dateFormat)}`);
  if (options.timestampFormat) args.push(`timestampformat=${quoteLiteral(options.timestampFormat)}`);
  if (options.maxLineSize) args.push(`max_line_size=${options.maxLineSize}`);
  if (options.nullStrings && options.nullStrings.length > 0) {
    args.push(`nullstr=[${options.nullStrings.map(quoteLiteral).join(", ")}]`);
  }
  return `read_csv(${args.join(", ")})`;
}

/** Reads a JSON-lines file one physical line per row (line number = rowid + 1); parsing happens in SQL. */
export function jsonLinesSql(path: string, maxLineSize: number, newLine = "\\n"): string {
  const args = [
    quoteLiteral(path),
    "columns={'line': 'VARCHAR'}",
    "header=false",
    "auto_detect=false",
    // The record separator cannot appear unescaped in valid JSON, so a line is never split.
    "delim='\\x1e'",
    "quote=''",
    "escape=''",
    `new_line=${quoteLiteral(newLine)}`,
    "strict_mode=false",
    "null_padding=true",
    `max_line_size=${maxLineSize}`,
    `buffer_size=${Math.max(maxLineSize, 32 * 1024 * 1024)}`,
  ];
  return `read_csv(${args.join(", ")})`;
}

/** A JSON pointer for one top-level key (`/a~1b` for `a/b`). */
export function jsonPointer(key: string): string {
  return `/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
}

/** DuckDB scalar type for a json_group_structure leaf; nested values stay JSON. */
export function jsonStructureType(structure: unknown): string {
  if (typeof structure !== "string") return "JSON";
  switch (structure) {
    case "UBIGINT":
    case "BIGINT":
      return "BIGINT";
    case "DOUBLE":
      return "DOUBLE";
    case "BOOLEAN":
      return "BOOLEAN";
    case "VARCHAR":
    case "NULL":
      return "VARCHAR";
    default:
      return structure === "JSON" ? "JSON" : "VARCHAR";
  }
}

/**
 * SQL turning one extracted text value into its declared type: `strptime` for dates and timestamps with a
 * `format`, `TRY_CAST` otherwise. Returns NULL on failure (the caller flags it as a cast error).
 */
export function castExpression(valueSql: string, type: string, column: ColumnConfig | undefined): string {
  const upper = type.toUpperCase();
  if (column?.format && (upper === "DATE" || upper.startsWith("TIMESTAMP"))) {
    return `TRY_CAST(try_strptime(${valueSql}, ${quoteLiteral(column.format)}) AS ${type})`;
  }
  if (upper === "JSON") return valueSql;
  if (column?.decimal_separator !== undefined || column?.thousands_separator !== undefined) {
    return localeNumberCast(valueSql, type, column.decimal_separator ?? ".", column.thousands_separator);
  }
  return `TRY_CAST(${valueSql} AS ${type})`;
}

const regexEscape = (c: string): string => c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * A number written with the given separators, cast only when the whole value fits that convention
 * (`1.234,56` with `,` and `.`): a value written another way is NULL (quarantined), never misread.
 */
function localeNumberCast(
  valueSql: string,
  type: string,
  decimal: string,
  thousands: string | undefined,
): string {
  const digits = thousands ? `(\\d+|\\d{1,3}(${regexEscape(thousands)}\\d{3})+)` : "\\d+";
  const pattern = `^[+-]?${digits}(${regexEscape(decimal)}\\d+)?$`;
  const value = `trim(${valueSql})`;
  const plain = thousands ? `replace(${value}, ${quoteLiteral(thousands)}, '')` : value;
  const point = decimal === "." ? plain : `replace(${plain}, ${quoteLiteral(decimal)}, '.')`;
  return `CASE WHEN regexp_full_match(${value}, ${quoteLiteral(pattern)}) THEN TRY_CAST(${point} AS ${type}) END`;
}

/** Quoted column reference. */
export const col = quoteIdent;

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { ColumnConfig, FileFormat, FileSourceConfig, NestedConfig } from "../config/schema.js";
import { firstLine, SluiceError } from "../errors.js";
import type { LineCount } from "../integrity/line-count.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import {
  type CsvDetection,
  type CsvLayout,
  type DecimalComma,
  detectCsvLayout,
  sampleFits,
} from "../plan/detect-csv-layout.js";
import {
  jsonArrayLayoutSql,
  jsonArrayReadSql,
  jsonElementStartsSql,
  jsonLineElementsSql,
  jsonStructureSql,
} from "../plan/json-array-sql.js";
import { flattensNested } from "../plan/nested-json.js";
import {
  type CsvDialect,
  type CsvReadOptions,
  castExpression,
  csvHeaderSql,
  csvReadSql,
  csvSniffSql,
  duckdbEncoding,
  jsonLinesSql,
  jsonStructureType,
  type StagedColumn,
} from "../plan/read-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { AvroReaderSchema } from "./avro-container.js";
import { avroToJsonLines } from "./avro-to-json-lines.js";
import { avroToTable } from "./avro-to-table.js";
import { type CsvStart, SNIFF_LINE_LIMIT, scanCsvStart } from "./csv-start-scan.js";
import { queryNumber, queryRows, withoutInsertionOrder } from "./duckdb-query.js";
import { fileRows } from "./file-rows.js";
import { lineEndsToLf, mixesLineEnds } from "./line-ends-to-lf.js";
import { nestedJsonColumns } from "./nested-json-columns.js";
import { quarantineLateTable } from "./quarantine-late-table.js";
import { replaceHeaderLine } from "./replace-header-line.js";
import { type OwnRecordsRead, ownTable, stageOwnRecords } from "./stage-own-records.js";
import { quarantineTrailingBlocks, TRAILING_SQL, type TrailingBlocks } from "./trailing-blocks.js";
import { utf16ToUtf8 } from "./utf16-to-utf8.js";

/** What the stage step needs to read one file. */
export interface StageRequest {
  readonly localPath: string;
  /** Landing-relative path, used in messages. */
  readonly displayPath: string;
  readonly format: FileFormat;
  /** `nested`: how a JSON file's nested values land (set by `withResolvedColumns` from the pipeline's `nested:`). */
  readonly source: FileSourceConfig & { readonly nested?: NestedConfig | undefined };
  /** The pipeline's `columns:` keyed by the names the columns have in the rows (`withResolvedColumns`). */
  readonly columns: Readonly<Record<string, ColumnConfig>>;
  readonly naming: "snake_case" | "keep";
  /** Prefix for this file's temporary tables (unique within the session). */
  readonly tablePrefix: string;
  /**
   * CSV: plan the read but do not run it — `table` becomes a view over `read_csv` that the publish reads
   * once (see {@link DeferredRead}). Ignored where a file needs work after reading (late date formats).
   */
  readonly deferred?: boolean | undefined;
  /**
   * CSV: keep the rows in file order, so that a row's `rowid` is its position (default true). Rows that
   * are checked or deduplicated need it (quarantine line numbers, ties broken by position), and so do
   * change events (batch order breaks ties); others are read faster without it.
   */
  readonly keepOrder?: boolean | undefined;
  /** A folder of the run's own where a file read through a converted copy (UTF-16) gets it. */
  readonly workDir?: string | undefined;
  /**
   * JSON lines Sluice wrote itself (a stream batch's chunk): "\n" line ends and no blank lines, so
   * neither is looked for.
   */
  readonly ownChunk?: boolean | undefined;
  /** Avro: the reader schema each file's records are resolved to (`source.avro_schema`). */
  readonly avroReader?: AvroReaderSchema | undefined;
  /**
   * JSON lines: the records of a chunk of Sluice's own as it parsed them; the chunk is then read in one
   * pass where it can be (see stageOwnRecords), the file way where not.
   */
  readonly ownRecords?: OwnRecordsRead | undefined;
}

/**
 * A CSV read planned but not yet run: `table` is a view over `read_csv` with `store_rejects`, read by
 * the statement that writes the target. Its counts are unknown until then; {@link completeDeferredRead}
 * collects the rejected records of that scan afterwards.
 */
export interface DeferredRead {
  readonly rejectsTable: string;
  readonly rejectsScan: string;
  /** Columns whose type was inferred from a sample (a value not fitting them means reading again). */
  readonly inferred: readonly string[];
  /** Masked columns: their values are never quoted in a malformed row's message. */
  readonly masked: readonly string[];
  /** What a second table past the sample is looked for with, in the rejects (see quarantineLateTable). */
  readonly late: LateTableRead;
  /** The formats dates and timestamps are read with (undefined: DuckDB's ISO 8601 reading). */
  readonly dateFormat?: string | undefined;
  readonly timestampFormat?: string | undefined;
}

/** The file as read and its dialect: where a second table the sample did not show is looked for. */
export interface LateTableRead {
  readonly path: string;
  readonly displayPath: string;
  readonly malformedTable: string;
  readonly encoding: BufferEncoding;
  readonly dialect: CsvDialect;
  readonly columns: number;
}

/**
 * One file read into DuckDB: `table` holds the accepted rows (normalized column names, declared or
 * inferred types, plus `_sluice_line`), `malformedTable` one row per rejected record
 * (`line`, `error_type`, `message`, `raw`).
 */
export interface StagedFile {
  /** Names this file's work tables: `<prefix>_stage`, `<prefix>_malformed`, and those of its checks. */
  readonly prefix: string;
  readonly table: string;
  readonly malformedTable: string;
  readonly columns: readonly StagedColumn[];
  readonly accepted: number;
  /** Rows the reader rejected (rule `malformed`). */
  readonly malformed: number;
  /**
   * CSV only: lines after the table that are no rows of it, quarantined whatever `on_malformed` says
   * (rules `footer`, `second_table`; in `malformedTable` too, see {@link TRAILING_SQL}). Absent: none.
   */
  readonly trailing?: number | undefined;
  readonly warnings: readonly string[];
  /** CSV only: lines before the first record (skipped lines and the header). */
  readonly headerLines?: number | undefined;
  /** JSON lines only: lines holding only spaces or tabs (skipped, like empty ones). */
  readonly blankLines?: number | undefined;
  /** The line breaks of the converted copy read instead of the file (UTF-16 read as UTF-8). */
  readonly lines?: LineCount | undefined;
  /**
   * Avro read in place: `table` is a view over the decoded chunks and `accepted` the decoder's count of
   * records. As for a database extract read in place (StagedQuery.readsFiles), the run takes that count
   * for the batch's and profiles the rows once they are in the target.
   */
  readonly readsFiles?: boolean | undefined;
  /** Set when the read is deferred to the publish: `accepted` and `malformed` are 0 until it has run. */
  readonly deferred?: DeferredRead | undefined;
  /** CSV only: the layout the file was read with, and what was detected or repaired (the report's `csv`). */
  readonly csv?: CsvDetection | undefined;
  /** JSON lines of Sluice's own read in one pass (see stageOwnRecords), not the file way. */
  readonly readAsRecords?: boolean | undefined;
  /**
   * The staged rows without `_sluice_line`, for reads that need no line numbers (the batch): a database
   * extract staged in place numbers its lines with a window over the CSV read, which makes any read of
   * the stage single-threaded. Absent: read `table`.
   */
  readonly rowsTable?: string | undefined;
}

const DEFAULT_MAX_LINE = 2_000_000;

/**
 * The longest line a CSV read can hold: DuckDB's read buffer. A longer one is skipped by the reader
 * without a reject (the read then fails as one that lost lines); one at the start of a file is refused
 * before any reading, instead of minutes of sniffing it. Lines over `max_line_size` (but within this)
 * are quarantined.
 */
export const MAX_CSV_LINE_BYTES = 32 * 1024 * 1024;

/**
 * The most columns a file may have. Each column costs DuckDB memory per read buffer and each new one
 * an `ALTER TABLE`: wider files go past the memory limit. Refused before reading (see docs).
 */
export const MAX_COLUMNS = 2000;

/** The refusal of a file with more than {@link MAX_COLUMNS} columns. */
function tooWide(displayPath: string, columns: number, estimated = false): SluiceError {
  return new SluiceError(
    "FILE_UNPARSEABLE",
    `${displayPath}: ${estimated ? "its header has about" : "it has"} ${columns} columns, more than the ${MAX_COLUMNS} Sluice reads in one file; split the file by columns or select fewer columns upstream; nothing of it is published`,
  );
}

/**
 * How many fields a CSV file's first line has, counted by the delimiter it holds most (or the
 * configured one).
 */
function headerFieldsAtMost(firstLine: string, delimiter: string | undefined): number {
  const candidates = delimiter !== undefined ? [delimiter] : [",", ";", "\t", "|"];
  return Math.max(...candidates.map((d) => firstLine.split(d).length));
}

/**
 * Reads a source file into temporary tables in one bulk pass; rejects are captured, never thrown.
 *
 * @example
 * const staged = await stageFile(con, { localPath, displayPath: "in/a.csv", format: "csv", source, columns: {}, naming: "snake_case", tablePrefix: "f1" });
 */
export async function stageFile(con: DuckDBConnection, requested: StageRequest): Promise<StagedFile> {
  let request = requested;
  let convertedLines: LineCount | undefined;
  const options = requested.source.options;
  if (
    requested.format === "csv" &&
    requested.workDir &&
    duckdbEncoding(options?.encoding) === "utf-16" &&
    !/\.(gz|gzip|zst|zstd)$/i.test(requested.localPath)
  ) {
    const copy = await utf16ToUtf8(requested.localPath, requested.workDir);
    request = {
      ...requested,
      localPath: copy.path,
      source: { ...requested.source, options: { ...options, encoding: "utf-8" } },
    };
    convertedLines = copy.lines;
  } else if (requested.format === "avro" && flattensNested(requested.source.nested)) {
    // Flattened or split into tables, Avro is decoded to JSON lines and read the JSON-lines way (the
    // nested modes work on JSON paths), typed by its schema.
    const copy = await avroToJsonLines(
      requested.localPath,
      requested.displayPath,
      requested.workDir ?? join(tmpdir(), `sluice-avro-${process.pid}-${requested.tablePrefix}`),
      requested.avroReader,
    );
    request = {
      ...requested,
      format: "jsonl",
      localPath: copy.path,
      columns: withAvroTypes(requested, copy.fields),
    };
    convertedLines = copy.lines;
  } else if (requested.format === "csv" && requested.workDir && mixesLineEnds(requested.localPath)) {
    const copy = await lineEndsToLf(requested.localPath, requested.workDir);
    request = { ...requested, localPath: copy.path };
    convertedLines = copy.lines;
  }
  const table = `${request.tablePrefix}_stage`;
  const malformedTable = `${request.tablePrefix}_malformed`;
  await con.run(
    `CREATE OR REPLACE TEMP TABLE ${quoteIdent(malformedTable)} (line BIGINT, error_type VARCHAR, message VARCHAR, raw VARCHAR)`,
  );
  const context = { ...request, table, malformedTable };
  let columns: StagedColumn[];
  const warnings: string[] = [];
  const csvLayout: CsvLayoutState & { blankLines?: number } = {};
  let readAsRecords = false;
  // Rows counted where they were read (an Avro file read in place: one per record, none malformed).
  let counted: { accepted: number; malformed: number; trailing: number } | undefined;
  switch (request.format) {
    case "csv":
      columns = await stageCsv(con, context, warnings, csvLayout);
      break;
    case "jsonl": {
      const own = await stageOwn(con, context);
      if (own) {
        csvLayout.blankLines = 0;
        readAsRecords = true;
      }
      columns = own ?? (await stageJsonl(con, context, warnings, csvLayout));
      break;
    }
    case "json":
      columns = await stageJson(con, context, warnings);
      break;
    case "parquet":
      columns = await stageParquet(con, context);
      break;
    case "avro": {
      const read = await stageAvro(con, context);
      columns = read.columns;
      convertedLines = { lf: read.records, cr: 0, open: 0, blank: 0 };
      if (read.inPlace) counted = { accepted: read.records, malformed: 0, trailing: 0 };
      // Counted like JSON lines: one line per record, none blank.
      csvLayout.blankLines = 0;
      break;
    }
  }
  // A deferred read has not run yet: its counts come from the statement that reads it.
  const counts = csvLayout.deferred
    ? undefined
    : (counted ?? (await stagedCounts(con, table, malformedTable)));
  return {
    prefix: request.tablePrefix,
    table,
    malformedTable,
    columns,
    accepted: counts?.accepted ?? 0,
    malformed: counts?.malformed ?? 0,
    trailing: counts?.trailing ?? 0,
    warnings,
    headerLines: csvLayout.headerLines,
    blankLines: csvLayout.blankLines,
    lines: convertedLines,
    deferred: csvLayout.deferred,
    csv: csvLayout.detected,
    ...(readAsRecords ? { readAsRecords } : {}),
    ...(counted ? { readsFiles: true } : {}),
  };
}

/**
 * A chunk of Sluice's own read in one pass (stageOwnRecords); undefined when it cannot be, or DuckDB read
 * a record otherwise than JavaScript did: its work tables are then dropped and the malformed rows it wrote
 * removed, so that the file way starts clean.
 */
async function stageOwn(con: DuckDBConnection, ctx: StageContext): Promise<StagedColumn[] | undefined> {
  if (!ctx.ownRecords) return undefined;
  const helpers = { declaredFor, castIntoStage, maxColumns: MAX_COLUMNS };
  const columns = await stageOwnRecords(con, ctx, ctx.ownRecords, helpers).catch(() => undefined);
  if (columns) return columns;
  for (const t of [ownTable(ctx.tablePrefix), `${ctx.tablePrefix}_cast`, ctx.table])
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(t)}`);
  await con.run(`DELETE FROM ${quoteIdent(ctx.malformedTable)}`);
  return undefined;
}

/** The rows staged, malformed and trailing, in one query (one round trip). */
async function stagedCounts(
  con: DuckDBConnection,
  table: string,
  malformedTable: string,
): Promise<{ accepted: number; malformed: number; trailing: number }> {
  const [row] = await queryRows(
    con,
    `SELECT (SELECT count(*) FROM ${quoteIdent(table)}) AS accepted,
            count(*) FILTER (WHERE NOT ${TRAILING_SQL}) AS malformed,
            count(*) FILTER (WHERE ${TRAILING_SQL}) AS trailing
     FROM ${quoteIdent(malformedTable)}`,
  );
  return {
    accepted: Number(row?.accepted),
    malformed: Number(row?.malformed),
    trailing: Number(row?.trailing),
  };
}

/**
 * After the publish read a deferred CSV (one scan, inside its transaction): its rejected records go to
 * `malformedTable` as for a staged read. Returns how many there are and which inferred columns had
 * values that do not fit their type — then the file must be read again the staged way, which widens them.
 *
 * @example
 * const { malformed, misfits } = await completeDeferredRead(con, staged);
 */
export async function completeDeferredRead(
  con: DuckDBConnection,
  staged: StagedFile,
): Promise<{ malformed: number; trailing: number; misfits: string[]; late?: LateTable | undefined }> {
  const deferred = staged.deferred;
  if (!deferred) throw new SluiceError("INTERNAL", `${staged.table}: not a deferred read`);
  // The publish may have scanned the view more than once (a type check before the write): the last scan
  // is the write's.
  const lastScan = `scan_id = (SELECT max(scan_id) FROM ${quoteIdent(deferred.rejectsScan)})`;
  const exists =
    (await queryNumber(
      con,
      `SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ${quoteLiteral(deferred.rejectsTable)}`,
    )) > 0;
  const counted = async () => {
    const rows = await queryRows(
      con,
      `SELECT count(*) FILTER (WHERE NOT ${TRAILING_SQL}) AS malformed, count(*) FILTER (WHERE ${TRAILING_SQL}) AS trailing FROM ${quoteIdent(staged.malformedTable)}`,
    );
    return { malformed: Number(rows[0]?.malformed ?? 0), trailing: Number(rows[0]?.trailing ?? 0) };
  };
  if (!exists) return { ...(await counted()), misfits: [] };
  const castMisses = await queryRows(con, castMissesSql(deferred.rejectsTable, lastScan));
  const misfits = castMisses.map((r) => String(r.column_name)).filter((c) => deferred.inferred.includes(c));
  await con.run(collectRejectsSql(staged.malformedTable, deferred.rejectsTable, deferred.masked, lastScan));
  const late = await lateTableOf(con, deferred.late);
  return { ...(await counted()), misfits, late };
}

/**
 * One malformed row per rejected line (a line can fail several ways). DuckDB's message for a value that
 * does not convert quotes the value: for a masked column it is replaced by one that does not.
 */
function collectRejectsSql(
  malformedTable: string,
  rejectsTable: string,
  masked: readonly string[],
  where = "true",
): string {
  const withheld =
    masked.length > 0
      ? `WHEN error_type = 'CAST' AND column_name IN (${masked.map(quoteLiteral).join(", ")})
           THEN 'column ' || column_name || ': ' || ${quoteLiteral(WITHHELD_CAST)} `
      : "";
  return `INSERT INTO ${quoteIdent(malformedTable)}
    SELECT line, string_agg(DISTINCT error_type, ', ' ORDER BY error_type),
           string_agg(CASE ${withheld}WHEN error_type = 'CAST' OR column_name IS NULL THEN error_message
                           ELSE error_message || ' (column ' || column_name || ')' END, '; '),
           any_value(csv_line)
    FROM ${quoteIdent(rejectsTable)} WHERE ${where} GROUP BY line ORDER BY line`;
}

type StageContext = StageRequest & { readonly table: string; readonly malformedTable: string };

/** The message of a masked column's value that does not convert (the value itself is not quoted). */
const WITHHELD_CAST = "a value does not convert to the column's type (value withheld: the column is masked)";

/** The columns of a file that the pipeline masks, by their names in the stage. */
function maskedNames(ctx: StageContext, columns: readonly { name: string; sourceName: string }[]): string[] {
  return columns.filter((c) => declaredFor(ctx.columns, c.name)?.mask !== undefined).map((c) => c.name);
}

/**
 * A column's declaration, by its name in the rows: `columns` are keyed so (see `withResolvedColumns`),
 * whether the config wrote the source's name or the normalized one.
 */
/** The Avro schema's types for top-level fields the pipeline does not declare itself. */
function withAvroTypes(
  request: StageRequest,
  fields: readonly { name: string; type: string | undefined }[],
): Record<string, ColumnConfig> {
  const names = normalizeColumnNames(
    fields.map((f) => f.name),
    request.naming,
  );
  const columns: Record<string, ColumnConfig> = { ...request.columns };
  fields.forEach((f, i) => {
    const name = names[i]!;
    if (f.type !== undefined && columns[name]?.type === undefined)
      columns[name] = { ...columns[name], type: f.type };
  });
  return columns;
}

function declaredFor(
  columns: Readonly<Record<string, ColumnConfig>>,
  name: string,
): ColumnConfig | undefined {
  return columns[name];
}

function unparseable(ctx: StageContext, what: string, error: unknown): SluiceError {
  const detail =
    error instanceof Error ? firstLine(error.message).replace(/^[A-Za-z ]+Error: /, "") : String(error);
  return new SluiceError("FILE_UNPARSEABLE", `${ctx.displayPath}: cannot be read as ${what}: ${detail}`, {
    cause: error,
  });
}

/** What stageCsv found about a file's layout, for the run report. */
type CsvLayoutState = { headerLines?: number; deferred?: DeferredRead; detected?: CsvDetection };

async function stageCsv(
  con: DuckDBConnection,
  file: StageContext,
  warnings: string[],
  layout: CsvLayoutState,
): Promise<StagedColumn[]> {
  let ctx = file;
  const options = ctx.source.options;
  const { sniffLimit } = refuseUnreadableCsv(ctx);
  const dialected = await csvDialectOf(con, ctx, sniffLimit);
  const { dialect, repairedNames, decimalComma } = dialected;
  let { sniff, sniffedColumns } = dialected;
  // A header replaced in a copy (see replaceHeaderLine) is read from the copy.
  if (dialected.readPath) ctx = { ...ctx, localPath: dialected.readPath };
  layout.headerLines = dialect.skip + (dialect.header ? 1 : 0);
  const encoding: BufferEncoding = dialect.encoding === "latin-1" ? "latin1" : "utf8";
  // Footer lines and a second table are quarantined, and the file read through a copy without them.
  const blocks = await quarantineTrailingBlocks(
    con,
    {
      path: ctx.localPath,
      workDir: ctx.workDir,
      malformedTable: ctx.malformedTable,
      encoding,
      sample: dialected.sample,
    },
    dialect,
    sniffedColumns.length,
  );
  if (blocks) {
    ctx = { ...ctx, localPath: blocks.path };
    warnings.push(...describeBlocks(ctx.displayPath, blocks));
    // The types are sniffed again without those lines (a `Total` must not make an id column text).
    const { delimiter, quote, header, skip } = dialect;
    const fixed = { ...definedOnly(options ?? {}), delimiter, quote, escape: dialect.escape, header, skip };
    const again = await sniffCsv(con, ctx, fixed, sniffLimit).catch(() => undefined);
    const againColumns = (again?.Columns as { name: string; type: string }[] | undefined) ?? [];
    if (again && againColumns.length === sniffedColumns.length) {
      sniff = again;
      sniffedColumns = againColumns;
    }
  }

  const rawNames = await csvRawNames(
    con,
    ctx.localPath,
    dialect,
    sniffedColumns.length,
    repairedNames,
    sniffLimit,
  );
  const names = normalizeColumnNames(rawNames, ctx.naming);
  const { columns, dateFormat, timestampFormat } = csvColumnsOf(ctx, names, rawNames, sniff, sniffedColumns);
  for (const [key, declared] of Object.entries(ctx.columns)) {
    // A masked column the file lacks fails the file (see unmaskableColumnError): no warning for it.
    if (declared.mask === undefined && !columns.some((c) => c.name === key)) {
      warnings.push(`declared column ${key} is not in ${ctx.displayPath}; it is left empty`);
    }
  }

  const rejectsTable = `${ctx.tablePrefix}_rejects`;
  const rejectsScan = `${ctx.tablePrefix}_rejects_scan`;
  const read = (cols: readonly StagedColumn[], kind: "TABLE" | "VIEW") =>
    readCsvInto(con, ctx, kind, {
      dialect,
      columns: cols,
      rejectsTable,
      rejectsScan,
      dateFormat,
      timestampFormat,
      maxLineSize: options?.max_line_size ?? DEFAULT_MAX_LINE,
      nullStrings: options?.null === undefined ? undefined : [options.null].flat(),
    });

  // Declared formats the reader cannot apply (several layouts in one file) are cast after reading.
  const late = columns.filter(
    (c) =>
      c.declared &&
      c.type === "VARCHAR" &&
      declaredFor(ctx.columns, c.name)?.type?.toUpperCase() !== "VARCHAR",
  );
  // Decimal-comma columns (detected, read as text) are converted after the read, whole values only.
  const commas = columns.filter(
    (c, i) => !c.declared && c.type === "VARCHAR" && decimalComma?.columns.includes(i),
  );
  let detected: CsvDetection = { ...dialected.detected, ...blocksReport(blocks) };
  const lateRead: LateTableRead = {
    path: ctx.localPath,
    displayPath: ctx.displayPath,
    malformedTable: ctx.malformedTable,
    encoding,
    dialect,
    columns: columns.length,
  };
  if (ctx.deferred && late.length === 0 && commas.length === 0) {
    layout.detected = detected;
    if (detected.source === "repaired") warnings.push(describeRepair(ctx.displayPath, detected));
    await read(columns, "VIEW");
    layout.deferred = {
      rejectsTable,
      rejectsScan,
      inferred: columns.filter((c) => !c.declared && c.type !== "VARCHAR").map((c) => c.name),
      masked: maskedNames(ctx, columns),
      late: lateRead,
      dateFormat,
      timestampFormat,
    };
    return columns;
  }

  await read(columns, "TABLE");
  const widened = await widenMisfits(con, rejectsTable, columns, warnings);
  if (widened !== columns) {
    columns.splice(0, columns.length, ...widened);
    await read(columns, "TABLE");
  }
  await con.run(collectRejectsSql(ctx.malformedTable, rejectsTable, maskedNames(ctx, columns)));
  const lateTable = await lateTableOf(con, lateRead);
  if (lateTable) {
    detected = { ...detected, ...lateTable.csv };
    warnings.push(lateTable.warning);
  }
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(rejectsTable)}`);
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(rejectsScan)}`);
  if (late.length > 0) await castLateColumns(con, ctx, columns, late);
  if (commas.length > 0 && (await castDecimalCommas(con, ctx, columns, commas, decimalComma!.thousands))) {
    detected = {
      ...detected,
      source: "repaired",
      decimal_separator: ",",
      ...(decimalComma!.thousands ? { thousands_separator: decimalComma!.thousands } : {}),
    };
  }
  layout.detected = detected;
  if (detected.source === "repaired") warnings.push(describeRepair(ctx.displayPath, detected));
  return columns;
}

/** The names of a CSV file's columns as written (repaired where the header was; null: none). */
async function csvRawNames(
  con: DuckDBConnection,
  path: string,
  dialect: CsvDialect,
  count: number,
  repairedNames: readonly (string | null)[] | undefined,
  sniffLimit: number,
): Promise<(string | null)[]> {
  if (repairedNames) return Array.from({ length: count }, (_, i) => repairedNames[i] ?? null);
  if (!dialect.header) return Array.from({ length: count }, () => null);
  const row = (await fileRows(con, path, csvHeaderSql(path, dialect, count, sniffLimit)))[0] ?? {};
  return Array.from({ length: count }, (_, i) => (row[`c${i}`] as string | null | undefined) ?? null);
}

/**
 * The columns a CSV file would be staged with (names as written, sniffed types), found the way
 * {@link stageFile} finds them — layout detection and header repair included — without reading its rows.
 * For `sluice validate`'s sample, so that it lists the columns a run loads.
 */
export async function describeCsvFile(
  con: DuckDBConnection,
  request: StageRequest,
): Promise<{ names: (string | null)[]; types: string[] }> {
  const ctx: StageContext = {
    ...request,
    table: `${request.tablePrefix}_stage`,
    malformedTable: `${request.tablePrefix}_malformed`,
  };
  const { sniffLimit } = refuseUnreadableCsv(ctx);
  const d = await csvDialectOf(con, ctx, sniffLimit);
  const path = d.readPath ?? ctx.localPath;
  const count = d.sniffedColumns.length;
  return {
    names: await csvRawNames(con, path, d.dialect, count, d.repairedNames, sniffLimit),
    types: d.sniffedColumns.map((c) => c.type),
  };
}

/** Refuses, before any reading, a file whose first lines are too long or whose header is too wide. */
function refuseUnreadableCsv(ctx: StageContext): CsvStart {
  const start = scanCsvStart(ctx.localPath, MAX_CSV_LINE_BYTES);
  const overlong = start.overlongLine;
  if (overlong !== undefined) {
    throw new SluiceError(
      "FILE_UNPARSEABLE",
      `${ctx.displayPath}: line ${overlong} is longer than ${MAX_CSV_LINE_BYTES / 1024 / 1024} MiB, the longest line Sluice reads; nothing of the file is published`,
    );
  }
  const fields = headerFieldsAtMost(start.firstLine, ctx.source.options?.delimiter);
  if (fields > MAX_COLUMNS) throw tooWide(ctx.displayPath, fields, true);
  return start;
}

/** What the sniffer said of a file, read with {@link csvSniffSql}. */
type Sniffed = Record<string, unknown>;

const emptyOf = (v: unknown): string => (v === "(empty)" || v === undefined || v === null ? "" : String(v));

/** Bytes of a file's start read to check the sniffed dialect (and detect another when it misreads). */
const SAMPLE_BYTES = 64 * 1024;

/** The first {@link SAMPLE_BYTES} of an uncompressed file as text, and whether that is all of it. */
function csvSample(path: string, encoding: string): { text: string; complete: boolean } | undefined {
  if (/\.(gz|gzip|zst|zstd)$/i.test(path) || encoding === "utf-16") return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    const buffer = Buffer.allocUnsafe(Math.min(size, SAMPLE_BYTES));
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, length).toString(encoding === "latin-1" ? "latin1" : "utf8");
    return { text, complete: length >= size };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

async function sniffCsv(
  con: DuckDBConnection,
  ctx: StageContext,
  options: FileSourceConfig["options"],
  sniffLimit: number,
): Promise<Sniffed> {
  try {
    return (await fileRows(con, ctx.localPath, csvSniffSql(ctx.localPath, options, sniffLimit)))[0] ?? {};
  } catch (error) {
    throw unparseable(ctx, "CSV", error);
  }
}

function dialectFromSniff(sniff: Sniffed, options: FileSourceConfig["options"]): CsvDialect {
  // A sample without quotes sniffs as "no quote"; RFC 4180 quoting is still the right default.
  const sniffedQuote = emptyOf(sniff.Quote) || '"';
  return {
    delimiter: options?.delimiter ?? emptyOf(sniff.Delimiter),
    quote: options?.quote ?? sniffedQuote,
    escape: options?.escape ?? (emptyOf(sniff.Quote) === "" ? '"' : emptyOf(sniff.Escape)),
    header: options?.header ?? Boolean(sniff.HasHeader),
    skip: options?.skip ?? Number(sniff.SkipRows ?? 0),
    encoding: duckdbEncoding(options?.encoding),
    comment: options?.comment,
  };
}

/**
 * The dialect a CSV file is read with. DuckDB's sniffer decides; its reading of the first
 * {@link SAMPLE_BYTES} is then checked in JavaScript (every row the same width, a header that is one, no
 * padding, no decimal commas). Only when that check fails is the layout detected from the data rows
 * (see `detectCsvLayout`) and the file sniffed again with it, `source.options` still winning.
 */
async function csvDialectOf(
  con: DuckDBConnection,
  ctx: StageContext,
  sniffLimit: number,
): Promise<{
  dialect: CsvDialect;
  sniff: Sniffed;
  sniffedColumns: { name: string; type: string }[];
  repairedNames: readonly (string | null)[] | undefined;
  detected: CsvDetection;
  readPath?: string;
  decimalComma: DecimalComma | undefined;
  sample: { text: string; complete: boolean } | undefined;
}> {
  const options = ctx.source.options;
  let sniff = await sniffCsv(con, ctx, options, sniffLimit);
  let dialect = dialectFromSniff(sniff, options);
  const columnsOf = (s: Sniffed) => (s.Columns as { name: string; type: string }[] | undefined) ?? [];
  let repairedNames: readonly (string | null)[] | undefined;
  let repaired: CsvLayout | undefined;
  let readPath: string | undefined;
  const sample = csvSample(ctx.localPath, dialect.encoding);
  const fits =
    !sample ||
    dialect.delimiter === "" ||
    sampleFits(sample.text, sample.complete, { ...dialect, columns: columnsOf(sniff).length });
  const layout = fits
    ? undefined
    : detectCsvLayout(sample!.text, sample!.complete, {
        delimiter: options?.delimiter,
        quote: options?.quote,
        escape: options?.escape,
      });
  if (layout && !sameAsSniffed(layout, dialect, columnsOf(sniff).length)) {
    const repairHeader = layout.repairedNames !== undefined && options?.header === undefined;
    const fixed: FileSourceConfig["options"] = {
      delimiter: layout.delimiter,
      quote: layout.quote,
      escape: layout.escape,
      header: layout.headerLine !== undefined && !repairHeader,
      skip: repairHeader ? layout.headerLine! + 1 : layout.preambleLines,
      ...definedOnly(options ?? {}),
    };
    const copy =
      repairHeader && layout.strayQuote && ctx.workDir
        ? await replaceHeaderLine(ctx.localPath, ctx.workDir, layout.headerLine!, namesLine(layout))
        : undefined;
    if (copy)
      Object.assign(fixed, { header: true, skip: layout.preambleLines, ...definedOnly(options ?? {}) });
    const read = copy ? { ...ctx, localPath: copy } : ctx;
    const again = await sniffCsv(con, read, fixed, sniffLimit).catch(() => undefined);
    if (again && columnsOf(again).length === layout.columns) {
      sniff = again;
      dialect = dialectFromSniff(again, fixed);
      repairedNames = repairHeader ? layout.repairedNames : undefined;
      repaired = layout;
      readPath = copy;
    }
  }
  const sniffedColumns = columnsOf(sniff);
  if (sniffedColumns.length > MAX_COLUMNS) throw tooWide(ctx.displayPath, sniffedColumns.length);
  if (dialect.delimiter === "") throw unparseable(ctx, "CSV", new Error("no delimiter could be detected"));
  return {
    dialect,
    sniff,
    sniffedColumns,
    repairedNames,
    detected: detectionOf(dialect, repaired, repairedNames !== undefined),
    ...(readPath ? { readPath } : {}),
    // Decimal-comma columns of the sample, where the file is read with the layout's columns.
    decimalComma: layout?.columns === sniffedColumns.length ? layout.decimalComma : undefined,
    sample,
  };
}

/** A clean header line of a layout's repaired names (quoted; a name that is none stays empty). */
function namesLine(layout: CsvLayout): string {
  const q = layout.quote || '"';
  return (layout.repairedNames ?? [])
    .map((n) => (n === null ? "" : `${q}${n.replaceAll(q, q + q)}${q}`))
    .join(layout.delimiter);
}

/** The layout reads the file as the sniffer did: nothing to repair. */
function sameAsSniffed(layout: CsvLayout, dialect: CsvDialect, columns: number): boolean {
  return (
    layout.delimiter === dialect.delimiter &&
    layout.columns === columns &&
    layout.preambleLines === dialect.skip &&
    (layout.headerLine !== undefined) === dialect.header &&
    layout.repairedNames === undefined
  );
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The report's account of a file's layout (see docs/messy-csv.md). */
function detectionOf(
  dialect: CsvDialect,
  layout: CsvLayout | undefined,
  headerRepaired: boolean,
): CsvDetection {
  const headerLine = dialect.header ? dialect.skip + 1 : headerRepaired ? dialect.skip : null;
  return {
    source: layout ? "repaired" : "sniffed",
    delimiter: dialect.delimiter,
    quote: dialect.quote,
    escape: dialect.escape,
    header_line: headerLine,
    preamble_lines: layout ? layout.preambleLines : dialect.skip,
    padding_trimmed: dialect.delimiter.length > 1 && dialect.delimiter.endsWith(" "),
    header_repaired: headerRepaired,
  };
}

/** A second table found in a read's rejects: the report's `csv` keys and the file's warning. */
export interface LateTable {
  readonly csv: Pick<CsvDetection, "second_table_line" | "second_table_lines">;
  readonly warning: string;
}

/** Looks for a second table the sample did not show in a read's rejects (see quarantineLateTable). */
async function lateTableOf(con: DuckDBConnection, read: LateTableRead): Promise<LateTable | undefined> {
  // A compressed file's last bytes are no text: its lines cannot be looked at without inflating it.
  if (/\.(gz|gzip|zst|zstd)$/i.test(read.path)) return undefined;
  const found = await quarantineLateTable(con, read, read.dialect, read.columns);
  if (!found) return undefined;
  return {
    csv: { second_table_line: found.line, second_table_lines: found.lines },
    warning: describeBlocks(read.displayPath, { secondTableLine: found.line })[0]!,
  };
}

/** The report's account of what followed a file's table (see docs/messy-csv.md). */
function blocksReport(blocks: TrailingBlocks | undefined): Partial<CsvDetection> {
  if (!blocks) return {};
  return {
    ...(blocks.footerLine !== undefined
      ? { footer_line: blocks.footerLine, footer_lines: blocks.footerLines! }
      : {}),
    ...(blocks.secondTableLine !== undefined
      ? { second_table_line: blocks.secondTableLine, second_table_lines: blocks.secondTableLines! }
      : {}),
  };
}

/** The warnings of lines left out of a file's table: footer lines, a second table. */
function describeBlocks(displayPath: string, blocks: Omit<TrailingBlocks, "path">): string[] {
  return [
    ...(blocks.footerLine !== undefined
      ? [
          `${displayPath}: ${blocks.footerLines} total/summary line(s) after the data, from line ${blocks.footerLine}, quarantined (rule footer)`,
        ]
      : []),
    ...(blocks.secondTableLine !== undefined
      ? [
          `${displayPath}: a second table starts at line ${blocks.secondTableLine}; only the first is loaded, the lines from there on are quarantined (rule second_table)`,
        ]
      : []),
  ];
}

/** The warning of a file read another way than DuckDB's sniffer proposed. */
function describeRepair(displayPath: string, d: CsvDetection): string {
  const parts = [`delimiter ${JSON.stringify(d.delimiter)}`];
  if (d.preamble_lines > 0) parts.push(`${d.preamble_lines} line(s) before the header skipped`);
  if (d.header_line === null) parts.push("no header row");
  else parts.push(`header at line ${d.header_line}${d.header_repaired ? " (repaired)" : ""}`);
  if (d.padding_trimmed) parts.push("padding after the delimiter trimmed");
  if (d.decimal_separator) parts.push(`decimal separator ${JSON.stringify(d.decimal_separator)}`);
  return `${displayPath}: read with a detected layout: ${parts.join(", ")}`;
}

/**
 * The staged columns of a CSV file: declared type, else the sniffed one; date and timestamp columns in
 * one layout per kind per read (the declared format, else the sniffed one; others are read as text).
 */
function csvColumnsOf(
  ctx: StageContext,
  names: readonly string[],
  rawNames: readonly (string | null)[],
  sniff: Sniffed,
  sniffedColumns: readonly { name: string; type: string }[],
): { columns: StagedColumn[]; dateFormat: string | undefined; timestampFormat: string | undefined } {
  // Declared formats: one DATE and one TIMESTAMP format can be handed to the reader; others are cast after.
  const formatOf = (kind: "DATE" | "TIMESTAMP"): string | undefined => {
    const formats = new Set<string>();
    for (const name of names) {
      const declared = declaredFor(ctx.columns, name);
      if (declared?.format && declared.type?.toUpperCase().startsWith(kind)) formats.add(declared.format);
    }
    return formats.size === 1 ? [...formats][0] : undefined;
  };
  const sniffedDateFormat = (sniff.DateFormat as string | null | undefined) ?? undefined;
  const sniffedTimestampFormat = (sniff.TimestampFormat as string | null | undefined) ?? undefined;
  const declaredDate = formatOf("DATE");
  const declaredTimestamp = formatOf("TIMESTAMP");
  const dateFormat = declaredDate ?? sniffedDateFormat;
  const timestampFormat = declaredTimestamp ?? sniffedTimestampFormat;
  const inferredTemporalOk = (type: string): boolean =>
    type.startsWith("TIMESTAMP")
      ? declaredTimestamp === undefined ||
        sniffedTimestampFormat === undefined ||
        declaredTimestamp === sniffedTimestampFormat
      : type === "DATE"
        ? declaredDate === undefined || sniffedDateFormat === undefined || declaredDate === sniffedDateFormat
        : false;
  const columns: StagedColumn[] = names.map((name, i) => {
    const sourceName = rawNames[i] ?? name;
    const declared = declaredFor(ctx.columns, name);
    const sniffedType = sniffedColumns[i]?.type ?? "VARCHAR";
    if (declared?.type) {
      const upper = declared.type.toUpperCase();
      const readerHandlesFormat =
        (!declared.format ||
          (upper.startsWith("DATE") && declared.format === dateFormat) ||
          (upper.startsWith("TIMESTAMP") && declared.format === timestampFormat)) &&
        declared.decimal_separator === undefined &&
        declared.thousands_separator === undefined;
      return { name, sourceName, type: readerHandlesFormat ? declared.type : "VARCHAR", declared: true };
    }
    const temporal = /^(DATE|TIMESTAMP|TIME)/.test(sniffedType);
    const inferred = temporal && !inferredTemporalOk(sniffedType) ? "VARCHAR" : sniffedType;
    return { name, sourceName, type: inferred, declared: false };
  });
  return { columns, dateFormat, timestampFormat };
}

/** Drops the rejects of an earlier read, then makes `ctx.table` (a table, or a view for a deferred read). */
async function readCsvInto(
  con: DuckDBConnection,
  ctx: StageContext,
  kind: "TABLE" | "VIEW",
  read: CsvReadOptions,
): Promise<void> {
  const readSql = csvReadSql(ctx.localPath, read);
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(read.rejectsTable)}`);
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(read.rejectsScan)}`);
  const create = () =>
    con.run(
      `CREATE OR REPLACE TEMP ${kind} ${quoteIdent(ctx.table)} AS SELECT *, NULL::BIGINT AS _sluice_line FROM ${readSql}`,
    );
  try {
    // Rows nobody needs in file order are read without keeping it (a third to a half faster on big files).
    await (kind === "TABLE" && ctx.keepOrder === false ? withoutInsertionOrder(con, create) : create());
  } catch (error) {
    throw unparseable(ctx, "CSV", error);
  }
}

/**
 * Rejected values of a line that is otherwise whole (right number of fields, no broken quote): such a
 * line is data, and a value in it that does not fit a type inferred from a sample widens that column.
 * A line quarantined for its shape says nothing about the types of the rows that load.
 */
export function castMissesSql(rejectsTable: string, where = "true"): string {
  return `SELECT DISTINCT column_name FROM ${quoteIdent(rejectsTable)} r
    WHERE error_type = 'CAST' AND ${where} AND NOT EXISTS (
      SELECT 1 FROM ${quoteIdent(rejectsTable)} s
      WHERE s.scan_id = r.scan_id AND s.file_id = r.file_id AND s.line = r.line AND s.error_type <> 'CAST')`;
}

/** The columns, with the inferred ones a whole line's value does not fit read as text (same array if none). */
async function widenMisfits(
  con: DuckDBConnection,
  rejectsTable: string,
  columns: StagedColumn[],
  warnings: string[],
): Promise<StagedColumn[]> {
  const widen = new Set(
    (await queryRows(con, castMissesSql(rejectsTable))).map((r) => String(r.column_name)),
  );
  const toWiden = columns.filter((c) => !c.declared && widen.has(c.name) && c.type !== "VARCHAR");
  if (toWiden.length === 0) return columns;
  for (const c of toWiden) {
    warnings.push(`column ${c.name}: values do not all fit the inferred type ${c.type}; loaded as VARCHAR`);
  }
  return columns.map((c) => (toWiden.includes(c) ? { ...c, type: "VARCHAR" } : c));
}

/**
 * Detected decimal-comma columns: when every value of them fits the convention (`1.234,56`, `-45,00`),
 * they become DOUBLE; when one does not, they stay text, as a column whose values do not all fit an
 * inferred type. True when converted.
 */
async function castDecimalCommas(
  con: DuckDBConnection,
  ctx: StageContext,
  columns: StagedColumn[],
  commas: readonly StagedColumn[],
  thousands: DecimalComma["thousands"],
): Promise<boolean> {
  const config: ColumnConfig = { type: "DOUBLE", decimal_separator: ",", thousands_separator: thousands };
  const misfit = commas
    .map(
      (c) =>
        `count(*) FILTER (${quoteIdent(c.name)} IS NOT NULL AND ${castExpression(quoteIdent(c.name), "DOUBLE", config)} IS NULL)`,
    )
    .join(" + ");
  if ((await queryNumber(con, `SELECT ${misfit} FROM ${quoteIdent(ctx.table)}`)) > 0) return false;
  await castLateColumns(con, ctx, columns, commas, () => config);
  return true;
}

/** Declared formats the reader could not apply (several layouts in one file): cast now, reject failures. */
async function castLateColumns(
  con: DuckDBConnection,
  ctx: StageContext,
  columns: StagedColumn[],
  late: readonly StagedColumn[],
  configOf = (name: string) => declaredFor(ctx.columns, name),
): Promise<void> {
  const casts = columns.map((c) => {
    const declared = configOf(c.name);
    return late.includes(c) && declared?.type
      ? { name: c.name, valueSql: quoteIdent(c.name), type: declared.type, config: declared, cast: true }
      : { name: c.name, valueSql: quoteIdent(c.name), type: c.type, config: undefined, cast: false };
  });
  await castIntoStage(con, ctx, {
    from: quoteIdent(ctx.table),
    casts,
    lineSql: "NULL::BIGINT",
    rawSql: `to_json(${quoteIdent(ctx.table)})::VARCHAR`,
  });
  for (const c of late) {
    const declared = configOf(c.name);
    Object.assign(c, { type: declared?.type ?? c.type });
  }
}

/** The convention a declared column's values are read in, for a message (` in format %d.%m.%Y`). */
function castConvention(config: ColumnConfig | undefined): string {
  if (config?.format) return ` in format ${config.format}`;
  if (config?.decimal_separator === undefined && config?.thousands_separator === undefined) return "";
  const thousands = config.thousands_separator;
  return ` with decimal separator '${config.decimal_separator ?? "."}'${thousands === undefined ? "" : ` and thousands separator '${thousands}'`}`;
}

/** A column of {@link castIntoStage}: its value, and the type it is cast to (when `cast`). */
export interface CastColumn {
  readonly name: string;
  readonly valueSql: string;
  readonly type: string;
  readonly config: ColumnConfig | undefined;
  /** False: the value is taken as it is. */
  readonly cast: boolean;
}

/**
 * Builds the stage table from `from` with typed columns; rows where any non-null value does not convert
 * become malformed rows (error type CAST) naming the column and the value's expected type.
 */
export async function castIntoStage(
  con: DuckDBConnection,
  ctx: Pick<StageContext, "tablePrefix" | "table" | "malformedTable">,
  spec: {
    from: string;
    casts: readonly CastColumn[];
    lineSql: string;
    rawSql: string;
    /** A statement to run after them, in the same round trip (dropping what `from` read). */
    after?: string;
  },
): Promise<void> {
  const typed = spec.casts.map((c) => ({
    ...c,
    castSql: c.cast ? castExpression(c.valueSql, c.type, c.config) : c.valueSql,
  }));
  const failures = typed
    .filter((c) => c.castSql !== c.valueSql)
    .map(
      (c) =>
        `CASE WHEN ${c.valueSql} IS NOT NULL AND ${c.castSql} IS NULL THEN ${
          c.config?.mask !== undefined
            ? quoteLiteral(`column ${c.name}: ${WITHHELD_CAST}`)
            : `${quoteLiteral(`column ${c.name}: '`)} || left(${c.valueSql}::VARCHAR, 80) || ${quoteLiteral(`' is not a valid ${c.type}${castConvention(c.config)}`)}`
        } END`,
    );
  const errorsSql =
    failures.length > 0 ? `list_filter([${failures.join(", ")}], x -> x IS NOT NULL)` : "[]::VARCHAR[]";
  const work = `${ctx.tablePrefix}_cast`;
  // One round trip: the statements run in order, the first failure stops the rest.
  await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(work)} AS
    SELECT ${typed.map((c) => `${c.castSql} AS ${quoteIdent(c.name)}`).join(", ")}${typed.length > 0 ? "," : ""}
           ${spec.lineSql} AS _sluice_line, ${errorsSql} AS _errors, ${spec.rawSql} AS _raw
    FROM ${spec.from};
  INSERT INTO ${quoteIdent(ctx.malformedTable)}
    SELECT _sluice_line, 'CAST', array_to_string(_errors, '; '), _raw FROM ${quoteIdent(work)} WHERE len(_errors) > 0;
  CREATE OR REPLACE TEMP TABLE ${quoteIdent(ctx.table)} AS
    SELECT * EXCLUDE (_errors, _raw) FROM ${quoteIdent(work)} WHERE len(_errors) = 0;
  DROP TABLE ${quoteIdent(work)};${spec.after ? `\n  ${spec.after};` : ""}`);
}

/**
 * A `json` file: a JSON array of objects, one object, or JSON lines, told apart by the first character
 * and by whether the first record spans lines. Each array element keeps the line it starts on.
 */
async function stageJson(
  con: DuckDBConnection,
  ctx: StageContext,
  warnings: string[],
): Promise<StagedColumn[]> {
  const lines = await readJsonLines(con, ctx, "JSON");
  const [head] = await queryRows(
    con,
    `SELECT first_line, first_text, json_valid(first_text) AS first_valid, next_valid FROM (
       SELECT rowid + 1 AS first_line, trim(line, ' \t' || chr(13) || chr(65279)) AS first_text,
              lead(json_valid(rtrim(line, chr(13)))) OVER (ORDER BY rowid) AS next_valid
       FROM ${quoteIdent(lines)} WHERE line IS NOT NULL AND trim(line, ' \t' || chr(13) || chr(65279)) <> ''
       ORDER BY rowid LIMIT 1)`,
  );
  const first = String(head?.first_text ?? "");
  if (first.startsWith("[")) return stageJsonArray(con, ctx, lines, warnings);
  // JSON lines unless the first record spans lines (a pretty-printed object): neither the first line
  // nor the next one parses on its own.
  if (!head || head.first_valid === true || head.next_valid !== false) {
    return stageJsonValues(con, ctx, await parseJsonLines(con, ctx, lines), warnings, "line", "j");
  }
  const parsed = `${ctx.tablePrefix}_json`;
  await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(parsed)} AS
    SELECT ${Number(head.first_line)}::BIGINT AS line, text,
           CASE WHEN NOT json_valid(text) THEN 'INVALID JSON' WHEN json_type(text::JSON) <> 'OBJECT' THEN 'NOT AN OBJECT' END AS problem
    FROM (SELECT string_agg(line, chr(10) ORDER BY rowid) AS text FROM ${quoteIdent(lines)} WHERE line IS NOT NULL)`);
  await con.run(`DROP TABLE ${quoteIdent(lines)}`);
  const invalid = await queryNumber(
    con,
    `SELECT count(*) FROM ${quoteIdent(parsed)} WHERE problem IS NOT NULL`,
  );
  if (invalid > 0) {
    throw unparseable(
      ctx,
      "JSON",
      new Error(
        `the record starting at line ${head.first_line} spans several lines and the file does not parse as one JSON object (nor as JSON lines); fix the file`,
      ),
    );
  }
  return stageJsonValues(con, ctx, parsed, warnings);
}

/**
 * A JSON array file. When it parses as a whole (`read_json`, in bulk), every element is a record and
 * keeps the line it starts on (see `jsonElementStartsSql`). When it does not, the bad elements can only
 * be set apart if the array is closed and written one element per line: then each line is a record and
 * only the bad ones are quarantined; otherwise the file fails, named, and nothing of it is loaded.
 */
async function stageJsonArray(
  con: DuckDBConnection,
  ctx: StageContext,
  lines: string,
  warnings: string[],
): Promise<StagedColumn[]> {
  const maxLine = ctx.source.options?.max_line_size ?? DEFAULT_MAX_LINE;
  const reduced = `${ctx.tablePrefix}_reduced`;
  const starts = `${ctx.tablePrefix}_starts`;
  const elements = `${ctx.tablePrefix}_elements`;
  const parsed = `${ctx.tablePrefix}_json`;
  await con.run(jsonStructureSql(lines, reduced));
  let wholeError: unknown;
  try {
    await con.run(
      `CREATE OR REPLACE TEMP TABLE ${quoteIdent(elements)} AS SELECT json::VARCHAR AS text FROM ${jsonArrayReadSql(ctx.localPath, Math.max(maxLine, 16 * 1024 * 1024))}`,
    );
  } catch (error) {
    wholeError = error;
  }
  const [layout] = await queryRows(con, jsonArrayLayoutSql(reduced));
  await con.run(jsonElementStartsSql(reduced, starts));
  const startCount = await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(starts)}`);
  const cleanup = async () => {
    for (const t of [lines, reduced, starts, elements])
      await con.run(`DROP TABLE IF EXISTS ${quoteIdent(t)}`);
  };
  if (wholeError === undefined) {
    const count = await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(elements)}`);
    // The scan numbers every element of an array of objects; with other values in it, lines are unknown.
    const known = count === startCount;
    if (!known && count > 0) {
      warnings.push(
        `${ctx.displayPath}: line numbers of its elements are unknown (the array holds values that are not objects)`,
      );
    }
    await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(parsed)} AS
      SELECT ${known ? "s.line" : "NULL::BIGINT"} AS line, e.text,
             CASE WHEN json_type(e.text::JSON) <> 'OBJECT' THEN 'NOT AN OBJECT' END AS problem
      FROM (SELECT rowid + 1 AS ordinal, text FROM ${quoteIdent(elements)}) e
      ${known ? `JOIN ${quoteIdent(starts)} s USING (ordinal)` : ""} ORDER BY e.ordinal`);
    await cleanup();
    return stageJsonValues(con, ctx, parsed, warnings, "array element");
  }
  if (!layout?.opens || !layout.closes) {
    await cleanup();
    const open = Number(layout?.open_at_end ?? 0);
    throw unparseable(
      ctx,
      "a JSON array",
      new Error(
        open > 0
          ? `the array is not closed at its end (line ${layout?.last_line}: ${open} bracket(s) left open); the file looks truncated`
          : `${firstLine(wholeError instanceof Error ? wholeError.message : String(wholeError))}; its brackets do not balance`,
      ),
    );
  }
  // Lines holding no bracket (plain values) are not numbered by the scan: compare the others.
  const perLine = await queryNumber(
    con,
    `SELECT count(*) FROM (${jsonLineElementsSql(lines)}) WHERE text LIKE '{%' OR text LIKE '[%'`,
  );
  const startsPerLine = await queryNumber(
    con,
    `SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM ${quoteIdent(starts)} GROUP BY line)`,
  );
  if (!layout.line_per_element || startsPerLine > 1 || perLine !== startCount) {
    await cleanup();
    const detail = firstLine(wholeError instanceof Error ? wholeError.message : String(wholeError));
    throw unparseable(
      ctx,
      "a JSON array",
      new Error(
        `${detail.replace(/^[A-Za-z ]+Error: /, "")}; its elements span lines or share them, so the bad ones cannot be set apart: nothing of it is loaded`,
      ),
    );
  }
  await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(parsed)} AS
    SELECT line, text, CASE WHEN NOT json_valid(text) THEN 'INVALID JSON'
                            WHEN json_type(text::JSON) <> 'OBJECT' THEN 'NOT AN OBJECT' END AS problem
    FROM (${jsonLineElementsSql(lines)})`);
  await cleanup();
  return stageJsonValues(con, ctx, parsed, warnings, "array element");
}

/** Reads a file's lines into `<prefix>_lines` (one row per physical line, in file order). */
async function readJsonLines(con: DuckDBConnection, ctx: StageContext, what: string): Promise<string> {
  const lines = `${ctx.tablePrefix}_lines`;
  try {
    // Read with "\n" line ends, each "\r\n" would give an extra empty line (and every line number after
    // it would be off): lines end as the file's first lines do.
    const newLine = ctx.ownChunk ? "\\n" : await jsonNewLine(con, ctx.localPath);
    await con.run(
      `CREATE OR REPLACE TEMP TABLE ${quoteIdent(lines)} AS SELECT line FROM ${jsonLinesSql(ctx.localPath, SNIFF_LINE_LIMIT, newLine)}`,
    );
  } catch (error) {
    throw unparseable(ctx, what, error);
  }
  return lines;
}

async function stageJsonl(
  con: DuckDBConnection,
  ctx: StageContext,
  warnings: string[],
  layout: { blankLines?: number },
): Promise<StagedColumn[]> {
  const lines = await readJsonLines(con, ctx, "JSON lines");
  // Lines holding only white space are neither rows nor rejects: the read's line accounting counts them.
  layout.blankLines = ctx.ownChunk
    ? 0
    : await queryNumber(
        con,
        `SELECT count(*) FROM ${quoteIdent(lines)} WHERE line <> '' AND trim(rtrim(line, chr(13))) = ''`,
      );
  const parsed = await parseJsonLines(con, ctx, lines);
  // A chunk of Sluice's own holds objects and poison lines, never an array.
  const arrayHint = ctx.ownChunk
    ? 0
    : await queryNumber(
        con,
        `SELECT count(*) FROM (SELECT text FROM ${quoteIdent(parsed)} ORDER BY line LIMIT 1) WHERE ltrim(text, ' \t' || chr(65279)) LIKE '[%'`,
      );
  if (arrayHint > 0) {
    warnings.push(`${ctx.displayPath}: starts with [ like a JSON array; read it with source.format: json`);
  }
  return stageJsonValues(con, ctx, parsed, warnings, "line", "j");
}

/**
 * JSON lines in `lines` to `<prefix>_json` (`line`, `text`, `problem`): each line with content is one
 * record, and `problem` says why a line cannot be one (invalid JSON, not an object, too long).
 */
async function parseJsonLines(con: DuckDBConnection, ctx: StageContext, lines: string): Promise<string> {
  const maxLine = ctx.source.options?.max_line_size ?? DEFAULT_MAX_LINE;
  const parsed = `${ctx.tablePrefix}_json`;
  // A chunk of Sluice's own has no blank line to leave out (see StageRequest.ownChunk).
  const withContent = ctx.ownChunk ? "line <> ''" : "trim(rtrim(line, chr(13))) <> ''";
  // rowid follows insertion order: physical line number = rowid + 1. Valid JSON is an object exactly
  // when it starts with "{" (after JSON's white space): no second parse of every line to ask its type.
  // The line parsed once (`j`, NULL when not JSON) serves the structure and the extraction after it.
  // One round trip for both statements (each one costs a wake-up of the engine's thread under load).
  await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(parsed)} AS
    SELECT line, text, j,
      CASE WHEN bytes > ${maxLine} THEN 'LINE SIZE OVER MAXIMUM'
           WHEN j IS NULL THEN 'INVALID JSON'
           WHEN NOT starts_with(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), '{') THEN 'NOT AN OBJECT' END AS problem
    FROM (SELECT rowid + 1 AS line, strlen(line) AS bytes, rtrim(line, chr(13)) AS text,
            TRY_CAST(rtrim(line, chr(13)) AS JSON) AS j
          FROM ${quoteIdent(lines)} WHERE line IS NOT NULL AND ${withContent});
    DROP TABLE ${quoteIdent(lines)}`);
  return parsed;
}

/**
 * Records in `parsed` (`line`, `text`, `problem`) to the stage: those with a problem become malformed
 * rows; the others' keys become columns (declared type, else the type of their values).
 */
async function stageJsonValues(
  con: DuckDBConnection,
  ctx: StageContext,
  parsed: string,
  warnings: string[],
  unit: "line" | "array element" = "line",
  /** The record as JSON: a column of `parsed` holding it parsed already, else parsed from `text`. */
  json = "text::JSON",
): Promise<StagedColumn[]> {
  const maxLine = ctx.source.options?.max_line_size ?? DEFAULT_MAX_LINE;
  await con.run(`INSERT INTO ${quoteIdent(ctx.malformedTable)}
    SELECT line, problem, CASE problem WHEN 'INVALID JSON' THEN '${unit} is not valid JSON'
      WHEN 'NOT AN OBJECT' THEN '${unit} is valid JSON but not an object'
      ELSE 'line longer than ${maxLine} bytes' END, left(text, 1000000)
    FROM ${quoteIdent(parsed)} WHERE problem IS NOT NULL`);
  const structureRows = await queryRows(
    con,
    `SELECT json_group_structure(${json})::VARCHAR AS s FROM ${quoteIdent(parsed)} WHERE problem IS NULL`,
  );
  const structureText = structureRows[0]?.s as string | null | undefined;
  const structure: Record<string, unknown> = structureText
    ? (JSON.parse(structureText) as Record<string, unknown>)
    : {};
  const nested = nestedJsonColumns(structure, ctx.source.nested, ctx.columns, ctx.naming);
  if (nested.leaves.length > MAX_COLUMNS) throw tooWide(ctx.displayPath, nested.leaves.length);
  const columns: StagedColumn[] = nested.leaves.map((leaf) => {
    const declared = declaredFor(ctx.columns, leaf.name);
    return {
      name: leaf.name,
      sourceName: leaf.sourceName,
      type: declared?.type ?? jsonStructureType(leaf.structure),
      declared: declared?.type !== undefined,
      ...(leaf.inside?.length ? { inside: leaf.inside } : {}),
    };
  });
  if (nested.leaves.length === 0) warnings.push(`${ctx.displayPath}: no JSON objects found`);
  // Plain text values are extracted together (`_sluice_v`): one parse of each record, not one per column.
  const together: string[] = [];
  const casts = columns.map((c, i) => {
    const leaf = nested.leaves[i]!;
    const upper = c.type.toUpperCase();
    const isJson = upper === "JSON";
    const pointer = quoteLiteral(leaf.pointer);
    const extracted = `json_extract(j, ${pointer})`;
    // Masks on paths inside the value apply whatever type the column is read as.
    const masked = leaf.maskJson(extracted);
    const plain = !isJson && masked === extracted;
    if (plain) together.push(pointer);
    return {
      name: c.name,
      valueSql: isJson
        ? masked
        : plain
          ? `_sluice_v[${together.length}]`
          : `json_extract_string(${masked}, '$')`,
      type: c.type,
      config: declaredFor(ctx.columns, c.name),
      cast: !isJson && upper !== "VARCHAR",
    };
  });
  if (nested.rowId) columns.push(nested.rowId.column);
  const records = `(SELECT line, ${json} AS j FROM ${quoteIdent(parsed)} WHERE problem IS NULL)`;
  await castIntoStage(con, ctx, {
    from:
      together.length > 0
        ? `(SELECT line, j, json_extract_string(j, [${together.join(", ")}]) AS _sluice_v FROM ${records})`
        : records,
    casts: nested.rowId ? [...casts, nested.rowId.cast] : casts,
    lineSql: "line",
    rawSql: "j::VARCHAR",
    after: `DROP TABLE ${quoteIdent(parsed)}`,
  });
  return columns;
}

/** The line end of a JSON-lines file as DuckDB names it (`\n` or `\r\n`), from its first lines. */
async function jsonNewLine(con: DuckDBConnection, path: string): Promise<string> {
  try {
    const rows = await queryRows(
      con,
      `SELECT NewLineDelimiter AS nl FROM sniff_csv(${quoteLiteral(path)}, delim='\\x1e', quote='', escape='', header=false, sample_size=1000)`,
    );
    return rows[0]?.nl === "\\r\\n" ? "\\r\\n" : "\\n";
  } catch {
    // Nothing to detect from (one line, mixed line ends): "\n", which breaks at a "\r" too.
    return "\\n";
  }
}

/**
 * An Avro file (`nested: json`, the default): read into a table typed by its schema (see avroToTable);
 * columns the pipeline declares with another type are cast, a value that does not convert a malformed
 * row (its `line` the record's number).
 */
async function stageAvro(
  con: DuckDBConnection,
  ctx: StageContext,
): Promise<{ columns: StagedColumn[]; records: number; inPlace: boolean }> {
  const read = `${ctx.tablePrefix}_avro`;
  const workDir = ctx.workDir ?? join(tmpdir(), `sluice-avro-${process.pid}-${ctx.tablePrefix}`);
  // A plain load (no declared type to cast, no checks, dedupe or cdc reading the rows again) is staged
  // as a view over the decoded chunks in the run's folder: the publish streams them from disk instead
  // of a table the engine holds in memory up to its limit.
  const inPlace =
    ctx.workDir !== undefined &&
    ctx.keepOrder === false &&
    Object.values(ctx.columns).every((c) => c.type === undefined);
  if (inPlace) {
    const avro = await avroToTable(
      con,
      ctx.localPath,
      ctx.displayPath,
      workDir,
      ctx.table,
      ctx.naming,
      ctx.avroReader,
      true,
    );
    if (avro.columns.length > MAX_COLUMNS) throw tooWide(ctx.displayPath, avro.columns.length);
    const columns = avro.columns.map((c) => ({ ...c, declared: false }));
    return { columns, records: avro.records, inPlace };
  }
  const avro = await avroToTable(
    con,
    ctx.localPath,
    ctx.displayPath,
    workDir,
    read,
    ctx.naming,
    ctx.avroReader,
  );
  if (avro.columns.length > MAX_COLUMNS) throw tooWide(ctx.displayPath, avro.columns.length);
  const casts = avro.columns.map((c) => {
    const declared = declaredFor(ctx.columns, c.name);
    const cast = declared?.type !== undefined && declared.type.toUpperCase() !== c.type.toUpperCase();
    const valueSql = cast && declared?.format ? `${quoteIdent(c.name)}::VARCHAR` : quoteIdent(c.name);
    return { name: c.name, valueSql, type: declared?.type ?? c.type, config: declared, cast };
  });
  if (casts.some((c) => c.cast)) {
    await castIntoStage(con, ctx, {
      from: quoteIdent(read),
      casts,
      lineSql: "_sluice_line",
      rawSql: `to_json(struct_pack(${avro.columns.map((c) => `${quoteIdent(c.sourceName)} := ${quoteIdent(c.name)}`).join(", ")}))::VARCHAR`,
    });
    await con.run(`DROP TABLE ${quoteIdent(read)}`);
  } else {
    // A view of that name: an earlier run of this engine read its file in place.
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(ctx.table)}`).catch(() => undefined);
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(ctx.table)}`);
    await con.run(`ALTER TABLE ${quoteIdent(read)} RENAME TO ${quoteIdent(ctx.table)}`);
  }
  const columns = avro.columns.map((c, i) => ({
    name: c.name,
    sourceName: c.sourceName,
    type: casts[i]!.type,
    declared: casts[i]!.config?.type !== undefined,
  }));
  return { columns, records: avro.records, inPlace };
}

async function stageParquet(con: DuckDBConnection, ctx: StageContext): Promise<StagedColumn[]> {
  let described: Record<string, unknown>[];
  try {
    described = await queryRows(con, `DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(ctx.localPath)})`);
  } catch (error) {
    throw unparseable(ctx, "Parquet", error);
  }
  const sourceNames = described.map((r) => String(r.column_name));
  if (sourceNames.length > MAX_COLUMNS) throw tooWide(ctx.displayPath, sourceNames.length);
  const names = normalizeColumnNames(sourceNames, ctx.naming);
  const columns: StagedColumn[] = names.map((name, i) => {
    const sourceName = sourceNames[i]!;
    const declared = declaredFor(ctx.columns, name);
    return {
      name,
      sourceName,
      type: declared?.type ?? String(described[i]?.column_type),
      declared: declared?.type !== undefined,
    };
  });
  try {
    await castIntoStage(con, ctx, {
      from: `read_parquet(${quoteLiteral(ctx.localPath)})`,
      casts: columns.map((c) => {
        const declared = declaredFor(ctx.columns, c.name);
        const sourceType = String(described[sourceNames.indexOf(c.sourceName)]?.column_type);
        const needsCast =
          declared?.type !== undefined && declared.type.toUpperCase() !== sourceType.toUpperCase();
        return {
          name: c.name,
          valueSql:
            needsCast && declared?.format ? `${quoteIdent(c.sourceName)}::VARCHAR` : quoteIdent(c.sourceName),
          type: c.type,
          config: declared,
          cast: needsCast,
        };
      }),
      lineSql: "NULL::BIGINT",
      rawSql: "NULL::VARCHAR",
    });
  } catch (error) {
    throw unparseable(ctx, "Parquet", error);
  }
  return columns;
}

import { closeSync, constants, openSync, readFileSync, readSync } from "node:fs";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { ColumnConfig, FileSourceConfig } from "../config/schema.js";
import { firstLine, SluiceError } from "../errors.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import {
  type CsvDialect,
  csvHeaderSql,
  csvReadSql,
  csvSniffSql,
  duckdbEncoding,
  type StagedColumn,
} from "../plan/read-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { queryRows, withoutInsertionOrder } from "./duckdb-query.js";
import { fileRows } from "./file-rows.js";
import { mixesLineEnds, mixesLineEndsIn } from "./line-ends-to-lf.js";
import type { StagedFile } from "./stage-file.js";
import { mayHaveTrailingBlocks, trailingBlocksIn } from "./trailing-blocks.js";

/** Sniff buffer of a group's first file: files read together are small (see `GROUP_FILE_MAX_BYTES`). */
const SNIFF_LIMIT = 16 * 1024 * 1024;
const DEFAULT_MAX_LINE = 2_000_000;
/** The most columns a file may have (as `MAX_COLUMNS` of a file read alone). */
const MAX_COLUMNS = 2000;
/** The message of a masked column's value that does not convert (the value itself is not quoted). */
const WITHHELD_CAST = "a value does not convert to the column's type (value withheld: the column is masked)";

/** One file of a group: where DuckDB reads it, how the run names it, the prefix of its work tables. */
export interface GroupMember {
  readonly localPath: string;
  readonly displayPath: string;
  readonly tablePrefix: string;
}

/** What a group read needs: its files (the first one's dialect and header are the group's). */
export interface CsvGroupRequest {
  readonly members: readonly GroupMember[];
  readonly source: FileSourceConfig;
  readonly columns: Readonly<Record<string, ColumnConfig>>;
  readonly naming: "snake_case" | "keep";
  /** Prefix of the group's own tables (`<prefix>_rows`, `<prefix>_malformed`). */
  readonly groupPrefix: string;
  /**
   * Called with each member's content where the group reads it to see whether the member fits: the
   * caller hashes it there, so that each small file is read once by Sluice (and once by DuckDB).
   */
  readonly onContent?: ((member: GroupMember, content: Buffer) => void) | undefined;
}

/**
 * A group read: each member read with the others has its StagedFile (views over the group's tables);
 * the others (another header or line ends, a value that does not fit a type inferred from the first
 * file) are `alone`: read the usual way, file by file.
 */
export interface CsvGroupRead {
  readonly staged: ReadonlyMap<string, StagedFile>;
  readonly alone: ReadonlySet<string>;
  /** The group's rows: its members' columns, plus `_sluice_line` and `_sluice_file` (the display path). */
  readonly rowsTable: string;
  /** Every work table and view the group made (dropped together); a member's view joins when made. */
  readonly views: string[];
  readonly tables: readonly string[];
  /**
   * The statement making a member's staged view, by its name, until it is made (see `FilesTogether.
   * materialize`): most members' rows are only ever read through the group's table, and a view per
   * file cost ~0.5 ms to make and as much to drop, 10 s of a 10,000-file run.
   */
  readonly unmade: Map<string, string>;
}

/**
 * Reads many small CSV files of one dialect and header in one `read_csv([...])` statement: one sniff
 * (the first file's), one read with `store_rejects` naming each reject's file, a few statements for
 * the counts and the per-file views. Each member still gets its own staged rows, malformed rows (line
 * within its file) and counts, so every per-file verdict holds. Undefined when the first file cannot be
 * read this way (then all are read alone).
 *
 * @example
 * const group = await stageCsvGroup(con, { members, source, columns: {}, naming: "snake_case", groupPrefix: "sluice_g0" });
 */
export async function stageCsvGroup(
  con: DuckDBConnection,
  request: CsvGroupRequest,
): Promise<CsvGroupRead | undefined> {
  const alone = new Set<string>();
  const led = await chooseLeader(con, request, alone);
  if (!led) return undefined;
  const { leader, plan } = led;
  const together = request.members.filter((m) => {
    if (alone.has(m.displayPath)) return false;
    const fits = memberFits(m, plan, request.onContent);
    if (!fits) alone.add(m.displayPath);
    return fits;
  });
  const rowsTable = `${request.groupPrefix}_rows`;
  const filesTable = `${request.groupPrefix}_files`;
  const rejectsTable = `${request.groupPrefix}_rejects`;
  const rejectsScan = `${request.groupPrefix}_rejects_scan`;
  const malformedTable = `${request.groupPrefix}_malformed`;
  const tables = [rowsTable, filesTable, rejectsTable, rejectsScan, malformedTable];
  const options = request.source.options;
  await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(filesTable)} (local VARCHAR, path VARCHAR)`);
  await con.run(
    `INSERT INTO ${quoteIdent(filesTable)} VALUES ${together.map((m) => `(${quoteLiteral(m.localPath)}, ${quoteLiteral(m.displayPath)})`).join(", ")}`,
  );
  const readSql = csvReadSql(leader.localPath, {
    dialect: plan.dialect,
    columns: plan.columns,
    rejectsTable,
    rejectsScan,
    dateFormat: plan.dateFormat,
    timestampFormat: plan.timestampFormat,
    maxLineSize: options?.max_line_size ?? DEFAULT_MAX_LINE,
    nullStrings: options?.null === undefined ? undefined : [options.null].flat(),
  });
  // One read of every file: the list replaces the single path, `filename` names each row's file.
  const single = `read_csv(${quoteLiteral(leader.localPath)}`;
  const listRead = `read_csv([${together.map((m) => quoteLiteral(m.localPath)).join(", ")}]${readSql.slice(single.length, -1)}, filename = '_sluice_local')`;
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(rejectsTable)}`);
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(rejectsScan)}`);
  try {
    await withoutInsertionOrder(con, () =>
      con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(rowsTable)} AS
        SELECT r.* EXCLUDE (_sluice_local), NULL::BIGINT AS _sluice_line, f.path AS _sluice_file
        FROM ${listRead} r JOIN ${quoteIdent(filesTable)} f ON r._sluice_local = f.local`),
    );
  } catch (error) {
    // A file vanished or cannot be read: each is read alone, which names the one at fault.
    for (const table of tables) await con.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
    throw new SluiceError("FILE_UNPARSEABLE", `group read: ${firstLine(String(error))}`, { cause: error });
  }
  const masked = plan.columns.filter((c) => request.columns[c.name]?.mask !== undefined).map((c) => c.name);
  await con.run(groupRejectsSql(malformedTable, rejectsTable, rejectsScan, filesTable, masked));
  // A value that does not fit a type inferred from the first file: that file is read alone (and widened).
  const inferred = plan.columns.filter((c) => !c.declared && c.type !== "VARCHAR").map((c) => c.name);
  if (inferred.length > 0) {
    const misfits = await queryRows(
      con,
      `SELECT DISTINCT f.path FROM ${quoteIdent(rejectsTable)} e JOIN ${quoteIdent(rejectsScan)} s USING (scan_id, file_id)
       JOIN ${quoteIdent(filesTable)} f ON s.file_path = f.local
       WHERE e.error_type = 'CAST' AND e.column_name IN (${inferred.map(quoteLiteral).join(", ")})`,
    );
    for (const row of misfits) alone.add(String(row.path));
  }
  const counts = await countsPerFile(con, rowsTable, malformedTable);
  const staged = new Map<string, StagedFile>();
  // Files without a malformed row (most of them) share one empty view: half the views to make and drop.
  const noMalformed = `${request.groupPrefix}_no_malformed`;
  const views: string[] = [noMalformed];
  const unmade = new Map<string, string>();
  const statements: string[] = [
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(noMalformed)} AS SELECT line, error_type, message, raw FROM ${quoteIdent(malformedTable)} WHERE false`,
  ];
  for (const member of together) {
    if (alone.has(member.displayPath)) continue;
    const table = `${member.tablePrefix}_stage`;
    const count = counts.get(member.displayPath);
    const path = quoteLiteral(member.displayPath);
    unmade.set(
      table,
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(table)} AS SELECT * EXCLUDE (_sluice_file) FROM ${quoteIdent(rowsTable)} WHERE _sluice_file = ${path}`,
    );
    let malformed = noMalformed;
    if (count?.malformed) {
      malformed = `${member.tablePrefix}_malformed`;
      statements.push(
        `CREATE OR REPLACE TEMP VIEW ${quoteIdent(malformed)} AS SELECT line, error_type, message, raw FROM ${quoteIdent(malformedTable)} WHERE _sluice_file = ${path}`,
      );
      views.push(malformed);
    }
    staged.set(member.displayPath, {
      prefix: member.tablePrefix,
      table,
      malformedTable: malformed,
      columns: plan.columns,
      accepted: count?.accepted ?? 0,
      malformed: count?.malformed ?? 0,
      warnings: missingDeclared(request.columns, plan.columns, member.displayPath),
      headerLines: plan.headerLines,
    });
  }
  // One round trip for every view of the group.
  if (statements.length > 0) await con.run(statements.join(";\n"));
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(rejectsTable)}`);
  await con.run(`DROP TABLE IF EXISTS ${quoteIdent(rejectsScan)}`);
  return { staged, alone, rowsTable, views, tables, unmade };
}

/** A member is read without following a link in its last part (where the platform allows it). */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;

/** Files tried as a group's leader before the group is given up (each try is a sniff). */
const LEADER_TRIES = 3;

/**
 * The file whose sniff gives the group its dialect and columns: the first one without lines after its
 * table (a total line would lend every member the types it skews). Files passed over are read alone.
 */
async function chooseLeader(
  con: DuckDBConnection,
  request: CsvGroupRequest,
  alone: Set<string>,
): Promise<{ leader: GroupMember; plan: GroupPlan } | undefined> {
  for (const leader of request.members.slice(0, LEADER_TRIES)) {
    const plan = await sniffLeader(con, leader.localPath, request);
    if (!plan) return undefined;
    if (!mayHaveTrailingBlocks(leader.localPath, plan.dialect, plan.columns.length)) return { leader, plan };
    alone.add(leader.displayPath);
  }
  return undefined;
}

/** Accepted and malformed rows of each file of a group, in two statements. */
async function countsPerFile(
  con: DuckDBConnection,
  rowsTable: string,
  malformedTable: string,
): Promise<Map<string, { accepted: number; malformed: number }>> {
  const counts = new Map<string, { accepted: number; malformed: number }>();
  const of = (path: unknown) => {
    const key = String(path);
    const found = counts.get(key) ?? { accepted: 0, malformed: 0 };
    counts.set(key, found);
    return found;
  };
  for (const r of await queryRows(
    con,
    `SELECT _sluice_file, count(*) AS n FROM ${quoteIdent(rowsTable)} GROUP BY ALL`,
  )) {
    of(r._sluice_file).accepted = Number(r.n);
  }
  for (const r of await queryRows(
    con,
    `SELECT _sluice_file, count(*) AS n FROM ${quoteIdent(malformedTable)} GROUP BY ALL`,
  )) {
    of(r._sluice_file).malformed = Number(r.n);
  }
  return counts;
}

/**
 * One malformed row per rejected line of each file (a line can fail several ways), named by its file
 * (`rejects_scan` knows each reject's file). A masked column's value is never quoted in a message.
 */
function groupRejectsSql(
  malformedTable: string,
  rejectsTable: string,
  rejectsScan: string,
  filesTable: string,
  masked: readonly string[],
): string {
  const withheld =
    masked.length > 0
      ? `WHEN error_type = 'CAST' AND column_name IN (${masked.map(quoteLiteral).join(", ")})
           THEN 'column ' || column_name || ': ' || ${quoteLiteral(WITHHELD_CAST)} `
      : "";
  return `CREATE OR REPLACE TEMP TABLE ${quoteIdent(malformedTable)} AS
    SELECT f.path AS _sluice_file, e.line, string_agg(DISTINCT e.error_type, ', ' ORDER BY e.error_type) AS error_type,
           string_agg(CASE ${withheld}WHEN error_type = 'CAST' OR column_name IS NULL THEN error_message
                           ELSE error_message || ' (column ' || column_name || ')' END, '; ') AS message,
           any_value(csv_line) AS raw
    FROM ${quoteIdent(rejectsTable)} e JOIN ${quoteIdent(rejectsScan)} s USING (scan_id, file_id)
    JOIN ${quoteIdent(filesTable)} f ON s.file_path = f.local
    GROUP BY f.path, e.line`;
}

/** The warnings of a file read with a group: declared columns it lacks (as for a file read alone). */
function missingDeclared(
  declared: Readonly<Record<string, ColumnConfig>>,
  columns: readonly StagedColumn[],
  displayPath: string,
): string[] {
  return Object.entries(declared)
    .filter(([key, c]) => c.mask === undefined && !columns.some((s) => s.name === key))
    .map(([key]) => `declared column ${key} is not in ${displayPath}; it is left empty`);
}

interface GroupPlan {
  readonly dialect: CsvDialect;
  readonly columns: StagedColumn[];
  readonly headerLines: number;
  /** The bytes of the first file's header lines (line ends included): members must start with them. */
  readonly header: Buffer;
  readonly dateFormat: string | undefined;
  readonly timestampFormat: string | undefined;
}

/**
 * The dialect and columns of a group, from its first file: sniffed as a file read alone is. Undefined
 * when the file needs what only the read of one file does (skipped lines, a comment, another encoding,
 * declared formats cast after reading).
 */
async function sniffLeader(
  con: DuckDBConnection,
  localPath: string,
  request: CsvGroupRequest,
): Promise<GroupPlan | undefined> {
  const options = request.source.options;
  if (duckdbEncoding(options?.encoding) !== "utf-8" || options?.comment || options?.skip) return undefined;
  if (Object.values(request.columns).some((c) => c.format !== undefined)) return undefined;
  if (mixesLineEnds(localPath)) return undefined;
  let sniff: Record<string, unknown>;
  try {
    sniff = (await fileRows(con, localPath, csvSniffSql(localPath, options, SNIFF_LIMIT)))[0] ?? {};
  } catch {
    return undefined;
  }
  const empty = (v: unknown): string => (v === "(empty)" || v === undefined || v === null ? "" : String(v));
  const sniffed = (sniff.Columns as { name: string; type: string }[] | undefined) ?? [];
  if (sniffed.length === 0 || sniffed.length > MAX_COLUMNS || Number(sniff.SkipRows ?? 0) !== 0) {
    return undefined;
  }
  const sniffedQuote = empty(sniff.Quote) || '"';
  const dialect: CsvDialect = {
    delimiter: options?.delimiter ?? empty(sniff.Delimiter),
    quote: options?.quote ?? sniffedQuote,
    escape: options?.escape ?? (empty(sniff.Quote) === "" ? '"' : empty(sniff.Escape)),
    header: options?.header ?? Boolean(sniff.HasHeader),
    skip: 0,
    encoding: "utf-8",
  };
  // Without a header a member's first line cannot be told from a header its own sniff would find.
  if (dialect.delimiter === "" || !dialect.header) return undefined;
  const headerLines = 1;
  const row =
    (await fileRows(con, localPath, csvHeaderSql(localPath, dialect, sniffed.length, SNIFF_LIMIT)))[0] ?? {};
  const rawNames = sniffed.map((_, i) => (row[`c${i}`] as string | null | undefined) ?? null);
  const names = normalizeColumnNames(rawNames, request.naming);
  const columns: StagedColumn[] = names.map((name, i) => {
    const declared = request.columns[name];
    const type = declared?.type ?? sniffed[i]?.type ?? "VARCHAR";
    return { name, sourceName: rawNames[i] ?? name, type, declared: declared?.type !== undefined };
  });
  const header = headerOf(localPath, headerLines);
  if (!header) return undefined;
  return {
    dialect,
    columns,
    headerLines,
    header,
    dateFormat: (sniff.DateFormat as string | null | undefined) ?? undefined,
    timestampFormat: (sniff.TimestampFormat as string | null | undefined) ?? undefined,
  };
}

/**
 * Whether a member can be read with the group, from one read of it: it starts with the group's header
 * lines, does not mix line ends, and has no lines after its table (see `trailingBlocksIn`). A file that
 * cannot be read (vanished, a link now) is read alone, where its own read names what is wrong.
 */
function memberFits(member: GroupMember, plan: GroupPlan, onContent: CsvGroupRequest["onContent"]): boolean {
  let content: Buffer;
  let fd: number | undefined;
  try {
    fd = openSync(member.localPath, constants.O_RDONLY | NO_FOLLOW);
    content = readFileSync(fd);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  onContent?.(member, content);
  return (
    content.subarray(0, plan.header.length).equals(plan.header) &&
    !mixesLineEndsIn(content) &&
    !trailingBlocksIn(content, plan.dialect, plan.columns.length)
  );
}

/**
 * The first `lines` lines of a file, line ends included (at most 64 KiB).
 * Undefined when the file cannot be read or its header is longer.
 */
function headerOf(path: string, lines: number): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buffer = Buffer.allocUnsafe(64 * 1024);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    let end = 0;
    for (let n = 0; n < lines; n++) {
      const nl = buffer.subarray(0, length).indexOf(10, end);
      if (nl === -1) return undefined;
      end = nl + 1;
    }
    return Buffer.from(buffer.subarray(0, end));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { describeColumns, queryRows } from "../engine/duckdb-query.js";
import { type Anomaly, detectAnomalies, HISTORY_WINDOW } from "../plan/anomalies.js";
import { maskedColumnNames } from "../plan/masking.js";
import {
  type DistinctMethod,
  distinctMethod,
  exactDistinctSql,
  isStddevOverflow,
  type Profile,
  profiledColumns,
  profileSql,
  readProfile,
  statsDistinctGuess,
  thinDistinctSamples,
} from "../plan/profile.js";
import { type ColumnInfo, quoteIdent, quoteLiteral, quoteQualified } from "../plan/sql-text.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** A run's profile as stored in its report: the table it describes and the per-column statistics. */
export interface RunProfile extends Profile {
  readonly table: string;
}

/** What helps {@link profileRun} count distinct values cheaply; all optional. */
export interface ProfileOptions {
  /** The pipeline's last profiles, oldest first (read from the warehouse when not given). */
  readonly history?: readonly RunProfile[] | undefined;
  /** A DuckDB table the rows are (a subset of): its storage statistics guess each column's distinct count. */
  readonly statsTable?: string | undefined;
  /** An upper bound on the number of rows (the guess when nothing better is known). */
  readonly rowsAtMost?: number | undefined;
  /**
   * Where nothing better than `rowsAtMost` is known of a column, guess from its first rows instead (see
   * {@link prefixMethods}): for rows that would cost a full read of their files again to recount.
   */
  readonly firstRowsGuess?: boolean | undefined;
}

/** Rows read from the start of the batch to tell columns of few distinct values (see prefixMethods). */
export const PREFIX_ROWS = 20_000;
/** At most this many distinct values among the first rows: the column is counted exactly. */
export const PREFIX_FEW = 2_048;

/**
 * Profiles the rows a run is about to publish (or has just written) in one aggregate pass and compares
 * it with the last runs of the pipeline (`history`, read from the warehouse when not given: give it
 * when the warehouse is busy publishing). How each column's distinct values are counted follows a
 * guess of how many there are (see `distinctMethod`): the storage statistics of `statsTable` when the
 * rows are (a subset of) a DuckDB table, else the column's last profile, else the number of rows; a
 * hash sample that came out too thin is recounted exactly in a second pass.
 *
 * @example
 * const { profile, anomalies } = await profileRun(con, warehouse, "orders", pipeline, rowsSql, "f_rows");
 */
export async function profileRun(
  con: DuckDBConnection,
  warehouse: Warehouse,
  pipelineName: string,
  pipeline: PipelineConfig,
  rowsSql: string,
  viewName: string,
  options: ProfileOptions = {},
): Promise<{ profile: RunProfile; anomalies: Anomaly[] }> {
  const { history, statsTable, rowsAtMost, firstRowsGuess } = options;
  await con.run(`CREATE OR REPLACE TEMP VIEW ${quoteIdent(viewName)} AS ${rowsSql}`);
  try {
    const columns = await describeColumns(con, quoteIdent(viewName));
    const past = history ?? (await profileHistory(warehouse, pipelineName, HISTORY_WINDOW));
    const guesses = statsTable
      ? await storageDistinctGuesses(con, statsTable, columns)
      : new Map<string, number>();
    const last = past.at(-1);
    const known = (name: string) => guesses.get(name) ?? last?.columns[name]?.distinct;
    const firstRows =
      firstRowsGuess && rowsAtMost !== undefined && distinctMethod(rowsAtMost).kind === "sample"
        ? await prefixMethods(
            con,
            viewName,
            profiledColumns(columns).filter((c) => known(c.name) === undefined),
            rowsAtMost,
          )
        : new Map<string, DistinctMethod>();
    const distinct: DistinctMethod[] = profiledColumns(columns).map(
      (c) => firstRows.get(c.name) ?? distinctMethod(known(c.name) ?? rowsAtMost),
    );
    const options = { distinct, maskedColumns: maskedColumnNames(pipeline.columns) };
    // The plain stddev first: the overflow-safe one costs several aggregates per numeric column.
    const row =
      (
        await queryRows(con, profileSql(viewName, columns, options)).catch((error: unknown) => {
          if (!isStddevOverflow(error)) throw error;
          return queryRows(con, profileSql(viewName, columns, { ...options, safeStddev: true }));
        })
      )[0] ?? {};
    const recount = thinDistinctSamples(columns, row, distinct);
    if (recount.length > 0) {
      const exact = (await queryRows(con, exactDistinctSql(viewName, recount)))[0] ?? {};
      const index = new Map(profiledColumns(columns).map((c, i) => [c.name, i]));
      recount.forEach((name, i) => {
        const at = index.get(name)!;
        distinct[at] = { kind: "exact" };
        row[`p${at}`] = { ...(row[`p${at}`] as Record<string, unknown>), distinct: exact[`d${i}`] };
      });
    }
    const profile: RunProfile = {
      table: pipeline.target.table ?? pipeline.target.lake?.table ?? pipelineName,
      ...readProfile(columns, row, distinct),
    };
    const anomalies = detectAnomalies(profile, past, pipeline.anomalies?.z_score ?? 3);
    return { profile, anomalies };
  } finally {
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(viewName)}`);
  }
}

/**
 * How to count the distinct values of columns nothing is known of but the number of rows, from the
 * first {@link PREFIX_ROWS} rows (one short read): a column with at most {@link PREFIX_FEW} values there
 * is counted exactly (few values cost little to count), any other by a hash sample eight times denser
 * than `rows` alone would choose, which comes out thin (to be recounted: a further full read) only
 * below about 8,000 distinct values. Together they spare a batch the recount its thin samples need when
 * it is guessed from its row count (see {@link thinDistinctSamples}).
 */
async function prefixMethods(
  con: DuckDBConnection,
  viewName: string,
  columns: readonly ColumnInfo[],
  rows: number,
): Promise<Map<string, DistinctMethod>> {
  if (columns.length === 0) return new Map();
  const counts = columns.map((c, i) => `count(DISTINCT ${quoteIdent(c.name)}) AS "d${i}"`).join(", ");
  const row =
    (
      await queryRows(
        con,
        `SELECT ${counts} FROM (SELECT * FROM ${quoteIdent(viewName)} LIMIT ${PREFIX_ROWS})`,
      )
    )[0] ?? {};
  const sparse = distinctMethod(rows);
  // A sample of every value (no bit to spare) is an exact count.
  const dense: DistinctMethod =
    sparse.kind === "sample" && sparse.bits > 3
      ? { kind: "sample", bits: sparse.bits - 3 }
      : { kind: "exact" };
  return new Map(
    columns.map(
      (c, i) => [c.name, Number(row[`d${i}`] ?? 0) <= PREFIX_FEW ? { kind: "exact" } : dense] as const,
    ),
  );
}

/**
 * Distinct-count guesses from a DuckDB table's storage statistics (free: no scan), by column name; a
 * column without a figure is left out.
 */
async function storageDistinctGuesses(
  con: DuckDBConnection,
  table: string,
  columns: readonly ColumnInfo[],
): Promise<Map<string, number>> {
  const profiled = profiledColumns(columns);
  if (profiled.length === 0) return new Map();
  const sql = `SELECT ${profiled.map((c, i) => `stats(${quoteIdent(c.name)}) AS "s${i}"`).join(", ")} FROM ${quoteQualified(table)} LIMIT 1`;
  // Only a guess: a relation without storage statistics (a view over files) gives none.
  const row = (await queryRows(con, sql).catch(() => []))[0] ?? {};
  return new Map(
    profiled.flatMap((c, i) => {
      const guess = statsDistinctGuess(row[`s${i}`]);
      return guess === undefined ? [] : [[c.name, guess] as const];
    }),
  );
}

/** Profiles of the pipeline's last successful runs, oldest first. */
export async function profileHistory(
  warehouse: Warehouse,
  pipeline: string,
  limit: number,
): Promise<RunProfile[]> {
  const rows = await warehouse.query(
    `SELECT report FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)} AND status = 'succeeded' ORDER BY started_at DESC LIMIT ${limit}`,
  );
  return rows
    .map((r) => (typeof r.report === "string" ? JSON.parse(r.report) : r.report) as { profile?: RunProfile })
    .flatMap((report) => (report?.profile ? [report.profile] : []))
    .reverse();
}

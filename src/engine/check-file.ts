import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { type CheckResult, compileChecks, interpretSummary } from "../plan/check-compiler.js";
import type { ForeignKeySet } from "../plan/check-rules.js";
import { compileDedupe } from "../plan/dedupe.js";
import { MASK_SALT_SQL, maskExpression, maskedColumnNames } from "../plan/masking.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { describeColumns, queryNumber, queryRows } from "./duckdb-query.js";
import type { StagedFile } from "./stage-file.js";

/** SQL text that reads the mask salt inside DuckDB (set once per session by {@link setMaskSalt}). */
export const maskSaltSql = MASK_SALT_SQL;

/** Makes `SLUICE_MASK_SALT` available to mask expressions in this DuckDB session. */
export async function setMaskSalt(con: DuckDBConnection, salt: string): Promise<void> {
  await con.run(`SET VARIABLE sluice_mask_salt = ${quoteLiteral(salt)}`);
}

/** A staged file after checks and dedupe: what to publish, what to quarantine, what was found. */
export interface CheckedFile {
  /** Table of rows to publish (passing, deduplicated), with the staged columns. */
  readonly keptTable: string;
  /** Rows failing an error or fatal rule. */
  readonly quarantined: number;
  readonly duplicates: number;
  readonly checks: readonly CheckResult[];
  /** SELECT yielding this file's quarantine rows for check failures, or undefined when there are none. */
  readonly quarantineSql: string | undefined;
  readonly warnings: readonly string[];
  /** Temporary tables to drop when the run ends. */
  readonly tables: readonly string[];
}

/** Where the checked rows came from, for quarantine records. */
export interface CheckContext {
  readonly runId: string;
  readonly pipeline: string;
  readonly file: string;
  readonly prefix: string;
  /** The staged keys of the pipeline's `foreign_key` checks (see `stageForeignKeys`). */
  readonly foreignKeys?: ReadonlyMap<number, ForeignKeySet> | undefined;
  /** The file's physical line count when known (maps row order to source lines). */
  readonly lineOf?: (con: DuckDBConnection, table: string) => Promise<string | undefined>;
  /**
   * A deferred read (the flag pass is the one read of the file): called right after it with the flagged
   * table, to collect the file's rejected records and numbers. Throwing abandons the check.
   */
  readonly afterRead?: (flaggedTable: string) => Promise<void>;
}

/**
 * The check stage for one file: every row rule in one pass (flags), dataset rules in one aggregate,
 * then dedupe of the passing rows. All inside DuckDB.
 *
 * @example
 * const checked = await checkFile(con, staged, pipeline, { runId, pipeline: "orders", file: "in/a.csv", prefix: "f0" });
 */
export async function checkFile(
  con: DuckDBConnection,
  staged: StagedFile,
  pipeline: PipelineConfig,
  ctx: CheckContext,
): Promise<CheckedFile> {
  if (staged.deferred && pipeline.checks.length === 0) {
    // Only the check pass reads a deferred file (and gives its rows their positions).
    throw new SluiceError("INTERNAL", `${ctx.file}: a deferred read needs checks to be checked; stage it`);
  }
  const tables: string[] = [];
  const warnings: string[] = [];
  const rowsView = `${ctx.prefix}_rows`;
  // rowid follows insertion order: _sluice_row is the record's position in the file. A deferred read
  // has no rowid yet: the flagged table (written in file order) provides it.
  const row = staged.deferred ? "NULL::BIGINT" : "rowid + 1";
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT *, ${row} AS _sluice_row FROM ${quoteIdent(staged.table)}`,
  );
  tables.push(rowsView);
  const columns = await describeColumns(con, quoteIdent(rowsView));
  const masked = maskedColumnNames(pipeline.columns);

  let source = rowsView;
  let checks: CheckResult[] = [];
  let quarantined = 0;
  let quarantineSql: string | undefined;
  const flagColumns = ["_sluice_failed_rules", "_sluice_reasons", "_sluice_quarantined"];
  if (pipeline.checks.length > 0) {
    const plan = compileChecks({
      checks: pipeline.checks,
      columns,
      stageTable: rowsView,
      outTable: `${ctx.prefix}_checked`,
      maskedColumns: masked,
      foreignKeys: ctx.foreignKeys,
    });
    // A deferred read's rows get their positions from the flagged table, written in file order, unless a
    // rule joins or windows (unique, foreign_key, outlier): then the file is first read into a table in
    // file order, whose rowid is the position.
    const positioned = staged.deferred !== undefined && plan.reordersRows;
    if (positioned) {
      const ordered = `${ctx.prefix}_ordered`;
      await con.run(
        `CREATE OR REPLACE TEMP TABLE ${quoteIdent(ordered)} AS SELECT * FROM ${quoteIdent(staged.table)}`,
      );
      await con.run(
        `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT *, rowid + 1 AS _sluice_row FROM ${quoteIdent(ordered)}`,
      );
      tables.push(ordered);
    }
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(plan.outTable)}`);
    await con.run(plan.flagsSql);
    tables.push(plan.outTable);
    source = plan.outTable;
    if (staged.deferred) {
      if (!positioned) {
        source = `${plan.outTable}_rows`;
        await con.run(
          `CREATE OR REPLACE TEMP VIEW ${quoteIdent(source)} AS SELECT * REPLACE (rowid + 1 AS _sluice_row) FROM ${quoteIdent(plan.outTable)}`,
        );
        tables.push(source);
      }
      try {
        await ctx.afterRead?.(source);
      } catch (error) {
        for (const table of [...tables].reverse()) {
          await con.run(`DROP VIEW IF EXISTS ${quoteIdent(table)}`).catch(() => undefined);
          await con.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`).catch(() => undefined);
        }
        throw error;
      }
    }
    const summary = (await queryRows(con, plan.summarySql))[0] ?? {};
    checks = interpretSummary(plan, summary);
    quarantined = await queryNumber(
      con,
      `SELECT count(*) FROM ${quoteIdent(source)} WHERE _sluice_quarantined`,
    );
    if (quarantined > 0) {
      const dataColumns = staged.columns.filter((c) => pipeline.columns[c.name]?.mask !== "drop");
      const values = dataColumns
        .map((c) => {
          const mask = pipeline.columns[c.name]?.mask;
          const ref = quoteIdent(c.name);
          const expr = mask ? maskExpression(mask, ref, maskSaltSql, c.type) : ref;
          return `${quoteIdent(c.name)} := ${expr}`;
        })
        .join(", ");
      const line = (await ctx.lineOf?.(con, source)) ?? "_sluice_line";
      quarantineSql = `SELECT ${quoteLiteral(ctx.runId)} AS run_id, ${quoteLiteral(ctx.pipeline)} AS pipeline,
        ${quoteLiteral(ctx.file)} AS file, ${line} AS line,
        list_filter(_sluice_failed_rules, x -> x IS NOT NULL) AS rules, _sluice_reasons AS reasons,
        ${values ? `to_json(struct_pack(${values}))` : "NULL::JSON"} AS "values", NULL::VARCHAR AS raw
        FROM ${quoteIdent(source)} WHERE _sluice_quarantined`;
    }
  }

  let keptTable = source;
  let duplicates = 0;
  const passing = pipeline.checks.length > 0 ? "NOT _sluice_quarantined" : undefined;
  if (pipeline.dedupe) {
    const dedupe = compileDedupe(pipeline.dedupe, source, {
      outTable: `${ctx.prefix}_kept`,
      ...(passing ? { where: passing, exclude: flagColumns } : {}),
    });
    const [findDropped, keptView] = dedupe.statements;
    await con.run(findDropped!);
    tables.push(...dedupe.created);
    const counts = (await queryRows(con, dedupe.countSql))[0] ?? {};
    duplicates = Number(counts.duplicates ?? 0);
    await con.run(duplicates > 0 ? keptView! : dedupe.keptWithoutDropsSql);
    keptTable = `${ctx.prefix}_kept`;
  } else if (passing) {
    keptTable = `${ctx.prefix}_passing`;
    await con.run(
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(keptTable)} AS SELECT * EXCLUDE (${flagColumns.join(", ")}) FROM ${quoteIdent(source)} WHERE ${passing}`,
    );
    tables.push(keptTable);
  }
  return { keptTable, quarantined, duplicates, checks, quarantineSql, warnings, tables };
}

/**
 * Maps record order to physical source lines for a CSV file whose records each take one line:
 * returns a SQL expression over the checked table, or undefined (line unknown) when records span lines.
 */
export function csvLineMapper(options: {
  readonly localPath: string;
  readonly headerLines: number;
  readonly malformedTable: string;
}): (con: DuckDBConnection, table: string) => Promise<string | undefined> {
  return async (con, table) => {
    // Lines beyond the reader limit: the line numbers are unknown rather than the run failing.
    const physical = await queryNumber(
      con,
      `SELECT count(*) FROM read_csv(${quoteLiteral(options.localPath)}, columns={'l': 'VARCHAR'}, header=false,
        auto_detect=false, delim='\\x1e', quote='', escape='', strict_mode=false, null_padding=true,
        ignore_errors=true, max_line_size=33554432, buffer_size=33554432)`,
    ).catch(() => -1);
    if (physical < 0) return undefined;
    const rejected = await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(options.malformedTable)}`);
    const accepted = await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(table)}`);
    if (physical !== options.headerLines + accepted + rejected) return undefined;
    const map = `${table}_lines`;
    await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(map)} AS
      SELECT row_number() OVER (ORDER BY l) AS _row, l AS _line
      FROM range(${options.headerLines + 1}, ${physical + 1}) t(l)
      WHERE l NOT IN (SELECT line FROM ${quoteIdent(options.malformedTable)} WHERE line IS NOT NULL)`);
    return `(SELECT _line FROM ${quoteIdent(map)} WHERE _row = ${quoteIdent(table)}._sluice_row)`;
  };
}

import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import {
  blocksPublish,
  CHECK_IN_WRITE_MARK,
  type CheckResult,
  compileChecks,
  interpretSummary,
} from "../plan/check-compiler.js";
import type { ForeignKeySet } from "../plan/check-rules.js";
import { dedupeRepeatCounts } from "../plan/dedupe.js";
import { maskedColumnNames } from "../plan/masking.js";
import { type ColumnInfo, quoteIdent } from "../plan/sql-text.js";
import { describeColumns, queryRows } from "./duckdb-query.js";
import { keysRepeat } from "./keys-repeat.js";
import type { StagedFile } from "./stage-file.js";

/** What one read of a file found before anything was written: its check results and whether it is clean. */
export interface CheckFailureCounts {
  /**
   * No row quarantined by an error or fatal rule, no failing fatal or dataset error rule, and no
   * duplicate keys: publishing the file's rows as read gives what checks and dedupe would.
   */
  readonly clean: boolean;
  readonly checks: readonly CheckResult[];
  /** Rows read (malformed records excluded). */
  readonly rows: number;
  /** Temporary views to drop when the run ends (none when the file is not clean: dropped already). */
  readonly tables: readonly string[];
}

/**
 * Reads a staged (deferred) file once and aggregates what the check stage would decide — every row
 * rule's failures, dataset rules, and whether dedupe keys repeat — without materializing the flagged
 * rows. A clean file can then be published in a single pass; any other goes through
 * {@link checkFile}, which finds the rows, their lines and reasons.
 *
 * @example
 * const counted = await countCheckFailures(con, staged, pipeline, "sluice_f0");
 * if (counted.clean) publishInOnePass(); else await checkFile(con, staged, pipeline, ctx);
 */
export async function countCheckFailures(
  con: DuckDBConnection,
  staged: StagedFile,
  pipeline: PipelineConfig,
  prefix: string,
  foreignKeys?: ReadonlyMap<number, ForeignKeySet>,
): Promise<CheckFailureCounts> {
  const rowsView = `${prefix}_count_rows`;
  // Positions do not matter to counts: the rows are read in any order.
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT *, NULL::BIGINT AS _sluice_row FROM ${quoteIdent(staged.table)}`,
  );
  const columns = await describeColumns(con, quoteIdent(rowsView));
  const plan =
    pipeline.checks.length > 0
      ? compileChecks({
          checks: pipeline.checks,
          columns,
          stageTable: rowsView,
          outTable: `${prefix}_count_checked`,
          maskedColumns: maskedColumnNames(pipeline.columns),
          foreignKeys,
        })
      : undefined;
  const keys = pipeline.dedupe ? dedupeRepeatCounts(pipeline.dedupe, plan?.counts.passing) : undefined;
  const aggregates = [...(plan?.counts.aggregates ?? [`count(*) AS "rows"`]), ...(keys?.aggregates ?? [])];
  const from = plan?.counts.from ?? `SELECT * FROM ${quoteIdent(rowsView)}`;
  const row = (await queryRows(con, `SELECT ${aggregates.join(", ")} FROM (${from})`))[0] ?? {};
  const checks = plan ? interpretSummary(plan, row) : [];
  const clean =
    Number(row.quarantined ?? 0) === 0 && !(keys?.repeats(row) ?? false) && !checks.some(blocksPublish);
  if (!clean) await con.run(`DROP VIEW IF EXISTS ${quoteIdent(rowsView)}`);
  return { clean, checks, rows: Number(row.rows ?? 0), tables: clean ? [rowsView] : [] };
}

/** A file whose error and fatal rules are enforced by the write that reads it (see {@link checkInWrite}). */
export interface WriteChecks {
  /**
   * View of the file's rows that raises an error beginning with {@link CHECK_IN_WRITE_MARK} at the first
   * row an error or fatal rule would quarantine or whose dedupe key repeats: a write from it either
   * publishes rows that all pass, each key once, or stops.
   */
  readonly keptTable: string;
  /** Temporary views to drop when the run ends. */
  readonly tables: readonly string[];
  /** The file's columns as its checks see them (without the reader's own `_sluice_*` columns). */
  readonly columns: readonly ColumnInfo[];
}

/**
 * Plans a deferred file's checks and dedupe to be enforced while the publish writes it, with no read
 * before: a check in the write on every row for the error and fatal row rules and for repeated dedupe keys, and after
 * the write (still inside its transaction) one aggregate over the rows written — {@link checkWrittenRows}
 * — for warn rules and dataset rules. Undefined when the file cannot be checked that way: a blocking rule
 * that needs more than its row (unique, foreign_key, outlier), masked columns or a derived column named
 * like a read one (the written values are not the checked ones), or `discard_columns` (the written rows
 * may lack checked columns).
 *
 * @example
 * const inWrite = await checkInWrite(con, staged, pipeline, "sluice_f0");
 * if (!inWrite) await countCheckFailures(con, staged, pipeline, "sluice_f0");
 */
export async function checkInWrite(
  con: DuckDBConnection,
  staged: StagedFile,
  pipeline: PipelineConfig,
  prefix: string,
  foreignKeys?: ReadonlyMap<number, ForeignKeySet>,
): Promise<WriteChecks | undefined> {
  // The written values must be the checked ones: no mask, no derived column in a read column's place.
  const derivedOver = Object.keys(pipeline.derive).some((name) =>
    staged.columns.some((c) => c.name === name),
  );
  if (
    maskedColumnNames(pipeline.columns).length > 0 ||
    derivedOver ||
    pipeline.schema_evolution === "discard_columns"
  ) {
    return undefined;
  }
  const rowsView = `${prefix}_inwrite_rows`;
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT *, NULL::BIGINT AS _sluice_row FROM ${quoteIdent(staged.table)}`,
  );
  const columns = await describeColumns(con, quoteIdent(rowsView));
  const condition =
    pipeline.checks.length > 0
      ? compileChecks({ checks: pipeline.checks, columns, stageTable: rowsView, foreignKeys }).inWrite
          ?.condition
      : "TRUE";
  if (condition === undefined) {
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(rowsView)}`);
    return undefined;
  }
  const keptTable = `${prefix}_inwrite_kept`;
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(keptTable)} AS SELECT * FROM ${quoteIdent(rowsView)} WHERE ${condition}`,
  );
  return {
    keptTable,
    tables: [rowsView, keptTable],
    columns: columns.filter((c) => !c.name.startsWith("_sluice_")),
  };
}

/** What {@link checkWrittenRows} found: the checks' results, and why the write must be undone if it must. */
export interface WrittenCheck {
  readonly checks: readonly CheckResult[];
  /** Why the rows cannot stay as written (a blocking rule failed, ...); undefined when clean. */
  readonly undo: string | undefined;
}

/**
 * After a inWrite write (see {@link checkInWrite}), inside its transaction: the checks' results over the
 * rows written from one file (`writtenSql` selects them from the target), as the staged way would report
 * them, and whether the write must be undone — a blocking dataset rule failed, or the target holds a
 * checked column in another type than the file (a check could then differ).
 *
 * @example
 * const { checks, undo } = await checkWrittenRows(con, inWrite, pipeline, `SELECT * FROM orders WHERE ...`);
 */
export async function checkWrittenRows(
  con: DuckDBConnection,
  inWrite: WriteChecks,
  pipeline: PipelineConfig,
  writtenSql: string,
  foreignKeys?: ReadonlyMap<number, ForeignKeySet>,
): Promise<WrittenCheck> {
  const written = new Map(
    (await describeColumns(con, `SELECT * FROM (${writtenSql})`)).map((c) => [c.name, c.type]),
  );
  const differing = inWrite.columns.filter((c) => written.get(c.name) !== c.type);
  if (differing.length > 0) {
    return {
      checks: [],
      undo: `the target holds ${differing.map((c) => c.name).join(", ")} in another type than the file`,
    };
  }
  const rowsView = `${inWrite.keptTable}_written`;
  const names = inWrite.columns.map((c) => quoteIdent(c.name));
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT ${names.join(", ")}, NULL::BIGINT AS _sluice_row FROM (${writtenSql})`,
  );
  // The checks see the row's position too, as in countCheckFailures (always NULL: counts need no order).
  const columns = [...inWrite.columns, { name: "_sluice_row", type: "BIGINT" }];
  try {
    const plan =
      pipeline.checks.length > 0
        ? compileChecks({ checks: pipeline.checks, columns, stageTable: rowsView, foreignKeys })
        : undefined;
    if (plan && !plan.inWrite)
      throw new SluiceError("INTERNAL", `${rowsView}: checks that cannot be inWrite`);
    const row = plan
      ? ((
          await queryRows(con, `SELECT ${plan.inWrite!.aggregates.join(", ")} FROM (${plan.counts.from})`)
        )[0] ?? {})
      : {};
    const checks = plan ? interpretSummary(plan, row) : [];
    const blocking = checks.filter(blocksPublish);
    const undo =
      blocking.length > 0
        ? `rule ${blocking.map((c) => c.name).join(", ")} failed`
        : pipeline.dedupe && (await keysRepeat(con, rowsView, pipeline.dedupe.keys, columns))
          ? "dedupe keys repeat"
          : undefined;
    return { checks, undo };
  } finally {
    await con.run(`DROP VIEW IF EXISTS ${quoteIdent(rowsView)}`);
  }
}

import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { blocksPublish, type CheckResult, compileChecks, interpretSummary } from "../plan/check-compiler.js";
import { dedupeRepeatProbe } from "../plan/dedupe.js";
import { maskedColumnNames } from "../plan/masking.js";
import { type ColumnInfo, quoteIdent } from "../plan/sql-text.js";
import { queryRows } from "./duckdb-query.js";
import type { StagedFile } from "./stage-file.js";

/** What one read of a file found before anything was written: its check results and whether it is clean. */
export interface ProbedFile {
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
 * Reads a staged (deferred) file once and aggregates what the judge stage would decide — every row
 * rule's failures, dataset rules, and whether dedupe keys repeat — without materializing the flagged
 * rows. A clean file can then be published in a single pass; any other goes through
 * {@link judgeFile}, which finds the rows, their lines and reasons.
 *
 * @example
 * const probed = await probeFile(con, staged, pipeline, "sluice_f0");
 * if (probed.clean) publishInOnePass(); else await judgeFile(con, staged, pipeline, ctx);
 */
export async function probeFile(
  con: DuckDBConnection,
  staged: StagedFile,
  pipeline: PipelineConfig,
  prefix: string,
): Promise<ProbedFile> {
  const rowsView = `${prefix}_probe_rows`;
  // Positions do not matter to counts: the probe reads in any order.
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT *, NULL::BIGINT AS _sluice_row FROM ${quoteIdent(staged.table)}`,
  );
  const columns: ColumnInfo[] = (await queryRows(con, `DESCRIBE ${quoteIdent(rowsView)}`)).map((r) => ({
    name: String(r.column_name),
    type: String(r.column_type),
  }));
  const plan =
    pipeline.checks.length > 0
      ? compileChecks({
          checks: pipeline.checks,
          columns,
          stageTable: rowsView,
          outTable: `${prefix}_probe_checked`,
          maskedColumns: maskedColumnNames(pipeline.columns),
        })
      : undefined;
  const keys = pipeline.dedupe ? dedupeRepeatProbe(pipeline.dedupe, plan?.probe.passing) : undefined;
  const aggregates = [...(plan?.probe.aggregates ?? [`count(*) AS "rows"`]), ...(keys?.aggregates ?? [])];
  const from = plan?.probe.from ?? `SELECT * FROM ${quoteIdent(rowsView)}`;
  const row = (await queryRows(con, `SELECT ${aggregates.join(", ")} FROM (${from})`))[0] ?? {};
  const checks = plan ? interpretSummary(plan, row) : [];
  const clean =
    Number(row.quarantined ?? 0) === 0 && !(keys?.repeats(row) ?? false) && !checks.some(blocksPublish);
  if (!clean) await con.run(`DROP VIEW IF EXISTS ${quoteIdent(rowsView)}`);
  return { clean, checks, rows: Number(row.rows ?? 0), tables: clean ? [rowsView] : [] };
}

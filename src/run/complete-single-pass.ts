import type { DuckDBConnection } from "@duckdb/node-api";
import { queryNumber, queryRows } from "../engine/duckdb-query.js";
import { checkWrittenRows } from "../engine/single-pass-checks.js";
import { completeDeferredRead } from "../engine/stage-file.js";
import { quoteIdent, quoteLiteral, quoteQualified } from "../plan/sql-text.js";
import type { AfterWrite, RunRecord } from "../warehouse/warehouse.js";
import { foreignKeysOf, type RunContext } from "./run-context.js";
import { readRows, withLateTable } from "./run-report.js";
import { ledgerOf, sumRows, totalChecks } from "./run-totals.js";
import { SinglePassUndone } from "./single-pass.js";
import type { Attempt, UnitWork } from "./unit.js";
import { awaitDigest, lostLinesError } from "./unit-digest.js";
import { warnChecks } from "./verdict.js";

/** A single-pass run's rows in its target: the columns of its batch, the filter on its run id. */
export interface PublishedRows {
  readonly table: string;
  readonly columns: readonly string[];
  readonly rowsOfRun: string;
  readonly rows: number;
}

/** What the completion of a single pass hands on: to the publish, and to the profile after the commit. */
export interface SinglePassCompleted {
  readonly afterWrite: AfterWrite;
  readonly quarantineSql: string | undefined;
  /** Undefined where the profile was taken beside the write (the engine cannot read the target). */
  readonly published: PublishedRows | undefined;
}

/** What the write of a single pass tells its completion. */
export interface SinglePassWrite {
  /** Rows the write stored. */
  readonly written: number;
  /** Rows stored per source file, read through the publishing transaction. */
  readonly writtenByFile: () => Promise<ReadonlyMap<string, number>>;
  /** The batch's rows (SQL over the engine). */
  readonly rowsSql: string;
  /** Whether the pipeline's ledger holds any of these hashes, asked through the publishing transaction. */
  readonly loadedAnyOf: (hashes: readonly string[]) => Promise<boolean>;
}

/**
 * Inside a single-pass publish, right after the write read the deferred files: their malformed rows,
 * counts and the decisions a staged run takes before publishing. Anything that would have stopped the
 * publish undoes it ({@link SinglePassUndone}); otherwise the run's numbers, quarantine and profile.
 */
export async function completeSinglePass(
  run: RunContext,
  attempt: Attempt,
  record: RunRecord,
  loaded: readonly UnitWork[],
  write: SinglePassWrite,
): Promise<SinglePassCompleted> {
  const { written, rowsSql } = write;
  const table = attempt.mode.pipeline.target.table!;
  const rowsOfRun = `_sluice_run_id = ${quoteLiteral(run.runId)}`;
  const accepted =
    loaded.length === 1 ? new Map([[loaded[0]!.report.path, written]]) : await write.writtenByFile();
  // The files were hashed while the write read them: their content must be new to the ledger.
  for (const work of loaded) {
    await awaitDigest(run, work);
    if (work.report.status === "failed") throw new SinglePassUndone(work.report.error ?? work.report.path);
  }
  const hashes = loaded.map((w) => w.report.sha256);
  if (await write.loadedAnyOf(hashes)) {
    throw new SinglePassUndone("the same content was loaded meanwhile");
  }
  for (const work of loaded) await completeDeferredUnit(run, attempt, work, accepted);
  for (const work of loaded) await checkWrittenUnit(run, attempt, work, table, rowsOfRun, loaded.length);
  sumRows(attempt);
  const quarantineSql = await totalChecks(run, attempt);
  const { report } = attempt;
  const afterWrite = {
    run: { ...record, report: { ...report } },
    ledger: ledgerOf(run, attempt.works),
    quarantineSql,
    checks: report.checks,
  };
  // Where the engine cannot read the target (PostgreSQL) the profile was taken beside the write.
  if (!run.warehouse.capabilities.stagesInPlace) return { afterWrite, quarantineSql, published: undefined };
  return {
    afterWrite,
    quarantineSql,
    published: await publishedRowsOf(run, table, rowsSql, written),
  };
}

/**
 * A run's rows in the target `table` (where the engine holds it), in the batch's columns (`rowsSql`):
 * what the profile describes. It is read after the commit (committed rows scan about twice as fast as
 * a transaction's own).
 */
export async function publishedRowsOf(
  run: RunContext,
  table: string,
  rowsSql: string,
  rows: number,
): Promise<PublishedRows> {
  const names = async (sql: string) =>
    (await queryRows(run.con, `DESCRIBE SELECT * FROM (${sql})`)).map((r) => String(r.column_name));
  const inTarget = new Set(await names(`SELECT * FROM ${quoteQualified(table)}`));
  const columns = (await names(rowsSql)).filter((c) => inTarget.has(c)).map(quoteIdent);
  return { table, columns, rowsOfRun: `_sluice_run_id = ${quoteLiteral(run.runId)}`, rows };
}

/** A file the write read: its malformed rows and counts, and the decisions a staged run takes on them. */
async function completeDeferredUnit(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  accepted: ReadonlyMap<string, number>,
): Promise<void> {
  const staged = work.staged!;
  const file = work.report;
  if (!staged.deferred) return;
  const { malformed, trailing, misfits, late } = await completeDeferredRead(run.con, staged);
  if (misfits.length > 0) {
    throw new SinglePassUndone(
      `${file.path}: values of ${misfits.join(", ")} do not fit the type inferred from a sample`,
    );
  }
  const after = await run.project.landing.stat(file.path);
  const listed = work.unit.landing;
  if (!after || after.size !== file.size || after.mtimeMs !== listed?.mtimeMs) {
    throw new SinglePassUndone(`${file.path}: changed or disappeared while being read`);
  }
  const rows = accepted.get(file.path) ?? 0;
  work.staged = { ...staged, trailing };
  Object.assign(file.rows, readRows({ accepted: rows, malformed, trailing }, run.onMalformed));
  withLateTable(file, late);
  if (malformed > 0 && run.onMalformed === "fail") {
    throw new SinglePassUndone(`${file.path}: malformed rows with on_malformed: fail`);
  }
  if (file.rows.read > 0 && malformed / file.rows.read > attempt.mode.pipeline.max_failure_rate) {
    throw new SinglePassUndone(`${file.path}: malformed rows above max_failure_rate`);
  }
  if (work.lines && (await lostLinesError(run, work))) {
    // Read again staged, where the file fails with the lines it lost.
    throw new SinglePassUndone(`${file.path}: lines unaccounted for`);
  }
  run.logger.info(
    { file: file.path, sha256: file.sha256, rows: file.rows, columns: staged.columns.length },
    "read",
  );
}

/** A inWrite file's rows as written: warn rules counted, dataset rules and repeated keys checked. */
async function checkWrittenUnit(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  table: string,
  rowsOfRun: string,
  units: number,
): Promise<void> {
  if (!work.checkedInWrite) return;
  const fileRows =
    units === 1 ? rowsOfRun : `${rowsOfRun} AND _sluice_source_file = ${quoteLiteral(work.report.path)}`;
  const { checks, undo } = await checkWrittenRows(
    run.con,
    work.checkedInWrite,
    attempt.mode.pipeline,
    `SELECT * FROM ${quoteQualified(table)} WHERE ${fileRows}`,
    foreignKeysOf(run, attempt.mode, work.unit.path),
  );
  run.logger.info(
    { file: work.report.path, clean: undo === undefined, reason: undo },
    "checked after the write",
  );
  if (undo) throw new SinglePassUndone(`${work.report.path}: ${undo}`);
  const warnings = warnChecks(checks);
  work.checked = { ...work.checked!, checks, warnings };
  work.report.warnings.push(...warnings);
}

/**
 * SQL over a single-pass run's committed rows. A target holding exactly as many rows as the run wrote
 * holds only them (the warehouse file is this process's alone), so the run-id filter is left out: the
 * profile then reads no lineage column and DuckDB answers min/max of numbers from its statistics.
 */
export async function publishedRowsSql(con: DuckDBConnection, rows: PublishedRows): Promise<string> {
  const select = `SELECT ${rows.columns.join(", ")} FROM ${quoteQualified(rows.table)}`;
  const held = await queryNumber(con, `SELECT count(*) FROM ${quoteQualified(rows.table)}`);
  return held === rows.rows ? select : `${select} WHERE ${rows.rowsOfRun}`;
}

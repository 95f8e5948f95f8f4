import { TRAILING_SQL } from "../engine/trailing-blocks.js";
import type { CheckResult } from "../plan/check-compiler.js";
import { quarantineFileOf, quarantineFolder } from "../plan/landing-paths.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { LedgerEntry } from "../warehouse/warehouse.js";
import { replayedValuesSql } from "./replayed-values.js";
import type { RunContext } from "./run-context.js";
import { addRows, type CheckReport, emptyRows } from "./run-report.js";
import type { Attempt, UnitWork } from "./unit.js";

/**
 * Sums the attempt's units into its report (rows, checks, status, error) and names its quarantine;
 * returns SQL over the engine for the quarantined rows (malformed and failing checks), if any.
 */
export async function totalAttempt(run: RunContext, attempt: Attempt): Promise<string | undefined> {
  const { report, works } = attempt;
  sumRows(attempt);
  const failedUnits = works.filter((w) => w.report.status === "failed");
  report.status = failedUnits.length > 0 ? "failed" : "succeeded";
  if (failedUnits.length > 0) report.error = failedUnits.map((w) => w.report.error).join("; ");
  return totalChecks(run, attempt);
}

/** The run's check results and quarantine (the sum over its units), checked writable in the landing zone. */
export async function totalChecks(run: RunContext, attempt: Attempt): Promise<string | undefined> {
  const { report } = attempt;
  report.checks = aggregateChecks(attempt.works.flatMap((w) => w.checked?.checks ?? []));
  const quarantineSql = quarantineOf(run, attempt);
  if (quarantineSql) await run.project.landing.checkPath(quarantineFileOf(report.quarantine!));
  return quarantineSql;
}

/** The run's row counts: the sum over its units. */
export function sumRows(attempt: Attempt): void {
  attempt.report.rows = emptyRows();
  for (const work of attempt.works) addRows(attempt.report.rows, work.report.rows);
}

/** The ledger entries of the attempt's units, as its publish records them. */
export function ledgerOf(run: RunContext, works: readonly UnitWork[]): LedgerEntry[] {
  return works.map((w) => ({
    runId: run.runId,
    pipeline: run.name,
    path: w.report.path,
    sha256: w.report.sha256,
    size: w.report.size,
    status: w.report.status,
    rowsRead: w.report.rows.read,
    rowsLoaded: w.report.rows.loaded,
    archivedTo: w.report.archived_to,
    error: w.report.error,
  }));
}

/** SQL over the engine for the run's quarantined rows (malformed and failing checks), if any. */
function quarantineOf(run: RunContext, attempt: Attempt): string | undefined {
  const { works, report } = attempt;
  const parts = [
    ...works
      .filter(
        (w) =>
          w.staged &&
          ((w.report.rows.malformed > 0 && run.onMalformed !== "drop") || (w.staged.trailing ?? 0) > 0),
      )
      .map((w) => quarantineSelect(run, w, run.replayed.get(w.report.path)?.values === true)),
    ...works.flatMap((w) => (w.checked?.quarantineSql ? [w.checked.quarantineSql] : [])),
  ];
  report.quarantine = parts.length > 0 ? quarantineFolder(run.name, run.runId) : null;
  return parts.length > 0 ? parts.join(" UNION ALL ") : undefined;
}

/** One line per check for the run: failures summed over the run's units. */
function aggregateChecks(results: readonly CheckResult[]): CheckReport[] {
  const byName = new Map<string, CheckReport>();
  for (const r of results) {
    const seen = byName.get(r.name);
    byName.set(r.name, { name: r.name, severity: r.severity, failed: (seen?.failed ?? 0) + r.failed });
  }
  return [...byName.values()];
}

/**
 * A unit's malformed rows as quarantine rows (the raw line withheld when the pipeline masks columns):
 * rule `malformed` with the reader's error type in the reason, or the rule of a line after the table
 * (`footer`, `second_table`), quarantined even under `on_malformed: drop`.
 */
function quarantineSelect(run: RunContext, work: UnitWork, replayedValues: boolean): string {
  const staged = work.staged!;
  const raw = run.hasMasks ? "'[withheld: the pipeline masks columns]'" : "raw";
  // A replayed value row that no longer parses keeps its values, so a later replay can take it up again.
  const values = replayedValues ? replayedValuesSql : "NULL::JSON";
  return `SELECT ${quoteLiteral(run.runId)} AS run_id, ${quoteLiteral(run.name)} AS pipeline, ${quoteLiteral(work.report.path)} AS file,
    line, [CASE WHEN ${TRAILING_SQL} THEN error_type ELSE 'malformed' END] AS rules,
    [CASE WHEN ${TRAILING_SQL} THEN message ELSE error_type || ': ' || message END] AS reasons,
    ${values} AS "values", ${raw} AS raw
    FROM ${quoteIdent(staged.malformedTable)}${run.onMalformed === "drop" ? ` WHERE ${TRAILING_SQL}` : ""}`;
}

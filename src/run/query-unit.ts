import { unmaskableColumnError } from "../plan/column-references.js";
import { longColumnNameError } from "../plan/long-column-name-error.js";
import { type QuerySource, queryUnitPath, stageQuerySource } from "./query-source.js";
import type { RunContext } from "./run-context.js";
import type { Attempt, RunUnit, UnitWork } from "./unit.js";
import { markFailed } from "./unit-digest.js";
import { checkAndDecide } from "./verdict.js";

/**
 * The one unit of a run that reads a query result (`{sql}`, `{table}`, a database): staged by the query
 * itself, known to the ledger by that read (every read is its own entry), with no raw form to archive.
 *
 * @example
 * queryResultUnit("daily", { table: "orders" }).path // "table:orders"
 */
export function queryResultUnit(pipeline: string, source: QuerySource): RunUnit {
  return {
    path: queryUnitPath(pipeline, source),
    size: 0,
    read: (run, attempt, work, index) => readQueryResult(run, attempt, work, index, source),
  };
}

async function readQueryResult(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  index: number,
  source: QuerySource,
): Promise<UnitWork> {
  const { pipeline } = attempt.mode;
  const file = work.report;
  const path = work.unit.path;
  const staged = await stageQuerySource(
    run.warehouse,
    run.name,
    pipeline,
    source,
    `sluice_q${index}`,
    run.workDir,
  );
  Object.assign(file, { sha256: staged.sha256 });
  const { accepted, malformed } = staged.staged;
  Object.assign(file.rows, {
    read: accepted + malformed,
    loaded: accepted,
    malformed,
    quarantined: malformed,
  });
  file.warnings.push(...staged.staged.warnings);
  work.staged = staged.staged;
  const unmaskable = unmaskableColumnError(run.written, staged.staged.columns, path);
  if (unmaskable) return markFailed(run, work, unmaskable, false);
  const longName = longColumnNameError(
    staged.staged.columns,
    pipeline,
    path,
    run.warehouse.capabilities.maxIdentifierBytes,
  );
  if (longName) return markFailed(run, work, longName, false);
  return checkAndDecide(run, attempt, work, staged.staged);
}

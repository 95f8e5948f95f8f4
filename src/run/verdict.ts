import { checkFile } from "../engine/check-file.js";
import { queryNumber } from "../engine/duckdb-query.js";
import { completeDeferredRead, type StagedFile } from "../engine/stage-file.js";
import { TRAILING_SQL } from "../engine/trailing-blocks.js";
import { SluiceError } from "../errors.js";
import { blocksPublish, type CheckResult } from "../plan/check-compiler.js";
import { quoteIdent } from "../plan/sql-text.js";
import { foreignKeysOf, needsChecking, pipelineOf, type RunContext } from "./run-context.js";
import { readRows, withLateTable } from "./run-report.js";
import { SinglePassUndone } from "./single-pass.js";
import type { Attempt, UnitWork } from "./unit.js";
import { markFailed } from "./unit-digest.js";

/** Maps a row of a CSV file to its line (quarantine rows name the line they came from). */
export type LineOf = Parameters<typeof checkFile>[3]["lineOf"];

/**
 * The check stage (rules, dedupe) and the decision (thresholds, `on_malformed`) for a staged unit: where
 * rows are quarantined, and where a unit is refused whole.
 */
export async function checkAndDecide(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  stagedBefore: StagedFile,
  lineOf?: LineOf,
): Promise<UnitWork> {
  const { pipeline } = attempt.mode;
  let staged = stagedBefore;
  const file = work.report;
  const path = work.unit.path;
  run.progress.stage("check");
  if (needsChecking(pipeline)) {
    const checked = await checkFile(run.con, staged, pipelineOf(run, attempt.mode, path), {
      runId: run.runId,
      pipeline: run.name,
      file: path,
      prefix: staged.prefix,
      foreignKeys: foreignKeysOf(run, attempt.mode, path),
      lineOf,
      afterRead: staged.deferred ? (table) => completeCheckedRead(run, work, staged, table) : undefined,
    });
    // A deferred read is complete now: its numbers are in work.staged.
    staged = work.staged ?? staged;
    work.checked = checked;
    if (staged.malformed > 0 && run.onMalformed === "fail") {
      return markFailed(run, work, await malformedFailure(run, file.path, staged), true);
    }
    file.warnings.push(...checked.warnings);
    file.rows.quarantined += checked.quarantined;
    file.rows.duplicates = checked.duplicates;
    file.rows.loaded = staged.accepted - checked.quarantined - checked.duplicates;
    file.warnings.push(...warnChecks(checked.checks));
    const blocking = checked.checks.filter(blocksPublish);
    if (blocking.length > 0) {
      const what = blocking.map(
        (c) => `${c.name} [${c.severity}]: ${c.message ?? `${c.failed} rows failed`}`,
      );
      return markFailed(
        run,
        work,
        new SluiceError("CHECK_FATAL", `${path}: ${what.join("; ")}; nothing published`),
        true,
      );
    }
  }
  const failing = staged.malformed + (work.checked?.quarantined ?? 0);
  const rate = file.rows.read === 0 ? 0 : failing / file.rows.read;
  if (rate > pipeline.max_failure_rate) {
    return markFailed(
      run,
      work,
      new SluiceError(
        "THRESHOLD_EXCEEDED",
        `${path}: ${failing} of ${file.rows.read} rows failed (${(rate * 100).toFixed(1)}% > max_failure_rate ${(pipeline.max_failure_rate * 100).toFixed(1)}%); nothing published`,
      ),
      true,
    );
  }
  return work;
}

/** After the check pass read a deferred CSV file: its malformed rows and numbers. */
async function completeCheckedRead(
  run: RunContext,
  work: UnitWork,
  staged: StagedFile,
  flagged: string,
): Promise<void> {
  const file = work.report;
  const { malformed, trailing, misfits, late } = await completeDeferredRead(run.con, staged);
  if (misfits.length > 0) {
    throw new SinglePassUndone(`values of ${misfits.join(", ")} do not fit the type inferred from a sample`);
  }
  const accepted = await queryNumber(run.con, `SELECT count(*) FROM ${quoteIdent(flagged)}`);
  work.staged = { ...staged, accepted, malformed, trailing, deferred: undefined };
  Object.assign(file.rows, readRows({ accepted, malformed, trailing }, run.onMalformed));
  withLateTable(file, late);
  run.logger.info(
    { file: file.path, sha256: file.sha256, rows: file.rows, columns: staged.columns.length },
    "staged",
  );
}

/** The error of a unit refused for a malformed row under `on_malformed: fail`, naming the first one. */
export async function malformedFailure(
  run: RunContext,
  path: string,
  staged: StagedFile,
): Promise<SluiceError> {
  const rows = await run.con.runAndReadAll(
    `SELECT line, error_type, message FROM ${quoteIdent(staged.malformedTable)} WHERE NOT ${TRAILING_SQL} ORDER BY line NULLS LAST LIMIT 1`,
  );
  const row = rows.getRowObjectsJson()[0];
  const first = row ? `line ${row.line ?? "?"}: ${row.error_type}: ${row.message}` : "unknown";
  return new SluiceError("MALFORMED_ROWS", `${path}: malformed row (on_malformed: fail): ${first}`);
}

/** The warnings of `warn` rules that failed. */
export function warnChecks(checks: readonly CheckResult[]): string[] {
  return checks
    .filter((c) => c.severity === "warn" && c.failed > 0)
    .map((c) => `check ${c.name} (warn): ${c.message ?? `${c.failed} rows failed`}`);
}

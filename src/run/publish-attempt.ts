import type { PipelineConfig } from "../config/schema.js";
import { CHECK_IN_WRITE_MARK } from "../plan/check-compiler.js";
import { quoteIdent } from "../plan/sql-text.js";
import { STAGED_KEYS_MARK } from "../warehouse/write-batch.js";
import { type Batch, sourceFileOf } from "./batch.js";
import {
  completeSinglePass,
  type PublishedRows,
  publishedRowsOf,
  type SinglePassCompleted,
} from "./complete-single-pass.js";
import type { Gate } from "./profile-gate.js";
import { publishRun } from "./publish-run.js";
import { rawCopyPlan } from "./raw-copy-plan.js";
import type { RunContext, RunMode } from "./run-context.js";
import { ledgerOf } from "./run-totals.js";
import { SinglePassUndone } from "./single-pass.js";
import type { Attempt, UnitWork } from "./unit.js";

/** An attempt's publish: committed (with what follows the commit), or undone for another attempt. */
export type PublishOutcome =
  | {
      readonly committed: true;
      readonly quarantineSql: string | undefined;
      /** Single pass: the published rows, profiled once the publish has committed. */
      readonly profileAfterCommit: PublishedRows | undefined;
    }
  | { readonly committed: false; readonly next: RunMode };

/**
 * Publishes an attempt in one transaction: rows, ledger, run record (see publishRun). A single pass
 * the write undid, or a NUL byte the warehouse refused, asks for another attempt in the staged mode
 * (nothing was published); any other failure is the run's.
 */
export async function publishAttempt(
  run: RunContext,
  attempt: Attempt,
  batch: Batch,
  gate: Gate,
  quarantineSql: string | undefined,
): Promise<PublishOutcome> {
  const { report, mode } = attempt;
  const { loaded, deferred } = batch;
  const { rowsSql } = gate;
  const finishedAt = new Date();
  report.finished_at = finishedAt.toISOString();
  const record = {
    runId: run.runId,
    pipeline: run.name,
    status: report.status,
    startedAt: run.startedAt,
    finishedAt,
    report: { ...report },
  };
  let completed: SinglePassCompleted | undefined;
  // Kept as thrown: a warehouse may wrap it in errors of its own (PostgreSQL names the server).
  let undone: SinglePassUndone | undefined;
  try {
    await publishRun(
      run.project,
      run.warehouse,
      mode.pipeline,
      {
        run: record,
        report,
        rowsSql,
        sourceRows: batch.sourceRows,
        // A query's mark covers every row it read (quarantined ones are kept, not re-read each run).
        watermark: await batch.incremental?.markOf(
          run.query && rowsSql && loaded[0]?.staged
            ? `SELECT * FROM ${quoteIdent(loaded[0].staged.rowsTable ?? loaded[0].staged.table)}`
            : rowsSql,
        ),
        replaces: run.options.force
          ? loaded.flatMap((w) => w.priorLoads.map((p) => ({ runId: p.runId, path: p.path })))
          : [],
        ledger: ledgerOf(run, attempt.works),
        positions: attempt.works.flatMap((w) =>
          w.unit.positions && w.report.status === "loaded"
            ? [{ batch: w.report.path, positions: w.unit.positions }]
            : [],
        ),
        sourceFiles: new Map(
          [...run.replayed].flatMap(([path, f]) => (f.sourceFile ? [[path, f.sourceFile] as const] : [])),
        ),
        quarantineSql,
        alongsideWrite: gate.alongsideWrite,
        completeAfterWrite:
          deferred.length > 0 && rowsSql
            ? async (written, writtenByFile, loadedAnyOf) => {
                try {
                  completed = await completeSinglePass(run, attempt, record, loaded, {
                    written,
                    writtenByFile,
                    loadedAnyOf,
                    rowsSql,
                  });
                } catch (error) {
                  if (error instanceof SinglePassUndone) undone = error;
                  throw error;
                }
                return completed.afterWrite;
              }
            : undefined,
        constantColumns: deferred.length > 0 ? singlePassConstants(run, loaded) : undefined,
        rawCopy: deferred.length > 0 ? rawCopyPlan(run, attempt, batch, gate) : undefined,
      },
      run.logger,
      (stage) => run.progress.stage(stage),
    );
  } catch (error) {
    return { committed: false, next: fallbackMode(run, attempt, undone ?? error) };
  }
  return {
    committed: true,
    quarantineSql: completed ? completed.quarantineSql : quarantineSql,
    profileAfterCommit:
      completed?.published ??
      (gate.afterCommit && rowsSql ? await committedRows(run, attempt, rowsSql) : undefined),
  };
}

/** The committed rows a gate left to be profiled after the commit; a failure to name them is a warning. */
async function committedRows(
  run: RunContext,
  attempt: Attempt,
  rowsSql: string,
): Promise<PublishedRows | undefined> {
  try {
    return await publishedRowsOf(
      run,
      attempt.mode.pipeline.target.table!,
      rowsSql,
      attempt.report.rows.loaded,
    );
  } catch (error) {
    run.logger.warn({ err: (error as Error).message }, "profile not recorded");
    return undefined;
  }
}

/**
 * The metadata columns of a single pass's rows that hold one value in every row (see `shapeSql`): the
 * run id and load time, and the source file when there is one.
 */
function singlePassConstants(run: RunContext, loaded: readonly UnitWork[]): ReadonlyMap<string, string> {
  const constants = new Map([
    ["_sluice_run_id", run.runId],
    ["_sluice_loaded_at", run.startedAt.toISOString()],
  ]);
  if (loaded.length === 1) constants.set("_sluice_source_file", sourceFileOf(run, loaded[0]!));
  return constants;
}

/**
 * The mode of the next attempt after a failed publish, or the error rethrown when another attempt
 * cannot help. A row failed a check or repeated a key the write enforced (see checkInWrite), or a
 * single-pass merge's stage holds a NULL key or a key twice (see checkStagedKeys): the staged way finds
 * and reports it. The warehouse cannot store a NUL byte in text: the rows holding one are
 * quarantined.
 */
function fallbackMode(run: RunContext, attempt: Attempt, error: unknown): RunMode {
  const { mode } = attempt;
  const tripped =
    (attempt.works.some((w) => w.checkedInWrite) ? stoppedByCheckInWrite(error) : undefined) ??
    (mode.singlePass ? stoppedByStagedKeys(error) : undefined);
  const nul =
    !run.warehouse.capabilities.textHoldsNul && mode.pipeline === run.configured && refusedNul(error);
  if (!(error instanceof SinglePassUndone) && !tripped && !nul) throw error;
  // Nothing was published (one transaction): read the files again, staged, and decide as usual.
  if (nul) {
    run.logger.warn(
      { check: NUL_CHECK.name },
      "the warehouse refused a NUL byte in text; reading the files again, quarantining rows that hold one",
    );
  } else {
    const reason = tripped ?? (error as Error).message;
    run.logger.info({ reason }, "single pass undone; reading the files again, staged");
  }
  const pipeline = nul ? { ...run.configured, checks: [...run.configured.checks, NUL_CHECK] } : mode.pipeline;
  return { ...mode, pipeline, singlePass: false };
}

/**
 * The check a run adds when its warehouse refused a NUL byte in text (PostgreSQL): every row holding one,
 * in any column, is quarantined with this reason, and the run is checked again with it. Only then: the
 * check reads every value of every row.
 */
const NUL_CHECK = {
  rule: "expression",
  name: "no_nul_bytes",
  // A comparison, not NOT: DuckDB expands *COLUMNS(*) inside functions and comparisons only.
  sql: "contains(concat_ws('', *COLUMNS(*)), chr(0)) = false",
  message: "a value holds a NUL byte, which the warehouse cannot store in text",
  severity: "error",
} as const satisfies PipelineConfig["checks"][number];

/** The messages of an error and of its causes, outermost first. */
function* causeMessages(error: unknown): Generator<string> {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) yield e.message;
}

/** Whether an error (or one of its causes) is PostgreSQL refusing a NUL byte in text. */
function refusedNul(error: unknown): boolean {
  return [...causeMessages(error)].some((m) => /invalid byte sequence for encoding "UTF8": 0x00/.test(m));
}

/** Why a single-pass merge's key checks on its stage stopped it (see checkStagedKeys), if they did. */
function stoppedByStagedKeys(error: unknown): string | undefined {
  for (const message of causeMessages(error)) {
    const at = message.indexOf(`${STAGED_KEYS_MARK}: `);
    if (at >= 0) return message.slice(at + STAGED_KEYS_MARK.length + 2).split("\n")[0];
  }
  return undefined;
}

/** What a check in the write stopped the write for, when the error (or one of its causes) is that check's. */
function stoppedByCheckInWrite(error: unknown): string | undefined {
  for (const message of causeMessages(error)) {
    const at = message.indexOf(`${CHECK_IN_WRITE_MARK}: `);
    if (at >= 0) return message.slice(at + CHECK_IN_WRITE_MARK.length + 2).split("\n")[0];
  }
  return undefined;
}

import type { PipelineConfig } from "../config/schema.js";
import { describeColumns } from "../engine/duckdb-query.js";
import type { StagedQuery } from "../engine/stage-query.js";
import { HISTORY_WINDOW } from "../plan/anomalies.js";
import { isSluiceColumn } from "../plan/schema-plan.js";
import { quoteIdent } from "../plan/sql-text.js";
import type { Batch } from "./batch.js";
import { lakeTargetPlan } from "./lake-publish.js";
import type { RunContext } from "./run-context.js";
import { type ProfileOptions, profileHistory, profileRun } from "./run-profile.js";
import type { RunReport } from "./run-report.js";
import type { Attempt } from "./unit.js";

/** What the profile gate lets through: the rows to publish and the profile to take beside the write. */
export interface Gate {
  /** Undefined when nothing is published (none, or held back by `anomalies.fail`). */
  readonly rowsSql: string | undefined;
  readonly alongsideWrite: ((rows?: number) => Promise<Record<string, unknown>>) | undefined;
  /** The rows are profiled in the target once the publish has committed (see {@link profilesAfterCommit}). */
  readonly afterCommit?: boolean | undefined;
}

/** Modes whose rows of the run are exactly the batch's rows in the target. */
const WHOLE_BATCH_MODES: ReadonlySet<string> = new Set(["append", "replace"]);

/**
 * Whether the batch is profiled after the commit, in the target, rather than before the publish: where
 * the engine holds the target and every unit's stage is a view over a database extract's files (each
 * read parses them again: the profile before the write would read them once or twice more than the
 * write itself). Not with `anomalies.fail` (the profile must come before it can hold the run back), a
 * lake target, checks or dedupe (their kept rows are a table already), or a mode whose rows in the
 * target are not the batch's (merge, scd2, cdc).
 */
function profilesAfterCommit(run: RunContext, pipeline: PipelineConfig, batch: Batch): boolean {
  return (
    run.warehouse.capabilities.stagesInPlace &&
    pipeline.anomalies?.fail !== true &&
    pipeline.target.table !== undefined &&
    lakeTargetPlan(pipeline.target) === undefined &&
    WHOLE_BATCH_MODES.has(pipeline.target.mode) &&
    batch.deferred.length === 0 &&
    batch.loaded.length > 0 &&
    batch.loaded.every((w) => (w.staged as StagedQuery | undefined)?.readsFiles === true && !w.checked)
  );
}

/**
 * Profiles the batch before the publish (or arranges for it to be profiled beside the write). With
 * `anomalies.fail`, a run that deviates from its history is held back whole: its units fail.
 */
export async function profileGate(run: RunContext, attempt: Attempt, batch: Batch): Promise<Gate> {
  const { pipeline } = attempt.mode;
  const { rowsSql, loaded } = batch;
  if (!rowsSql) return { rowsSql, alongsideWrite: undefined };
  // Files read by the publish itself are counted after the write, and profiled after the commit where
  // the engine holds the target; where it does not (PostgreSQL), beside the copy, reading them again.
  const deferred = batch.deferred.length > 0;
  if (deferred && !run.profileBesideWrite) return { rowsSql, alongsideWrite: undefined };
  if (profilesAfterCommit(run, pipeline, batch))
    return { rowsSql, alongsideWrite: undefined, afterCommit: true };
  // The profile describes the rows as published: without the columns discard_columns leaves out.
  const profiled = await publishedColumnsSql(run, pipeline, rowsSql);
  const rowsAtMost = deferred ? undefined : loaded.reduce((sum, w) => sum + w.report.rows.loaded, 0);
  const report = attempt.report;
  if (run.profileBesideWrite) {
    // Anomalies only warn here: the profile is taken while the server writes the batch (the engine
    // is idle then), with the history read now (the warehouse's connections are busy publishing).
    const history = await profileHistory(run.warehouse, run.name, HISTORY_WINDOW);
    // A single pass's profile reads the files again once the export has read them (and counted the
    // rows, which chooses how distinct values are counted) while the server still copies.
    const alongsideWrite = async (rows?: number) => {
      await profileRows(run, pipeline, report, profiled, {
        history,
        rowsAtMost: rowsAtMost ?? rows,
        // An append's single pass guesses from the file's first rows: a recount would read it again.
        firstRowsGuess: deferred && pipeline.target.mode !== "merge",
      });
      return { profile: report.profile, anomalies: report.anomalies };
    };
    return { rowsSql, alongsideWrite };
  }
  const anomalies = await profileRows(run, pipeline, report, profiled, {
    rowsAtMost,
    statsTable: deferred ? undefined : singleStageTable(batch),
  });
  if (anomalies.length === 0 || !pipeline.anomalies?.fail) return { rowsSql, alongsideWrite: undefined };
  // A run that deviates is held back whole: its files go to unprocessed/ for a person to look at.
  const error = `anomalies (anomalies.fail: true): ${anomalies.map((a) => a.message).join("; ")}; nothing published`;
  for (const work of loaded) {
    Object.assign(work.report, { status: "failed", error });
    work.report.rows.loaded = 0;
    work.moveOnFailure = true;
  }
  return { rowsSql: undefined, alongsideWrite: undefined };
}

/**
 * The engine table holding a one-unit batch's rows, when it is one: its storage statistics guess each
 * column's distinct count, so a first run does not count the distinct values of a column again because
 * its row count made the guess far too high.
 */
function singleStageTable(batch: Batch): string | undefined {
  const [only, ...more] = batch.loaded;
  if (!only?.staged || more.length > 0 || (only.staged as StagedQuery).readsFiles === true) return undefined;
  return only.checked?.keptTable ?? only.staged.rowsTable ?? only.staged.table;
}

/** Profiles rows about to be published (or just written) and logs what deviates from the last runs. */
export async function profileRows(
  run: RunContext,
  pipeline: PipelineConfig,
  report: RunReport,
  rowsSql: string,
  options: ProfileOptions = {},
) {
  const profiledAt = performance.now();
  const { profile, anomalies } = await profileRun(
    run.con,
    run.warehouse,
    run.name,
    pipeline,
    rowsSql,
    `sluice_profile_${report.sequence}`,
    options,
  );
  report.profile = profile;
  report.anomalies = anomalies.map((a) => a.message);
  run.logger.info(
    { ms: Math.round(performance.now() - profiledAt), anomalies: anomalies.length },
    "profiled",
  );
  for (const anomaly of anomalies)
    run.logger.warn({ metric: anomaly.metric, column: anomaly.column }, anomaly.message);
  return anomalies;
}

/**
 * The run's rows as the target will hold them: under `schema_evolution: discard_columns`, only the
 * columns an existing target has (and Sluice's own, which are always added); otherwise `rowsSql`.
 */
async function publishedColumnsSql(
  run: RunContext,
  pipeline: PipelineConfig,
  rowsSql: string,
): Promise<string> {
  const table = pipeline.target.table;
  if (pipeline.schema_evolution !== "discard_columns" || table === undefined) return rowsSql;
  const existing = await run.warehouse.columnsOf(table);
  if (!existing) return rowsSql;
  const kept = new Set(existing);
  const columns = (await describeColumns(run.con, `(${rowsSql})`))
    .map((c) => c.name)
    .filter((c) => kept.has(c) || isSluiceColumn(c));
  return `SELECT ${columns.map(quoteIdent).join(", ")} FROM (${rowsSql})`;
}

import type { PipelineConfig } from "../config/schema.js";
import { lakeTargetPlan } from "./lake-publish.js";

/** Runs with more files than this are staged (see {@link singlePassAllowed}). */
export const SINGLE_PASS_MAX_FILES = 16;

/**
 * Whether a run may publish in a single pass: its CSV files are not staged into temporary tables but
 * read once, by the statement that writes the target (the way `CREATE TABLE AS SELECT * FROM read_csv`
 * works), with malformed records captured during that read. With checks or dedupe only a clean file —
 * no row quarantined, no blocking rule failing, no repeated key — is published that way; any other is
 * checked the staged way. Where it can, the write itself enforces the checks (`checkInWrite`): it stops at
 * the first row an error or fatal rule fails, and one aggregate over the rows written, inside the same
 * transaction, counts the rest (warn rules, dataset rules, repeated keys) and undoes the write if the
 * file is not clean. Otherwise (masked columns, blocking rules needing the whole batch) each file is
 * counted first (one aggregate read, nothing written). A pipeline whose last run quarantined rows or
 * dropped duplicates skips both (its batches are rarely clean: the first read would be wasted).
 * On a warehouse other than the engine (PostgreSQL) the read is DuckDB's export streamed into `COPY`
 * inside the publish transaction; checks are always probed there (the count after a guarded write
 * reads the written rows through the engine), and the profile is taken beside the copy.
 * A `merge` takes the single pass where the warehouse stages the rows on its own side (PostgreSQL,
 * `mergesOnStage`): DuckDB's read of the files streams into the stage the upsert joins, and the key
 * checks (no NULL key, no key twice) and the source side of reconciliation (rows, sums of declared
 * numeric columns) are one aggregate over that stage, before the upsert; a key that fails undoes the
 * publish and the staged way reports it (see `checkStagedKeys`). Where the engine holds the target
 * (DuckDB) key checks would read the batch again before the write: a merge there is staged.
 * Everything else a run decides from the rows before publishing rules it out:
 * - a mode other than append/replace (or merge as above), or keys on append/replace,
 * - declared numeric columns outside such a merge (their sums are reconciled against a separate read
 *   of the batch),
 * - a lake target, `anomalies.fail`, incremental cursors, warehouse sources and replays,
 * - more than {@link SINGLE_PASS_MAX_FILES} files (a burst of small files: one statement over hundreds
 *   of CSV readers costs more to plan and complete than staging them one by one).
 *
 * What it decides after the read — a share of malformed rows over `max_failure_rate`, `on_malformed:
 * fail`, a value not fitting a type inferred from a sample, a file changed while read, a file that is
 * not clean under the checks in its write — undoes the
 * publish (it is one transaction) and the run reads its files again the staged way.
 *
 * @example
 * if (singlePassAllowed(pipeline, { files: 1, sumColumns: [] })) { ... }
 */
export function singlePassAllowed(
  pipeline: PipelineConfig,
  run: {
    readonly files: number;
    readonly sumColumns: readonly string[];
    readonly query?: unknown;
    readonly replay?: unknown;
    /** The pipeline's last run quarantined rows for its checks or dropped duplicates. */
    readonly lastRunRemovedRows?: boolean;
    /** The warehouse stages a merge's rows on its side and checks their keys there (PostgreSQL). */
    readonly mergesOnStage?: boolean;
  },
): boolean {
  const target = pipeline.target;
  if (process.env.SLUICE_SINGLE_PASS === "0") return false;
  const keys = (target.keys ?? []).length;
  const merge = target.mode === "merge" && keys > 0 && run.mergesOnStage === true;
  return (
    target.table !== undefined &&
    lakeTargetPlan(target) === undefined &&
    (((target.mode === "append" || target.mode === "replace") && keys === 0) || merge) &&
    !((pipeline.checks.length > 0 || pipeline.dedupe !== undefined) && run.lastRunRemovedRows === true) &&
    pipeline.incremental === undefined &&
    pipeline.anomalies?.fail !== true &&
    run.files <= SINGLE_PASS_MAX_FILES &&
    (run.sumColumns.length === 0 || merge) &&
    run.query === undefined &&
    run.replay === undefined
  );
}

/** Thrown inside a single-pass publish to undo it: the run reads its files again, staged. */
export class SinglePassUndone extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "SinglePassUndone";
  }
}

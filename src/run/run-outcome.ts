import type { LedgerEntry, PositionClaim, PublishBatch, RunRecord } from "../warehouse/warehouse.js";
import type { RunReport } from "./run-report.js";

/** What a run hands to its targets once every file has been staged and checked. */
export interface RunOutcome {
  readonly run: RunRecord;
  readonly report: RunReport;
  /** SQL over the engine yielding the target rows of every loaded file; undefined when there are none. */
  readonly rowsSql: string | undefined;
  readonly replaces: PublishBatch["replaces"];
  readonly ledger: readonly LedgerEntry[];
  /**
   * The `_sluice_source_file` of a ledger path's rows where it is not the path itself: a replay unit
   * (`unprocessed/...`, `replay/...`) carries its original file's name.
   */
  readonly sourceFiles?: ReadonlyMap<string, string> | undefined;
  readonly quarantineSql: string | undefined;
  /** The incremental high-water mark reached (stored with the load). */
  readonly watermark?: { readonly cursor: string; readonly value: string } | undefined;
  /** Single pass: completes the run's numbers after the write read the files (see single-pass.ts). */
  readonly completeAfterWrite?: PublishBatch["completeAfterWrite"];
  /** Columns holding one value in every row, known without reading the batch (see PublishBatch). */
  readonly constantColumns?: PublishBatch["constantColumns"];
  /** Engine work that may run beside the warehouse write (the run's profile; see PublishBatch). */
  readonly alongsideWrite?: PublishBatch["alongsideWrite"];
  /** One CSV file the warehouse may copy as it is (see PublishBatch.rawCopy). */
  readonly rawCopy?: PublishBatch["rawCopy"];
  /** The batch's row count as its sources gave it (see PublishBatch.sourceRows). */
  readonly sourceRows?: number | undefined;
  /** Stream positions of the loaded units, claimed in the publish transaction (see RunUnit.positions). */
  readonly positions?: PositionClaim["batches"] | undefined;
}

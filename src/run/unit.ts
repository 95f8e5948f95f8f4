import type { CheckedFile } from "../engine/check-file.js";
import type { WriteChecks } from "../engine/single-pass-checks.js";
import type { StagedFile } from "../engine/stage-file.js";
import type { ContentDigest } from "../integrity/hash-file.js";
import type { LineCount } from "../integrity/line-count.js";
import type { StorageEntry } from "../storage/storage.js";
import type { PositionRange } from "../warehouse/position-ranges.js";
import type { LedgerEntry } from "../warehouse/warehouse.js";
import { loadedSizes } from "./loaded-sizes.js";
import { newRunReport, type RunContext, type RunMode } from "./run-context.js";
import { emptyRows, type FileReport, type RunReport } from "./run-report.js";
import { type FilesTogether, filesTogether } from "./stage-together.js";

/**
 * One unit of work of a run: a landing file, a query result, a stream micro-batch. Every unit enters the
 * same stages (stage → check → shape → decide → publish → archive); what differs is said here.
 *
 * - what to read: `read` stages it into the engine and fills its work record (rows, counts, verdict);
 * - how the ledger knows it: `path` names it, and `read` sets `report.sha256` (a file's content hash, a
 *   query read's own id, a stream batch's positions), recorded with the rows in the publish transaction;
 * - where its raw form is kept: `raw`, absent when it has none (a query result);
 * - what else its ledger entry claims: `positions`, a stream batch's, each published once per pipeline.
 */
export interface RunUnit {
  /** How reports, the ledger and the quarantine name it (`in/a.csv`, `sql:<pipeline>`, `table:<name>`). */
  readonly path: string;
  /** Bytes to read, when known before reading (progress; 0 otherwise). */
  readonly size: number;
  /** The landing file it reads, when it is one: checked for changes while read. */
  readonly landing?: StorageEntry | undefined;
  /** Stages the unit and decides on it; a unit that cannot be loaded comes back failed (`report.status`). */
  read(run: RunContext, attempt: Attempt, work: UnitWork, index: number): Promise<UnitWork>;
  /** Where its raw form is kept after the run (archive/ or unprocessed/); absent when it has none. */
  readonly raw?: RawForm | undefined;
  /**
   * A stream batch's positions, as ranges: claimed with its ledger row in the publish transaction, each
   * once per pipeline (see PositionClaim), so workers sharing a consumer never publish one message twice.
   */
  readonly positions?: readonly PositionRange[] | undefined;
}

/** The raw form of a unit, kept in the landing zone once the run is published (or failed on its data). */
export interface RawForm {
  /** Picks its place before the publish, which records it in the ledger (never overwriting another). */
  destination(run: RunContext, area: "archive" | "unprocessed", reserved: Set<string>): Promise<string>;
  /** After the commit: puts it there (a landing file moves; a batch held in memory is written). */
  keep(run: RunContext, to: string): Promise<void>;
}

/** What a run knows of one unit as it goes through the stages (one record per unit and attempt). */
export interface UnitWork {
  readonly unit: RunUnit;
  readonly report: FileReport;
  staged?: StagedFile;
  checked?: CheckedFile;
  /** Earlier loads of the same content (replaced under --force; the crash-repair hint otherwise). */
  priorLoads: readonly LedgerEntry[];
  /**
   * Data problems send a failed unit to unprocessed/ (once its identity is known); transient ones leave
   * it where it is.
   */
  moveOnFailure: boolean;
  /** The content's hash while the file is read meanwhile (see `awaitDigest`). */
  digest?: Promise<ContentDigest> | undefined;
  /** Its checks are enforced by the write and counted after it (see `checkInWrite`). */
  checkedInWrite?: WriteChecks | undefined;
  /** The file's line breaks, counted as it was hashed (the read is checked against them). */
  lines?: LineCount | undefined;
}

/** A fresh work record for a unit: loaded until a stage says otherwise. */
export function newWork(unit: RunUnit): UnitWork {
  const report: FileReport = {
    path: unit.path,
    sha256: "",
    size: unit.size,
    status: "loaded",
    archived_to: null,
    rows: emptyRows(),
    error: null,
    warnings: [],
  };
  return { unit, report, priorLoads: [], moveOnFailure: false };
}

/** Everything one attempt builds: a fallback starts a fresh one. */
export interface Attempt {
  readonly mode: RunMode;
  readonly report: RunReport;
  readonly works: UnitWork[];
  /** Sizes of this attempt's files: a file of a size seen before is hashed before it is read. */
  readonly sizesSeen: Set<number>;
  /** Small files of the attempt staged together (see `filesTogether`). */
  readonly together: FilesTogether;
  /** Sizes of the attempt's files the ledger has loaded content of (one query; see `loadedSizes`). */
  readonly loadedSizes: (run: RunContext) => Promise<ReadonlySet<number>>;
}

/** A fresh attempt in a mode over a run's units: its own report (numbered, logged), no work yet. */
export function newAttempt(run: RunContext, mode: RunMode, units: readonly RunUnit[]): Attempt {
  const report = { ...newRunReport(run), sequence: mode.sequence, log: run.log.path };
  return {
    mode,
    report,
    works: [],
    sizesSeen: new Set(),
    together: filesTogether(units),
    loadedSizes: loadedSizes(units),
  };
}

import type { CsvDetection } from "../plan/detect-csv-layout.js";

/** Row counts of a file or run, as in the `--json` contract. */
export interface RowCounts {
  read: number;
  loaded: number;
  quarantined: number;
  malformed: number;
  duplicates: number;
}

/** One file's outcome in a run. */
export interface FileReport {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  status: "loaded" | "skipped_duplicate" | "failed";
  archived_to: string | null;
  rows: RowCounts;
  error: string | null;
  warnings: string[];
  /**
   * CSV files: the layout the file was read with and what was detected or repaired (dialect, header
   * line, preamble skipped, padding trimmed, header repaired, decimal separator). See docs/messy-csv.md.
   */
  csv?: CsvDetection;
}

/** One check's outcome in a run. */
export interface CheckReport {
  readonly name: string;
  readonly severity: "error" | "warn" | "fatal";
  readonly failed: number;
}

/** A run, exactly as `sluice run --json` prints it (plus a few documented extensions). */
export interface RunReport {
  readonly run_id: string;
  readonly pipeline: string;
  status: "succeeded" | "failed" | "skipped";
  readonly started_at: string;
  finished_at: string;
  sequence: number;
  files: FileReport[];
  rows: RowCounts;
  checks: CheckReport[];
  error: string | null;
  /** Why a skipped run had nothing to do, when it says more than "nothing new" (`no file matches <glob>`). */
  note?: string;
  log: string | null;
  quarantine: string | null;
  /**
   * Problems that did not fail the run, met after its commit: a quarantine file or its log that could not
   * be written (a later run writes a missing quarantine file), and the like. Absent when there were none.
   */
  warnings?: string[];
  /** The `sluice worker` that ran it (`<host>-<pid>-<id>`); absent for runs of `sluice run` / `watch`. */
  worker?: string;
  /** For `sluice replay` runs: the run replayed. */
  replay_of?: string;
  /** Per-column profile of the published rows (nulls, distinct, min, max, mean, stddev, lengths). */
  profile?: import("./run-profile.js").RunProfile;
  /** Deviations from the last runs beyond the z-score threshold (volume, null share, means). */
  anomalies?: string[];
  /** What the load did to the warehouse table (absent when nothing was published). */
  load?: {
    readonly table: string;
    readonly mode: string;
    readonly inserted: number;
    readonly updated: number;
    readonly deleted: number;
  } | null;
  /** The warehouse table's size right after the load (rows; bytes, null when not known yet). */
  table_size?: {
    readonly table: string;
    readonly rows: number;
    readonly bytes: number | null;
    readonly estimated?: boolean;
  };
  /** Columns the load added to or retyped in the warehouse table (absent when none). */
  schema_changes?: readonly import("../plan/schema-plan.js").SchemaChange[];
  /** Source-versus-target counts (and sums of declared numeric columns) of the load. */
  reconciliation?: {
    readonly source_rows: number;
    readonly target_rows: number;
    readonly ok: boolean;
    readonly mismatches: readonly string[];
  } | null;
}

/** Zero counts. */
export function emptyRows(): RowCounts {
  return { read: 0, loaded: 0, quarantined: 0, malformed: 0, duplicates: 0 };
}

/**
 * A file's counts once read: rows loaded, rows the reader rejected (`malformed`, quarantined unless
 * `on_malformed: drop`) and lines after its table that are no rows of it (a footer, a second table:
 * always quarantined, never malformed). Read is their sum, so loaded + quarantined (+ dropped) = read.
 */
export function readRows(
  read: { readonly accepted: number; readonly malformed: number; readonly trailing?: number | undefined },
  onMalformed: "quarantine" | "drop" | "fail",
): Pick<RowCounts, "read" | "loaded" | "malformed" | "quarantined"> {
  const trailing = read.trailing ?? 0;
  return {
    read: read.accepted + read.malformed + trailing,
    loaded: read.accepted,
    malformed: read.malformed,
    quarantined: (onMalformed === "drop" ? 0 : read.malformed) + trailing,
  };
}

/** Adds counts into `into`. */
export function addRows(into: RowCounts, add: RowCounts): RowCounts {
  into.read += add.read;
  into.loaded += add.loaded;
  into.quarantined += add.quarantined;
  into.malformed += add.malformed;
  into.duplicates += add.duplicates;
  return into;
}

/**
 * The report of a pipeline that produced no run of its own: not started (`skipped`, its upstream
 * failed) or failed before a run began (`failed`). `error` says why.
 *
 * @example
 * reportWithoutRun("daily", "skipped", "not run: upstream pipeline orders failed");
 */
export function reportWithoutRun(pipeline: string, status: "skipped" | "failed", error: string): RunReport {
  const now = new Date().toISOString();
  return {
    run_id: "",
    pipeline,
    status,
    started_at: now,
    finished_at: now,
    sequence: 0,
    files: [],
    rows: emptyRows(),
    checks: [],
    error,
    log: null,
    quarantine: null,
  };
}

/** A second table found after a deferred read (in its rejects): the file's `csv` and warning say so. */
export function withLateTable(
  file: FileReport,
  late: { readonly csv: Partial<CsvDetection>; readonly warning: string } | undefined,
): void {
  if (!late) return;
  if (file.csv) file.csv = { ...file.csv, ...late.csv };
  file.warnings.push(late.warning);
}

/**
 * Copies what the stage found about a file into its report (the `csv` layout of a CSV file); a file
 * staged again (a fallback) replaces it.
 *
 * @example
 * withStageFindings(file, staged);
 */
export function withStageFindings(
  file: FileReport,
  staged: { readonly csv?: CsvDetection | undefined },
): void {
  if (staged.csv) file.csv = staged.csv;
  else delete file.csv;
}

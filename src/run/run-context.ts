import type { DuckDBConnection } from "@duckdb/node-api";
import type { Logger } from "pino";
import type { FileFormat, FileSourceConfig, PipelineConfig } from "../config/schema.js";
import type { ForeignKeySet } from "../plan/check-rules.js";
import type { StorageEntry } from "../storage/storage.js";
import type { LedgerEntry, Warehouse } from "../warehouse/warehouse.js";
import type { AcquiredFile } from "./acquire-file.js";
import type { ProjectContext } from "./project-context.js";
import type { QuerySource } from "./query-source.js";
import { quarantinedValuesConfig } from "./replayed-values.js";
import type { RunLog } from "./run-log.js";
import type { RunProgress, RunProgressTracker } from "./run-progress.js";
import { emptyRows, type RunReport } from "./run-report.js";
import type { StagedForeignKeys } from "./stage-foreign-keys.js";

/** Options of one pipeline run. */
export interface PipelineRunOptions {
  /** Only these landing-relative files (they must match the pipeline's glob). */
  readonly files?: readonly string[] | undefined;
  /** Exactly these landing files, found elsewhere than the glob (backfills of archived files). */
  readonly entries?: readonly StorageEntry[] | undefined;
  /** Leave the files where they are afterwards (they are already archived). */
  readonly keepInPlace?: boolean | undefined;
  /** Reload content the ledger already has, replacing its earlier rows. */
  readonly force?: boolean;
  /**
   * Under `force`: earlier loads of a file's rows that the ledger knows under another identity than the
   * file's content (a stream batch, known by its positions, backfilled from its archived chunk), by path.
   */
  readonly earlierLoads?: ReadonlyMap<string, readonly LedgerEntry[]> | undefined;
  readonly onProgress?: (progress: RunProgress) => void;
  /** Replay: process exactly these landing files (outside the glob), as replays of an earlier run. */
  readonly replay?: ReplaySpec | undefined;
  /** The `sluice worker` running it: named in the run record, committed with the run. */
  readonly worker?: string | undefined;
}

/** One file of a replay. */
export interface ReplayFile {
  readonly path: string;
  /** Rows of quarantine files keep the original source file name in the target. */
  readonly sourceFile?: string;
  readonly format?: FileFormat;
  /** The file holds quarantined values (parsed and masked already): see quarantinedValuesConfig. */
  readonly values?: boolean;
}

/** What `sluice replay` hands to a run. */
export interface ReplaySpec {
  readonly ofRun: string;
  readonly files: readonly ReplayFile[];
}

/** What one run is, fixed when it opens: every stage reads it, none changes it. */
export interface RunContext {
  readonly project: ProjectContext;
  readonly warehouse: Warehouse;
  readonly con: DuckDBConnection;
  /** The pipeline's name. */
  readonly name: string;
  /** The pipeline as written (a mask is checked against the columns it names). */
  readonly written: PipelineConfig;
  /** Declared columns by their names in the rows, whichever name the config used (`E-Mail` → `e_mail`). */
  readonly configured: PipelineConfig;
  /** The query the pipeline reads, when it reads one (`{sql}`, `{table}`, a database). */
  readonly query: QuerySource | undefined;
  /** What happens to malformed rows (a query result quarantines them). */
  readonly onMalformed: FileSourceConfig["on_malformed"];
  readonly options: PipelineRunOptions;
  readonly runId: string;
  readonly startedAt: Date;
  readonly replayed: ReadonlyMap<string, ReplayFile>;
  readonly hasMasks: boolean;
  /** The profile may be taken beside the warehouse write when it cannot stop the publish. */
  readonly profileBesideWrite: boolean;
  readonly log: RunLog;
  readonly logger: Logger;
  /** Scratch space of the run's downloads and reads, removed when it ends. */
  readonly workDir: string;
  readonly progress: RunProgressTracker;
  /** Files hashed (and downloaded) once, even when a second attempt reads them again. */
  readonly acquired: Map<string, AcquiredFile>;
}

/** How an attempt publishes: decided before the first, changed only by a fallback. */
export interface RunMode {
  /** The pipeline as run: its checks gain one when the warehouse refused a NUL byte (see NUL_CHECK). */
  readonly pipeline: PipelineConfig;
  /** The publish reads the CSV files itself (see singlePassAllowed). */
  readonly singlePass: boolean;
  readonly sequence: number;
  /** The referenced keys of the run's `foreign_key` checks (see stageForeignKeys). */
  readonly foreignKeys: StagedForeignKeys | undefined;
}

/** The report of a run before any attempt: what `sluice run --json` prints for a run with nothing to do. */
export function newRunReport(run: Pick<RunContext, "runId" | "name" | "startedAt" | "options">): RunReport {
  return {
    run_id: run.runId,
    pipeline: run.name,
    status: "skipped",
    started_at: run.startedAt.toISOString(),
    finished_at: run.startedAt.toISOString(),
    sequence: 0,
    files: [],
    rows: emptyRows(),
    checks: [],
    error: null,
    log: null,
    quarantine: null,
    ...(run.options.replay ? { replay_of: run.options.replay.ofRun } : {}),
    ...(run.options.worker ? { worker: run.options.worker } : {}),
  };
}

/** The pipeline as it applies to one unit: replayed quarantined values are parsed and masked already. */
export function pipelineOf(run: RunContext, mode: RunMode, path: string): PipelineConfig {
  return run.replayed.get(path)?.values ? quarantinedValuesConfig(mode.pipeline) : mode.pipeline;
}

/** The keys as one unit's checks compare with them: replayed values are hashed already. */
export function foreignKeysOf(
  run: RunContext,
  mode: RunMode,
  path: string,
): ReadonlyMap<number, ForeignKeySet> | undefined {
  const foreignKeys = mode.foreignKeys;
  if (!foreignKeys || !run.replayed.get(path)?.values) return foreignKeys?.sets;
  return new Map(
    [...foreignKeys.sets].map(([index, set]) => {
      const check = mode.pipeline.checks[index];
      const hashedAlready =
        check?.rule === "foreign_key" && mode.pipeline.columns[check.column]?.mask === "hash";
      return [index, hashedAlready ? { table: set.table } : set];
    }),
  );
}

/** Checks or dedupe: the unit goes through the check stage. */
export function needsChecking(pipeline: PipelineConfig): boolean {
  return pipeline.checks.length > 0 || pipeline.dedupe !== undefined;
}

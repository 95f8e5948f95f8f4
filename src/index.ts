/**
 * Sluice as a library: what a Node service or a test harness calls instead of spawning the CLI.
 * Every function goes through the same code as the command it mirrors (`sluice validate`, `run --json`,
 * `runs --json`, `quarantine --json`, `query --json`) and returns the same objects. See docs/library.md.
 *
 * @example
 * import { openProject } from "sluice";
 * const project = await openProject("path/to/sluice.yaml");
 * try {
 *   const reports = await project.run();
 *   for await (const row of project.query("SELECT count(*) AS n FROM orders")) console.log(row);
 * } finally {
 *   await project.close();
 * }
 */
import { type Problem, problemsOf, SluiceError, type SluiceErrorCode } from "./errors.js";
import { type QueryOptions, queryBatches } from "./query/query-batches.js";
import type { ProjectContext } from "./run/project-context.js";
import type { CheckReport, FileReport, RowCounts, RunReport } from "./run/run-report.js";
import { assertKnownPipelines } from "./runner/known-pipelines.js";
import { openProject as openProjectContext } from "./runner/open-project.js";
import { type QuarantineRecord, readQuarantine } from "./runner/read-quarantine.js";
import { type RunsQuery, readRuns } from "./runner/read-runs.js";
import { runProject } from "./runner/run-project.js";
import type { QueueWorkerOptions, QueueWorkerSummary } from "./scale/run-queue-worker.js";

export type {
  CheckReport,
  FileReport,
  Problem,
  QuarantineRecord,
  QueryOptions,
  QueueWorkerOptions,
  QueueWorkerSummary,
  RowCounts,
  RunReport,
  RunsQuery,
  SluiceErrorCode,
};
export { SluiceError };

/** Options of {@link openProject}. */
export interface OpenOptions {
  /** Where notices go (waiting for a warehouse lock, a retry, ...). Default: dropped. */
  readonly notice?: (message: string) => void;
}

/** Which pipelines and files {@link SluiceProject.run} processes. */
export interface RunOptions {
  /** Pipelines to run (default: all, in dependency order). */
  readonly pipelines?: readonly string[];
  /** Only these files (landing-relative or local paths). */
  readonly files?: readonly string[];
  /** Reload content already loaded, replacing its earlier rows. */
  readonly force?: boolean;
  /** Also run every pipeline that depends on the named ones. */
  readonly downstream?: boolean;
}

/** An open project. Reading needs nothing more than the project file; running needs what a load needs. */
export interface SluiceProject {
  /** Absolute path of the project file. */
  readonly configFile: string;
  /** Names of the project's pipelines. */
  readonly pipelines: readonly string[];
  /**
   * Checks the project as `sluice validate` does (columns against a landing file, the mask salt, ...):
   * no problem is an empty list.
   */
  validate(): Promise<Problem[]>;
  /**
   * Processes pending files: the reports `sluice run --json` prints under `runs`. A failed pipeline is a
   * report with `status: "failed"`, not an exception; a configuration problem throws (CONFIG_INVALID).
   */
  run(options?: RunOptions): Promise<RunReport[]>;
  /**
   * Works as one `sluice worker` of a postgres:// warehouse (scale-out): claims queued units of files and
   * runs them until `options.signal` aborts or, with `exitWhenIdleMs`, the queue stays empty that long.
   */
  work(options?: QueueWorkerOptions): Promise<QueueWorkerSummary>;
  /** Recorded runs, newest first (the objects of `sluice runs --json`). */
  runs(query?: RunsQuery): Promise<RunReport[]>;
  /** Quarantined rows of a pipeline, newest first (the objects of `sluice quarantine --json`). */
  quarantine(pipeline: string, options?: { readonly run?: string }): Promise<QuarantineRecord[]>;
  /**
   * One read-only statement against the warehouse and the lake (`lake.<table>`), its rows streamed: memory
   * holds one batch whatever the result's size. Rows are the objects of `sluice query --json`.
   */
  query(sql: string, options?: QueryOptions): AsyncIterable<Record<string, unknown>>;
  /** Ends the project's use; later calls throw. Stop a `query` iteration early with `break`. */
  close(): Promise<void>;
}

/**
 * Opens a project from its file (default: ./sluice.yaml), going through the same loading and checks as
 * every command. A configuration problem throws a {@link SluiceError} with code CONFIG_INVALID and
 * its `problems`. What only a load needs (the mask salt, landing samples) is checked by `run` and
 * `validate`, so a reader needs no salt.
 *
 * @example
 * const project = await openProject("sluice.yaml");
 */
export async function openProject(configPath?: string, options: OpenOptions = {}): Promise<SluiceProject> {
  const base = {
    ...(configPath !== undefined ? { config: configPath } : {}),
    ...(options.notice ? { notice: options.notice } : {}),
  };
  const ctx = await openProjectContext({ ...base, use: "reads" });
  let closed = false;
  const open = (): ProjectContext => {
    if (closed) throw new SluiceError("USAGE", `${ctx.project.configFile}: the project was closed`);
    return ctx;
  };
  // A load checks what loads need (salt, columns against a landing file) on the current files.
  const forLoads = () => {
    open();
    return openProjectContext({ ...base, use: "loads" });
  };
  return {
    configFile: ctx.project.configFile,
    pipelines: Object.keys(ctx.project.config.pipelines),
    async validate() {
      try {
        await forLoads();
        return [];
      } catch (error) {
        if (error instanceof SluiceError && error.exitCode === 2) return problemsOf(error);
        throw error;
      }
    },
    async run(runOptions = {}) {
      return runProject(await forLoads(), {
        ...(runOptions.pipelines ? { pipelines: runOptions.pipelines } : {}),
        ...(runOptions.files ? { files: runOptions.files } : {}),
        force: runOptions.force ?? false,
        downstream: runOptions.downstream ?? false,
      });
    },
    async work(workOptions = {}) {
      // Loaded only when called: pg-boss stays out of a reader's start-up.
      const { runQueueWorker } = await import("./scale/run-queue-worker.js");
      return runQueueWorker(await forLoads(), workOptions);
    },
    runs: async (query = {}) => readRuns(open(), query),
    async quarantine(pipeline, quarantineOptions = {}) {
      assertKnownPipelines(open().project.config.pipelines, [pipeline]);
      return readQuarantine(open(), pipeline, quarantineOptions);
    },
    query(sql, queryOptions = {}) {
      return {
        async *[Symbol.asyncIterator]() {
          for await (const { rows } of queryBatches(open(), sql, queryOptions)) yield* rows;
        },
      };
    },
    async close() {
      closed = true;
    },
  };
}

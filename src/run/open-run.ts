import type { PipelineConfig } from "../config/schema.js";
import { isFileSource } from "../config/schema.js";
import { scratchDir } from "../storage/scratch-dir.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { lakeTargetPlan } from "./lake-publish.js";
import type { ProjectContext } from "./project-context.js";
import { querySourceOf } from "./query-source.js";
import type { PipelineRunOptions, RunContext } from "./run-context.js";
import { openRunLogOf } from "./run-log.js";
import { trackRunProgress } from "./run-progress.js";
import type { RunReport } from "./run-report.js";
import type { RunUnit } from "./unit.js";

/** Who runs what: the pipeline and the run's identity, before anything is opened. */
export interface RunRequest {
  readonly project: ProjectContext;
  readonly warehouse: Warehouse;
  readonly name: string;
  readonly written: PipelineConfig;
  readonly configured: PipelineConfig;
  readonly options: PipelineRunOptions;
  readonly runId: string;
  readonly startedAt: Date;
}

/**
 * Opens a run that has units to read: its log (named in the report), scratch space and progress. A log
 * that cannot be opened fails the run here, with its report.
 */
export async function openRun(
  request: RunRequest,
  report: RunReport,
  units: readonly RunUnit[],
): Promise<RunContext> {
  const { project, warehouse, name, configured: pipeline, options } = request;
  const log = openRunLogOf(project.landing, report, request.startedAt);
  report.log = log.path;
  const logger = log.logger.child({ pipeline: name });
  logger.info({ files: units.length, force: options.force ?? false }, "run started");
  const con = warehouse.engine;
  const workDir = scratchDir("run-");
  const bytesTotal = units.reduce((n, u) => n + u.size, 0);
  const progress = await trackRunProgress(
    con,
    name,
    { filesTotal: units.length, bytesTotal },
    options.onProgress,
  );
  const fileSource = isFileSource(pipeline.source) ? pipeline.source : undefined;
  return {
    ...request,
    con,
    query: querySourceOf(pipeline.source),
    onMalformed: fileSource?.on_malformed ?? "quarantine",
    replayed: new Map((options.replay?.files ?? []).map((f) => [f.path, f])),
    hasMasks: Object.values(pipeline.columns).some((c) => c.mask !== undefined),
    profileBesideWrite:
      warehouse.capabilities.engineFreeDuringWrite &&
      pipeline.anomalies?.fail !== true &&
      pipeline.target.table !== undefined &&
      lakeTargetPlan(pipeline.target) === undefined,
    log,
    logger,
    workDir,
    progress,
    acquired: new Map(),
  };
}

import { existsSync } from "node:fs";
import { relative, resolve, sep } from "node:path";
import picomatch from "picomatch";
import { isFileSource, type SourceConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { topologicalOrder, withDownstream } from "../plan/pipeline-graph.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunProgress } from "../run/run-pipeline.js";
import { type RunReport, reportWithoutRun } from "../run/run-report.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { assertKnownPipelines } from "./known-pipelines.js";
import { runWithRetries } from "./pipeline-retries.js";

/** Options of `sluice run`. */
export interface ProjectRunOptions {
  readonly pipelines?: readonly string[];
  readonly files?: readonly string[];
  readonly force?: boolean;
  /** Also run every pipeline depending (transitively) on the selected ones, after them. */
  readonly downstream?: boolean;
  readonly onProgress?: (progress: RunProgress) => void;
  /** Called with each pipeline's report as soon as it is final (alerts hook in here). */
  readonly onReport?: (report: RunReport) => void;
  /** The `sluice worker` running them (named in each run record). */
  readonly worker?: string;
  /** An open warehouse to run on, left open (a queue worker's, kept across units); default: opened here. */
  readonly warehouse?: Warehouse;
}

/**
 * Runs pipelines of a project (all, or the named ones) with the warehouse held for the duration.
 * A pipeline whose run breaks is reported as failed; the others still run.
 *
 * @example
 * const reports = await runProject(ctx, { pipelines: ["orders"] });
 */
export async function runProject(ctx: ProjectContext, options: ProjectRunOptions = {}): Promise<RunReport[]> {
  const { pipelines } = ctx.project.config;
  const requested =
    options.pipelines && options.pipelines.length > 0 ? [...options.pipelines] : Object.keys(pipelines);
  assertKnownPipelines(pipelines, requested);
  const names = options.downstream
    ? withDownstream(pipelines, requested)
    : topologicalOrder(pipelines, requested);
  const files = options.files?.map((f) => toLandingPath(ctx, f));
  const selected = files
    ? names.filter((name) => {
        const source = pipelines[name]!.source;
        return isFileSource(source) && files.some((f) => picomatch(source.path.replace(/^\.?\//, ""))(f));
      })
    : names.filter((name) => isRunnable(pipelines[name]!.source));
  if (files && selected.length === 0) {
    throw new SluiceError("USAGE", `--file ${files.join(", ")}: matches no pipeline's source.path`);
  }
  const warehouse = options.warehouse ?? (await ctx.openWarehouse());
  const reports: RunReport[] = [];
  const failed = new Set<string>();
  try {
    for (const name of selected) {
      const pipeline = pipelines[name]!;
      const brokenUpstream = pipeline.depends_on.find((u) => failed.has(u));
      let report: RunReport;
      if (brokenUpstream) {
        report = reportWithoutRun(name, "skipped", `not run: upstream pipeline ${brokenUpstream} failed`);
        failed.add(name);
      } else {
        report = await runWithRetries(ctx, warehouse, name, pipeline, {
          files,
          force: options.force ?? false,
          onProgress: options.onProgress,
          worker: options.worker,
        });
        if (report.status === "failed") failed.add(name);
      }
      reports.push(report);
      options.onReport?.(report);
    }
  } finally {
    if (!options.warehouse) await warehouse.close();
  }
  return reports;
}

/** `--file` accepts a path relative to the current folder, an absolute path, or a landing-relative one. */
function toLandingPath(ctx: ProjectContext, file: string): string {
  const landingRoot = ctx.landing.localPath("");
  const asLocal = resolve(file);
  if (landingRoot && existsSync(asLocal) && (asLocal + sep).startsWith(landingRoot + sep)) {
    return relative(landingRoot, asLocal).split(sep).join("/");
  }
  return file.replace(/^\.?\//, "");
}

/** Sources `sluice run` processes: files, SQL and warehouse tables (streams have their own worker). */
function isRunnable(source: SourceConfig): boolean {
  return !("stream" in source);
}

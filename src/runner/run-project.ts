import { existsSync } from "node:fs";
import { relative, resolve, sep } from "node:path";
import picomatch from "picomatch";
import { isFileSource } from "../config/schema.js";
import { asSluiceError, SluiceError } from "../errors.js";
import type { ProjectContext } from "./project-context.js";
import { type RunProgress, runFilePipeline } from "./run-pipeline.js";
import type { RunReport } from "./run-report.js";

/** Options of `sluice run`. */
export interface ProjectRunOptions {
  readonly pipelines?: readonly string[];
  readonly files?: readonly string[];
  readonly force?: boolean;
  readonly onProgress?: (progress: RunProgress) => void;
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
  const names =
    options.pipelines && options.pipelines.length > 0 ? [...options.pipelines] : Object.keys(pipelines);
  for (const name of names) {
    if (!pipelines[name]) {
      throw new SluiceError(
        "PIPELINE_UNKNOWN",
        `unknown pipeline ${name} (defined: ${Object.keys(pipelines).join(", ")})`,
      );
    }
  }
  const files = options.files?.map((f) => toLandingPath(ctx, f));
  const selected = files
    ? names.filter((name) => {
        const source = pipelines[name]!.source;
        return isFileSource(source) && files.some((f) => picomatch(source.path.replace(/^\.?\//, ""))(f));
      })
    : names.filter((name) => isFileSource(pipelines[name]!.source));
  if (files && selected.length === 0) {
    throw new SluiceError("USAGE", `--file ${files.join(", ")}: matches no pipeline's source.path`);
  }
  const warehouse = await ctx.openWarehouse();
  const reports: RunReport[] = [];
  try {
    for (const name of selected) {
      try {
        reports.push(
          await runFilePipeline(ctx, warehouse, name, pipelines[name]!, {
            files,
            force: options.force ?? false,
            onProgress: options.onProgress,
          }),
        );
      } catch (error) {
        const report = (error as { report?: RunReport }).report;
        if (!report) throw error;
        report.error = asSluiceError(error).message;
        reports.push(report);
      }
    }
  } finally {
    await warehouse.close();
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

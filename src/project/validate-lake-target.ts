import type { PipelineConfig } from "../config/schema.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Config checks of a pipeline's lake target that need no data: the table is one folder name, modes the
 * format supports, merge keys, duplicate partition columns. Partition columns that are neither declared nor derived may still come
 * from the file (inferred columns), so they are checked when a run publishes. Pure.
 *
 * @example
 * lakeTargetProblems(pipeline, "pipelines.orders"); // [] when fine
 */
export function lakeTargetProblems(pipeline: PipelineConfig, at: string): ConfigProblem[] {
  const lake = pipeline.target.lake;
  if (!lake) return [];
  const problems: ConfigProblem[] = [];
  const path = `${at}.target.lake`;
  const tableProblem = lakeTableNameProblem(lake.table);
  if (tableProblem) problems.push({ path: `${path}.table`, message: tableProblem });
  const mode = lake.mode ?? inheritedMode(pipeline.target.mode);
  if (lake.format === "parquet" && mode !== "append" && mode !== "overwrite") {
    problems.push({
      path: lake.mode ? `${path}.mode` : `${at}.target.mode`,
      message: `a parquet lake table supports append or overwrite, not ${mode}${lake.mode ? "" : ` (from target.mode ${pipeline.target.mode})`}; use format: delta or set lake.mode`,
    });
  }
  const keys = lake.keys ?? pipeline.target.keys ?? [];
  if (mode === "merge" && keys.length === 0) {
    problems.push({ path: `${path}.keys`, message: "lake mode merge needs keys (lake.keys or target.keys)" });
  }
  const seen = new Set<string>();
  for (const column of lake.partition_by) {
    if (seen.has(column))
      problems.push({ path: `${path}.partition_by`, message: `${column} is listed twice` });
    seen.add(column);
    if (pipeline.columns[column]?.mask === "drop") {
      problems.push({ path: `${path}.partition_by`, message: `${column} is dropped by its mask` });
    }
  }
  return problems;
}

function inheritedMode(mode: PipelineConfig["target"]["mode"]): string {
  return mode === "replace"
    ? "overwrite"
    : mode === "delete_insert"
      ? "replace_partitions"
      : mode === "merge"
        ? "merge"
        : "append";
}

/** A lake table is one folder directly under the lake root: no path separators, not `.`/`..`, not hidden. */
function lakeTableNameProblem(table: string): string | undefined {
  if (/[/\\]/.test(table) || table === "." || table === "..") {
    return `"${table}" is not a folder name: a lake table is one folder directly under the lake root (no / or \\, not . or ..)`;
  }
  if (table.startsWith(".")) {
    return `"${table}" starts with a dot: such folders are hidden and the lake keeps its own work in .sluice-tmp`;
  }
  return undefined;
}

/**
 * Pipelines that write the same lake table must agree on its format: a folder holding both a Delta log
 * and Parquet manifests is read as Delta, and the Parquet pipeline's rows are not seen. Pure.
 *
 * @example
 * lakeFormatProblems(config.pipelines); // [] when every table has one format
 */
export function lakeFormatProblems(pipelines: Readonly<Record<string, PipelineConfig>>): ConfigProblem[] {
  const first = new Map<string, { pipeline: string; format: string }>();
  const problems: ConfigProblem[] = [];
  for (const [name, pipeline] of Object.entries(pipelines)) {
    const lake = pipeline.target.lake;
    if (!lake) continue;
    const seen = first.get(lake.table);
    if (!seen) first.set(lake.table, { pipeline: name, format: lake.format });
    else if (seen.format !== lake.format) {
      problems.push({
        path: `pipelines.${name}.target.lake.format`,
        message: `lake table ${lake.table} is ${lake.format} here but ${seen.format} in pipeline ${seen.pipeline}; pipelines writing one lake table must use one format`,
      });
    }
  }
  return problems;
}

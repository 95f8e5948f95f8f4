import type { PipelineConfig } from "../config/schema.js";
import { cronProblem } from "../plan/schedule-plan.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * A pipeline's problems that need no SQL: settings that only make sense together (a hash mask and its
 * salt, a late-data window and its cursor and mode, a mode and its keys or partitions), and its schedule.
 * `loads` false skips what only a load needs (the salt). Paths start at `at`. Pure but for the environment.
 *
 * @example
 * pipelineRuleProblems(config.pipelines.orders, "pipelines.orders", true)
 */
export function pipelineRuleProblems(pipeline: PipelineConfig, at: string, loads: boolean): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (
    loads &&
    Object.values(pipeline.columns).some((c) => c.mask === "hash") &&
    !process.env.SLUICE_MASK_SALT
  ) {
    problems.push({
      path: `${at}.columns`,
      message: "mask: hash needs a salt: set the SLUICE_MASK_SALT environment variable",
    });
  }
  if (pipeline.late_data_window && !pipeline.incremental) {
    problems.push({ path: `${at}.late_data_window`, message: "needs incremental: { cursor: <column> }" });
  }
  if (pipeline.late_data_window && !["merge", "delete_insert"].includes(pipeline.target.mode)) {
    problems.push({
      path: `${at}.late_data_window`,
      message: "re-processed partitions must replace their rows: use target.mode merge or delete_insert",
    });
  }
  if (pipeline.schedule !== undefined) {
    const problem = cronProblem(pipeline.schedule, pipeline.timezone);
    if (problem) problems.push({ path: `${at}.schedule`, message: problem });
  }
  const mode = pipeline.target.mode;
  if (["merge", "scd2", "cdc"].includes(mode) && !(pipeline.target.keys && pipeline.target.keys.length > 0)) {
    problems.push({ path: `${at}.target.keys`, message: `mode ${mode} needs keys` });
  }
  if (
    mode === "delete_insert" &&
    !(pipeline.target.partition_by && pipeline.target.partition_by.length > 0)
  ) {
    problems.push({
      path: `${at}.target.partition_by`,
      message: "mode delete_insert needs partition_by",
    });
  }
  return problems;
}

import type { ProjectConfig } from "../config/schema.js";
import { formatFromName } from "../plan/landing-paths.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Config checks of `nested:` that need no data: `flatten` and `tables` read JSON, JSON-lines and Avro
 * files, database sources' JSON columns and stream messages;
 * `tables` writes child tables beside a warehouse table under append, replace, merge or
 * delete_insert. Pure.
 *
 * @example
 * nestedProblems(config); // [] when fine
 */
export function nestedProblems(config: ProjectConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, pipeline] of Object.entries(config.pipelines)) {
    const nested = pipeline.nested;
    if (!nested || nested.mode === "json") continue;
    const at = `pipelines.${name}.nested.mode`;
    const source = pipeline.source;
    const format = "path" in source ? (source.format ?? formatFromName(source.path)) : undefined;
    const readsJson =
      "database" in source ||
      "stream" in source ||
      format === "json" ||
      format === "jsonl" ||
      format === "avro";
    if (!readsJson) {
      problems.push({
        path: at,
        message: `${nested.mode} reads JSON, JSON-lines and Avro files, database sources' JSON columns and stream messages; ${"path" in source ? "this source reads another format" : "a warehouse source ({ sql } or { table }) keeps its JSON values as JSON columns"}`,
      });
      continue;
    }
    if (nested.mode !== "tables") continue;
    const { target } = pipeline;
    if (!target.table) {
      problems.push({
        path: at,
        message: "tables writes child tables beside a warehouse table: set target.table",
      });
    }
    if (target.lake) {
      problems.push({
        path: at,
        message:
          "tables writes child tables to the warehouse only; a lake target is not supported with it (use flatten, or a second pipeline for the lake)",
      });
    }
    if (target.mode === "scd2" || target.mode === "cdc") {
      problems.push({
        path: at,
        message: `tables supports target modes append, replace, merge and delete_insert, not ${target.mode}`,
      });
    }
  }
  return problems;
}

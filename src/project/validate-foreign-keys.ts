import type { ProjectConfig } from "../config/schema.js";
import type { ConfigProblem } from "./config-problem.js";

/** Columns of a warehouse table, or undefined when it does not exist. */
export type ColumnsOf = (table: string) => Promise<readonly string[] | undefined>;

/**
 * Problems with the tables `foreign_key` checks reference: a table must exist in the warehouse or be a
 * pipeline's target table (created by its first run); a column must be one of an existing table's. Run
 * time would otherwise fail every file with a catalog error.
 *
 * @example
 * await foreignKeyProblems(config, (t) => warehouse.columnsOf(t)); // [] when every reference resolves
 */
export async function foreignKeyProblems(
  config: ProjectConfig,
  columnsOf: ColumnsOf,
): Promise<ConfigProblem[]> {
  const targets = new Set(
    Object.values(config.pipelines).flatMap((p) => (p.target.table ? [p.target.table.toLowerCase()] : [])),
  );
  const problems: ConfigProblem[] = [];
  for (const [name, pipeline] of Object.entries(config.pipelines)) {
    for (const [i, check] of pipeline.checks.entries()) {
      if (check.rule !== "foreign_key") continue;
      const { table, column } = check.references;
      const at = `pipelines.${name}.checks[${i}].references`;
      const columns = await columnsOf(table);
      if (columns === undefined) {
        if (targets.has(table.toLowerCase())) continue;
        problems.push({
          path: `${at}.table`,
          message: `table ${table} does not exist in the warehouse and no pipeline loads it`,
        });
      } else if (!columns.some((c) => c.toLowerCase() === column.toLowerCase())) {
        problems.push({
          path: `${at}.column`,
          message: `${table} has no column ${column} (columns: ${columns.slice(0, 20).join(", ")})`,
        });
      }
    }
  }
  return problems;
}

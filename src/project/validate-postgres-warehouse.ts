import type { ProjectConfig } from "../config/schema.js";
import { postgresDialect } from "../plan/postgres-dialect.js";
import {
  exceedsPostgresIdentifierLimit,
  postgresIdentifierLimit,
} from "../plan/postgres-identifier-limit.js";
import { postgresUrlProblem } from "../warehouse/postgres-url.js";
import { splitTableName } from "../warehouse/split-table-name.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Config checks of a PostgreSQL warehouse that need no connection: the URL can be meant as written (a
 * port that is a number, IPv6 in brackets, known options with valid values; the message never holds the
 * password), and every warehouse target's schema and table name fit PostgreSQL's 63-byte identifiers (the server would silently truncate a longer one, and
 * two pipelines whose tables differ only after the limit would write into one table). No problems for a
 * DuckDB warehouse. Pure.
 *
 * @example
 * postgresWarehouseProblems(config); // [] when fine
 */
export function postgresWarehouseProblems(config: ProjectConfig): ConfigProblem[] {
  if (!/^postgres(ql)?:\/\//i.test(config.warehouse)) return [];
  const problems: ConfigProblem[] = [];
  const urlProblem = postgresUrlProblem(config.warehouse);
  if (urlProblem) problems.push({ path: "warehouse", message: urlProblem });
  for (const [name, pipeline] of Object.entries(config.pipelines)) {
    const table = pipeline.target.table;
    if (table === undefined) continue;
    const parts = splitTableName(table, postgresDialect);
    const long = [parts.schema, parts.name].find(exceedsPostgresIdentifierLimit);
    if (long === undefined) continue;
    problems.push({
      path: `pipelines.${name}.target.table`,
      message: `${JSON.stringify(long)} is ${Buffer.byteLength(long, "utf8")} bytes long; PostgreSQL names hold at most ${postgresIdentifierLimit} bytes (a longer one is cut short, so two tables could become one): choose a shorter name`,
    });
  }
  return problems;
}

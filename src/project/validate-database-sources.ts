import type { ProjectConfig } from "../config/schema.js";
import { sourceQueryBody } from "../plan/sql-tokens.js";
import { parseMysqlUrl } from "../sources/mysql-url.js";
import { postgresUrlProblem } from "../warehouse/postgres-url.js";
import type { ConfigProblem } from "./config-problem.js";

/**
 * Config checks of database sources that need no connection: the URL can be meant as written (the
 * message never holds the password) and a `query` is one statement. Pure.
 *
 * @example
 * databaseSourceProblems(config); // [] when fine
 */
export function databaseSourceProblems(config: ProjectConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, pipeline] of Object.entries(config.pipelines)) {
    const source = pipeline.source;
    if (!("database" in source)) continue;
    const at = `pipelines.${name}.source`;
    const url = source.database;
    const urlProblem = /^postgres(ql)?:\/\//i.test(url)
      ? postgresUrlProblem(url)
      : problemOf(parseMysqlUrl(url));
    if (urlProblem) problems.push({ path: `${at}.database`, message: urlProblem });
    if (source.parallel && !/^postgres(ql)?:\/\//i.test(url)) {
      problems.push({
        path: `${at}.parallel`,
        message:
          "parallel key ranges are read from PostgreSQL only (one exported snapshot shared by the connections); a MySQL/MariaDB extract is one stream",
      });
    }
    if (source.query !== undefined) {
      const read = sourceQueryBody(source.query);
      if ("problem" in read) problems.push({ path: `${at}.query`, message: read.problem });
    }
  }
  return problems;
}

function problemOf(parsed: ReturnType<typeof parseMysqlUrl>): string | undefined {
  return "problem" in parsed ? parsed.problem : undefined;
}

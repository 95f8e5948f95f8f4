import { DuckDBInstance } from "@duckdb/node-api";
import { queryRows } from "../engine/duckdb-query.js";
import { graphProblems } from "../plan/pipeline-graph.js";
import { cronProblem } from "../plan/schedule-plan.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { ConfigProblem } from "./load-config.js";
import type { ProjectConfig } from "./schema.js";
import { unsupportedFeatures } from "./unsupported-features.js";

const writeKeywords =
  /\b(INSERT|UPDATE|DELETE|DROP|CREATE|ALTER|ATTACH|DETACH|COPY|INSTALL|LOAD|PRAGMA|SET|CALL|EXPORT|IMPORT|TRUNCATE|VACUUM|CHECKPOINT)\b/i;

/**
 * Checks an SQL expression for what must never run inside Sluice's SQL: a statement separator or a
 * write statement (outside string literals and quoted identifiers). Pure; returns a message or null.
 *
 * @example
 * unsafeSqlReason("amount * 1.08") // null
 * unsafeSqlReason("1; DROP TABLE x") // "must be a single expression (found `;`)"
 */
export function unsafeSqlReason(sql: string): string | null {
  const bare = sql.replace(/'(?:[^']|'')*'/g, "''").replace(/"(?:[^"]|"")*"/g, '""');
  if (bare.includes(";")) return "must be a single expression (found `;`)";
  const keyword = writeKeywords.exec(bare);
  if (keyword) return `must be a read-only expression (found ${keyword[1]!.toUpperCase()})`;
  return null;
}

/**
 * Checks what the schema alone cannot: SQL expressions parse, declared types exist, pipeline references
 * resolve. Uses an in-memory DuckDB to parse; touches no data.
 *
 * @example
 * const problems = await validateProject(config); // [] when valid
 */
export async function validateProject(config: ProjectConfig): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [...unsupportedFeatures(config)];
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  const parses = async (sql: string): Promise<string | null> => {
    const rows = await queryRows(con, `SELECT json_serialize_sql(${quoteLiteral(sql)}) AS j`);
    const parsed = JSON.parse(String(rows[0]?.j ?? "{}")) as { error?: boolean; error_message?: string };
    return parsed.error ? (parsed.error_message ?? "does not parse") : null;
  };
  const typeExists = async (type: string): Promise<string | null> => {
    try {
      await con.run(`SELECT NULL::${type}`);
      return null;
    } catch (error) {
      return (error as Error).message.split("\n")[0] ?? "unknown type";
    }
  };
  try {
    for (const [name, pipeline] of Object.entries(config.pipelines)) {
      const at = `pipelines.${name}`;
      for (const [column, spec] of Object.entries(pipeline.columns)) {
        if (spec.type) {
          const problem = await typeExists(spec.type);
          if (problem)
            problems.push({ path: `${at}.columns.${column}.type`, message: `unknown type ${spec.type}` });
        }
        if (spec.format && spec.type && !/^(date|timestamp)/i.test(spec.type)) {
          problems.push({
            path: `${at}.columns.${column}.format`,
            message: `format applies to date and timestamp columns, not ${spec.type}`,
          });
        }
      }
      for (const [column, expression] of Object.entries(pipeline.derive)) {
        const unsafe = unsafeSqlReason(expression);
        const problem = unsafe ?? (await parses(`SELECT ${expression}`));
        if (problem) problems.push({ path: `${at}.derive.${column}`, message: problem });
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
      if (pipeline.target.mode === "merge" && !(pipeline.target.keys && pipeline.target.keys.length > 0)) {
        problems.push({ path: `${at}.target.keys`, message: "mode merge needs keys" });
      }
    }
    problems.push(...graphProblems(config.pipelines));
  } finally {
    con.closeSync();
    instance.closeSync();
  }
  return problems;
}

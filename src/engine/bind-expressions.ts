import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { validateChecks } from "../plan/check-validation.js";
import { shapeSql } from "../plan/shape-sql.js";
import { expressionProbeSql } from "../plan/sql-expression.js";
import { outsideProject } from "./outside-project.js";
import type { StagedFile } from "./stage-file.js";

/**
 * Binds the pipeline's SQL expressions — `derive:` columns, `expression` rules, `where:` scopes and
 * `dedupe.order_by` — against a staged file's columns and types, without reading a row (`DESCRIBE`).
 * `sluice validate` checks their syntax; only the data tells their types, so an expression that does
 * not fit them (`amount > 50` on a column read as text) fails the file here with a sentence naming the
 * expression, the database's complaint and the types of the columns it uses — not an internal error
 * halfway through the publish.
 *
 * @example
 * await bindExpressions(con, staged, pipeline, "in/a.csv"); // throws SluiceError EXPRESSION_INVALID
 */
export async function bindExpressions(
  con: DuckDBConnection,
  staged: StagedFile,
  pipeline: PipelineConfig,
  file: string,
): Promise<void> {
  // Rules and dedupe keys name columns this file may not have (another header, a blank first line).
  const known = [...staged.columns.map((c) => c.name), ...Object.keys(pipeline.derive)];
  const missing = validateChecks(pipeline, known)[0];
  if (missing) {
    throw new SluiceError(
      "EXPRESSION_INVALID",
      `${file}: ${missing.path}: ${missing.message}; the file stays in the landing zone`,
    );
  }
  // Checks, scopes and dedupe order see the staged row (plus its position).
  const rowColumns = [...staged.columns, { name: "_sluice_row", type: "BIGINT" }];
  const expressions: { key: string; sql: string }[] = [];
  pipeline.checks.forEach((check, index) => {
    if (check.rule === "expression") expressions.push({ key: `checks[${index}].sql`, sql: check.sql });
    if (check.where) expressions.push({ key: `checks[${index}].where`, sql: check.where });
  });
  if (pipeline.dedupe?.order_by) expressions.push({ key: "dedupe.order_by", sql: pipeline.dedupe.order_by });
  for (const { key, sql } of expressions) {
    const problem = await bindError(con, expressionProbeSql(sql, rowColumns));
    if (problem) throw invalid(file, key, sql, problem, staged);
  }
  // Each derived column sees the shaped row (masks applied) and the derived columns before it.
  const derived = Object.entries(pipeline.derive);
  if (derived.length === 0) return;
  const meta = { runId: "", sourceFile: "", loadedAt: new Date(0) };
  if (!(await bindError(con, shapeSql(staged.table, staged.columns, pipeline, meta)))) return;
  for (let n = 1; n <= derived.length; n++) {
    const prefix = { ...pipeline, derive: Object.fromEntries(derived.slice(0, n)) };
    const problem = await bindError(con, shapeSql(staged.table, staged.columns, prefix, meta));
    if (problem) {
      const [name, sql] = derived[n - 1]!;
      throw invalid(file, `derive.${name}`, sql, problem, staged);
    }
  }
}

/** The first line of DuckDB's complaint when `sql` does not bind, or undefined. */
async function bindError(con: DuckDBConnection, sql: string): Promise<string | undefined> {
  try {
    await con.run(`DESCRIBE ${sql}`);
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).split("\n")[0];
  }
}

function invalid(file: string, key: string, sql: string, problem: string, staged: StagedFile): SluiceError {
  const outside = outsideProject(problem);
  if (outside) {
    return new SluiceError(
      "EXPRESSION_INVALID",
      `${file}: ${key}: ${outside}; the file stays in the landing zone`,
    );
  }
  const used = staged.columns.filter((c) =>
    new RegExp(`(^|[^A-Za-z0-9_])${escapeRegExp(c.name)}($|[^A-Za-z0-9_])`).test(sql),
  );
  const types =
    used.length > 0 ? ` (in this file: ${used.map((c) => `${c.name} ${c.type}`).join(", ")})` : "";
  return new SluiceError(
    "EXPRESSION_INVALID",
    `${file}: ${key}: ${sql} does not fit the data: ${problem}${types}; declare the column types under columns: or change the expression (the file stays in the landing zone)`,
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

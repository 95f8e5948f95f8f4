import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { parseProblem, queryRows } from "../engine/duckdb-query.js";
import { confineEngine, ENGINE_OPEN_SETTINGS } from "../engine/engine-boundary.js";
import { outsideProjectProblem } from "../engine/outside-project.js";
import { expressionProbeSql, probeTypeProblem, validateSqlExpression } from "../plan/sql-expression.js";
import type { ColumnInfo } from "../plan/sql-text.js";

/** The in-memory DuckDB that validation parses and binds SQL with; opened on first use. */
export interface ValidationEngine {
  connection(): Promise<DuckDBConnection>;
  /** Why `sql` does not parse, or null. */
  parses(sql: string): Promise<string | null>;
  /** Parses and binds a condition against the columns; unknown columns are left to run time unless `allKnown`. */
  probeBoolean(sql: string, columns: readonly ColumnInfo[], allKnown?: boolean): Promise<string | null>;
  /** Why `type` is not a type DuckDB knows, or null. */
  typeExists(type: string): Promise<string | null>;
  close(): void;
}

/**
 * An engine confined like a run's (only `directories` readable) that touches no data: it parses
 * expressions and reads sample headers, and is opened only when one is needed.
 *
 * @example
 * const engine = validationEngine([landing]);
 * try { await engine.parses("SELECT 1 +") } finally { engine.close() }
 */
export function validationEngine(directories: readonly string[]): ValidationEngine {
  let engine: { instance: DuckDBInstance; con: DuckDBConnection } | undefined;
  const connection = async (): Promise<DuckDBConnection> => {
    if (!engine) {
      const instance = await DuckDBInstance.create(":memory:", ENGINE_OPEN_SETTINGS);
      const con = await instance.connect();
      engine = { instance, con };
      await confineEngine(con, { directories, lockConfiguration: true });
    }
    return engine.con;
  };
  const parses = async (sql: string): Promise<string | null> => parseProblem(await connection(), sql);
  return {
    connection,
    parses,
    async probeBoolean(sql, columns, allKnown = false) {
      const unsafe = validateSqlExpression(sql);
      if (unsafe) return unsafe;
      const parse = await parses(`SELECT ${sql}`);
      if (parse) return parse;
      const outside = await outsideProjectProblem(await connection(), sql, columns);
      if (outside) return outside;
      if (columns.length === 0) return null;
      try {
        const rows = await queryRows(await connection(), expressionProbeSql(sql, columns));
        return probeTypeProblem(String(rows[0]?.type ?? ""), { boolean: true });
      } catch (error) {
        const message = (error as Error).message.split("\n")[0] ?? "";
        // A column the declared list does not know may still come from the file: checked at run time.
        if (!allKnown && /Referenced column .* not found/.test(message)) return null;
        return message;
      }
    },
    async typeExists(type) {
      if (!spliceableType(type)) return "not a type name";
      try {
        await (await connection()).run(`SELECT NULL::${type}`);
        return null;
      } catch (error) {
        return (error as Error).message.split("\n")[0] ?? "unknown type";
      }
    },
    close() {
      engine?.con.closeSync();
      engine?.instance.closeSync();
    },
  };
}

/** A declared type is spliced into SQL as text: it must be one type, never a statement or a subquery. */
export function spliceableType(type: string): boolean {
  return validateSqlExpression(type) === null && !/\bselect\b/i.test(type);
}

import type { DuckDBConnection } from "@duckdb/node-api";
import { wrapExpression } from "../plan/sql-expression.js";
import { type ColumnInfo, quoteIdent } from "../plan/sql-text.js";

const REFUSED = /Permission Error: Cannot access (?:file|directory) "([^"]*)"/;

/**
 * When DuckDB refused a path because the engine is confined to the project, the sentence that says so
 * (naming the path and what SQL may reach); otherwise undefined.
 *
 * @example
 * outsideProject('Permission Error: Cannot access file "/etc/passwd" - file system operations are disabled by configuration')
 * // "reads /etc/passwd, outside the project: SQL from sluice.yaml or sluice query reaches only ..."
 */
export function outsideProject(message: string): string | undefined {
  const path = REFUSED.exec(message)?.[1];
  if (path === undefined) return undefined;
  return `reads ${path}, outside the project: SQL from sluice.yaml or sluice query reaches only the landing zone, the lake and Sluice's scratch folder (see docs/security.md)`;
}

/** DuckDB's message, with a refused path explained (see {@link outsideProject}). */
export function explainRefusal(message: string): string {
  return outsideProject(message) ?? message;
}

/**
 * Binds (never runs) the expression `sql` in a confined engine and returns {@link outsideProject}'s
 * sentence when it names a file or URL outside the project, else null. Columns it names that are not in
 * `columns` are bound as untyped NULLs, so the check does not depend on knowing the data's columns.
 *
 * @example
 * await outsideProjectProblem(con, "(select content from read_text('/etc/passwd'))", []) // "reads /etc/passwd, ..."
 */
export async function outsideProjectProblem(
  con: DuckDBConnection,
  sql: string,
  columns: readonly ColumnInfo[],
): Promise<string | null> {
  const guessed = new Set<string>();
  for (let attempt = 0; attempt < 50; attempt++) {
    const list = [
      ...columns.map((c) => `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`),
      ...[...guessed].map((name) => `NULL AS ${quoteIdent(name)}`),
      "NULL AS _sluice_no_column",
    ];
    try {
      await con.run(`DESCRIBE SELECT ${wrapExpression(sql)} FROM (SELECT ${list.join(", ")}) AS "row"`);
      return null;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const refused = outsideProject(message);
      if (refused) return refused;
      const column = /Referenced column "?([^"\s]+)"? not found/.exec(message)?.[1];
      if (column === undefined || guessed.has(column)) return null;
      guessed.add(column);
    }
  }
  return null;
}

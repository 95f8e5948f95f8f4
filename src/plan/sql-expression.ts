/**
 * Pure pre-checks for user SQL expressions (`checks[].sql`, `checks[].where`,
 * `derive:`). They are spliced into generated statements, so they must be one
 * read-only expression: no statement separator, no write/admin statement
 * keywords, balanced parentheses, terminated literals and comments. This is a
 * cheap first line of defence that gives users a clear message; the binder probe
 * ({@link expressionProbeSql}) run on DuckDB is the authority on whether the
 * expression parses and binds.
 */

import { type ColumnInfo, quoteIdent } from "./sql-text.js";

const FORBIDDEN = new Set([
  "INSERT",
  "UPDATE",
  "DELETE",
  "DROP",
  "CREATE",
  "ALTER",
  "ATTACH",
  "DETACH",
  "COPY",
  "INSTALL",
  "LOAD",
  "PRAGMA",
  "SET",
  "RESET",
  "CALL",
  "EXPORT",
  "IMPORT",
  "TRUNCATE",
  "VACUUM",
  "CHECKPOINT",
  "USE",
  "GRANT",
  "REVOKE",
  "MERGE",
]);

/** One scanned piece of an expression outside literals/comments: bare words and single characters. */
interface ScanResult {
  readonly words: readonly string[];
  readonly error: string | null;
  readonly hasLineComment: boolean;
}

/**
 * The index just past the quoted text opening at `start` (a doubled quote is part of it; with
 * `backslashEscapes`, so is any character after a backslash), or -1 when it is never closed.
 */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === "\\") {
      i += 2;
    } else if (sql[i] !== quote) {
      i++;
    } else if (sql[i + 1] === quote) {
      i += 2;
    } else {
      return i + 1;
    }
  }
  return -1;
}

function scan(sql: string): ScanResult {
  const words: string[] = [];
  let depth = 0;
  let hasLineComment = false;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'") {
      // standard string literal, '' escapes a quote (and a backslash, in an E'...' literal)
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]!) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? "");
      i = skipQuoted(sql, i, "'", escapes);
      if (i < 0) return { words, error: "has an unterminated string literal (')", hasLineComment };
      continue;
    }
    if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
      if (i < 0) return { words, error: 'has an unterminated quoted identifier (")', hasLineComment };
      continue;
    }
    if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        if (end < 0) return { words, error: `has an unterminated ${tag[0]} string`, hasLineComment };
        i = end + tag[0].length;
        continue;
      }
    }
    if (c === "-" && next === "-") {
      hasLineComment = true;
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === "/" && next === "*") {
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) return { words, error: "has an unterminated /* comment", hasLineComment };
      i = end + 2;
      continue;
    }
    if (c === ";") return { words, error: "must be a single expression: remove the ';'", hasLineComment };
    if (c === "(") depth++;
    if (c === ")") {
      depth--;
      if (depth < 0) return { words, error: "has a ')' without a matching '('", hasLineComment };
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      words.push(sql.slice(i, j));
      i = j;
      continue;
    }
    i++;
  }
  if (depth > 0) return { words, error: "has a '(' without a matching ')'", hasLineComment };
  return { words, error: null, hasLineComment };
}

/**
 * Checks that `sql` is one read-only SQL expression. Returns null when it is
 * acceptable, else a message (to be prefixed with the config path).
 * Keywords inside string literals and quoted identifiers are fine, so a column
 * literally named `update` must be written `"update"`.
 *
 * @example
 * validateSqlExpression("order_date <= current_date") // => null
 * validateSqlExpression("1; DROP TABLE orders") // => "must be a single expression: remove the ';'"
 */
export function validateSqlExpression(sql: string): string | null {
  if (sql.trim() === "") return "must not be empty";
  if (sql.includes("\u0000")) return "contains a NUL character";
  const result = scan(sql);
  if (result.error) return result.error;
  for (const word of result.words) {
    if (FORBIDDEN.has(word.toUpperCase())) {
      return `must be a read-only expression: ${word.toUpperCase()} is not allowed (quote a column named ${word} as "${word}")`;
    }
  }
  return null;
}

/**
 * Wraps a validated user expression in parentheses for splicing into generated SQL.
 * A trailing `--` comment is closed by a newline so it cannot swallow generated text.
 *
 * @example
 * wrapExpression("a > 0") // => "(a > 0)"
 */
export function wrapExpression(sql: string): string {
  const trimmed = sql.trim();
  return scan(trimmed).hasLineComment ? `(${trimmed}\n)` : `(${trimmed})`;
}

/**
 * A query the integrator runs on DuckDB to make sure a user expression parses and binds against
 * the given columns. It returns one row `{ type }`: the DuckDB type name of the expression's
 * result (evaluated over one all-NULL row; no table data is read unless the expression itself
 * has a subquery). DuckDB throws its binder message when the expression is invalid; pass the
 * returned type to {@link probeTypeProblem} to require a BOOLEAN (checks, where). Column types
 * are spliced as given, so they must come from DuckDB (`DESCRIBE`), not from user text.
 *
 * @example
 * expressionProbeSql("amount > 0", [{ name: "amount", type: "DOUBLE" }])
 * // => SELECT typeof((amount > 0)) AS "type" FROM (SELECT CAST(NULL AS DOUBLE) AS "amount") AS "row"
 */
export function expressionProbeSql(sql: string, columns: readonly ColumnInfo[]): string {
  const list =
    columns.length === 0
      ? "NULL AS _sluice_no_columns"
      : columns.map((c) => `CAST(NULL AS ${c.type}) AS ${quoteIdent(c.name)}`).join(", ");
  return `SELECT typeof(${wrapExpression(sql)}) AS "type" FROM (SELECT ${list}) AS "row"`;
}

/**
 * Problem with the result type reported by {@link expressionProbeSql}, or null.
 *
 * @example
 * probeTypeProblem("DATE", { boolean: true }) // => "must be a true/false condition, but it gives DATE"
 */
export function probeTypeProblem(type: string, options: { readonly boolean?: boolean } = {}): string | null {
  if (options.boolean && type.toUpperCase() !== "BOOLEAN") {
    return `must be a true/false condition, but it gives ${type.toUpperCase()}`;
  }
  return null;
}

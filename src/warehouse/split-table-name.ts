import { quoteQualified } from "../plan/sql-text.js";
import type { Dialect } from "../plan/type-evolution.js";

/**
 * A table name split into schema and name, with the dialect's default schema (`public` on PostgreSQL,
 * `main` on DuckDB).
 *
 * @example
 * splitTableName("sales.orders", "postgres") // { schema: "sales", name: "orders" }
 */
export function splitTableName(table: string, dialect: Dialect): { schema: string; name: string } {
  const parts = table.split(".");
  return parts.length > 1
    ? { schema: parts[0]!, name: parts.slice(1).join(".") }
    : { schema: defaultSchema(dialect), name: table };
}

/** The schema an unqualified table name lives in: `public` on PostgreSQL, `main` on DuckDB. */
export function defaultSchema(dialect: Dialect): string {
  return dialect === "postgres" ? "public" : "main";
}

/**
 * A target table's quoted, schema-qualified name (PostgreSQL: `public` unless it names a schema).
 *
 * @example
 * quotedTableName("orders", "postgres") // "public"."orders"
 */
export function quotedTableName(table: string, dialect: Dialect): string {
  return quoteQualified(dialect === "postgres" && !table.includes(".") ? `public.${table}` : table);
}

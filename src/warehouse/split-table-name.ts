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
    : { schema: dialect === "postgres" ? "public" : "main", name: table };
}

import type { SqlDialect } from "../plan/sql-dialect.js";
import { quoteQualified } from "../plan/sql-text.js";

/**
 * A table name split into schema and name, with the dialect's default schema (`public` on PostgreSQL,
 * `main` on DuckDB).
 *
 * @example
 * splitTableName("sales.orders", postgresDialect) // { schema: "sales", name: "orders" }
 */
export function splitTableName(
  table: string,
  dialect: Pick<SqlDialect, "defaultSchema">,
): { schema: string; name: string } {
  const parts = table.split(".");
  return parts.length > 1
    ? { schema: parts[0]!, name: parts.slice(1).join(".") }
    : { schema: dialect.defaultSchema, name: table };
}

/**
 * A target table's quoted name, schema-qualified where the dialect wants it (PostgreSQL: `public`
 * unless it names a schema).
 *
 * @example
 * quotedTableName("orders", postgresDialect) // "public"."orders"
 */
export function quotedTableName(
  table: string,
  dialect: Pick<SqlDialect, "defaultSchema" | "qualifiesTables">,
): string {
  return quoteQualified(
    dialect.qualifiesTables && !table.includes(".") ? `${dialect.defaultSchema}.${table}` : table,
  );
}

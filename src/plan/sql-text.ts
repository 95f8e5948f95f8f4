/**
 * Quotes an SQL identifier; every identifier Sluice writes into SQL goes through this,
 * so a header like `"; DROP TABLE x; --` is only ever a column name.
 *
 * @example
 * quoteIdent('Order "ID"') // => "\"Order \"\"ID\"\"\""
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal. */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `analytics.orders` → `"analytics"."orders"`; a plain name is quoted as one identifier. */
export function quoteTableName(name: string): string {
  return name
    .split(".")
    .map((part) => quoteIdent(part))
    .join(".");
}

/**
 * SQL text helpers shared by every SQL generator in `src/plan/`. Pure: they
 * only build strings; DuckDB (and PostgreSQL, for identifiers and literals)
 * accept what they produce.
 */

import { SluiceError } from "../errors.js";

/** A column as DuckDB describes it (`DESCRIBE`): name and type name. */
export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
}

/**
 * Quotes an identifier (table, column) with double quotes, doubling embedded quotes.
 *
 * @example
 * quoteIdent('Order "ID"') // => "\"Order \"\"ID\"\"\""
 */
export function quoteIdent(name: string): string {
  if (name.includes("\u0000")) {
    throw new SluiceError("CONFIG_INVALID", `identifier ${JSON.stringify(name)} contains a NUL character`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quotes a possibly schema-qualified table name: `main.orders` becomes `"main"."orders"`.
 * A name without a dot is quoted as one identifier.
 *
 * @example
 * quoteQualified("lake.orders") // => "\"lake\".\"orders\""
 */
export function quoteQualified(name: string): string {
  return name
    .split(".")
    .map((part) => quoteIdent(part))
    .join(".");
}

/**
 * Quotes a string literal with single quotes, doubling embedded quotes (standard SQL:
 * backslashes are not escapes in DuckDB or PostgreSQL with standard_conforming_strings).
 *
 * @example
 * quoteLiteral("O'Brien") // => "'O''Brien'"
 */
export function quoteLiteral(value: string): string {
  if (value.includes("\u0000")) {
    throw new SluiceError("CONFIG_INVALID", `text ${JSON.stringify(value)} contains a NUL character`);
  }
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * A SQL literal for a config value: numbers as numeric literals, booleans as TRUE/FALSE,
 * strings quoted, null as NULL.
 *
 * @example
 * sqlValue(1.5) // => "1.5"
 * sqlValue("NEW") // => "'NEW'"
 */
export function sqlValue(value: string | number | boolean | null): string {
  if (value === null) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new SluiceError("CONFIG_INVALID", `number ${value} cannot be used in SQL`);
    }
    return String(value);
  }
  return quoteLiteral(value);
}

const TYPE_NAME = /^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\d*\])*$/;

/**
 * Whether `type` is a plain DuckDB type name that may be spliced into SQL as is
 * (`BIGINT`, `decimal(12,2)`, `TIMESTAMP WITH TIME ZONE`, `VARCHAR[]`). Nested
 * types (STRUCT, MAP, UNION) and anything else are refused.
 *
 * @example
 * isSafeTypeName("decimal(12,2)") // => true
 * isSafeTypeName("int); DROP TABLE x") // => false
 */
export function isSafeTypeName(type: string): boolean {
  return TYPE_NAME.test(type.trim());
}

/**
 * Returns `type` trimmed, or throws a configuration error naming `where` if it is not a plain type name.
 *
 * @example
 * sqlType("decimal(12,2)", "checks[3].type") // => "decimal(12,2)"
 */
export function sqlType(type: string, where: string): string {
  if (!isSafeTypeName(type)) {
    throw new SluiceError(
      "CONFIG_INVALID",
      `${where}: ${JSON.stringify(type)} is not a type name like BIGINT or DECIMAL(12,2)`,
    );
  }
  return type.trim();
}

const STRING_TYPES = new Set([
  "VARCHAR",
  "TEXT",
  "STRING",
  "CHAR",
  "BPCHAR",
  "NVARCHAR",
  "CHARACTER VARYING",
]);

/**
 * Whether a DuckDB type name is a character string type (`VARCHAR`, `TEXT`, `CHAR(3)`, ...).
 *
 * @example
 * isStringType("varchar(20)") // => true
 * isStringType("BIGINT") // => false
 */
export function isStringType(type: string): boolean {
  const base = type
    .trim()
    .toUpperCase()
    .replace(/\s*\(.*\)$/, "");
  return STRING_TYPES.has(base);
}

const INTEGER_TYPES = new Set([
  "TINYINT",
  "SMALLINT",
  "INTEGER",
  "INT",
  "BIGINT",
  "HUGEINT",
  "UTINYINT",
  "USMALLINT",
  "UINTEGER",
  "UBIGINT",
  "UHUGEINT",
  "INT1",
  "INT2",
  "INT4",
  "INT8",
]);

/**
 * Whether a DuckDB type name is an integer type (`TINYINT` ... `UHUGEINT`).
 *
 * @example
 * isIntegerType("BIGINT") // => true
 * isIntegerType("DOUBLE") // => false
 */
export function isIntegerType(type: string): boolean {
  return INTEGER_TYPES.has(type.trim().toUpperCase());
}

const NUMERIC_TYPES = new Set([
  ...INTEGER_TYPES,
  "FLOAT",
  "REAL",
  "DOUBLE",
  "DECIMAL",
  "NUMERIC",
  "FLOAT4",
  "FLOAT8",
]);

/**
 * Whether a DuckDB type name is numeric (integers, floats, decimals).
 *
 * @example
 * isNumericType("DECIMAL(12,2)") // => true
 */
export function isNumericType(type: string): boolean {
  const base = type
    .trim()
    .toUpperCase()
    .replace(/\s*\(.*\)$/, "");
  return NUMERIC_TYPES.has(base);
}

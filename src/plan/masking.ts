/**
 * PII masks as DuckDB SQL expressions (`mask:` on a column). Pure: no I/O.
 *
 * - `hash`: `sha256(salt || CAST(value AS VARCHAR))`, 64 lowercase hex chars; same input and
 *   salt → same output, so masked keys still join. Any column type; the result is VARCHAR.
 * - `redact`: `'[REDACTED]'`.
 * - `email`: first character of the local part + `***@` + domain (`j***@example.com`);
 *   values that are not a single `local@domain` are redacted (`'[REDACTED]'`).
 * - `last4`: every character except the last four becomes `X`, separators (`-` and
 *   whitespace) are kept (`XXX-XX-1234`); values of four characters or fewer are fully masked
 *   (`XXXX`) because showing them would reveal everything.
 * - `null`: `NULL` of the column's type. `drop`: the column is left out.
 *
 * NULL stays NULL for every mask. `redact`, `email` and `last4` need a string column (a
 * configuration error otherwise); `hash`, `null` and `drop` work on any type.
 */

import type { ColumnConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { type ColumnInfo, isStringType, quoteIdent, quoteLiteral } from "./sql-text.js";

export type Mask = NonNullable<ColumnConfig["mask"]>;

/** SQL text reading the run's mask salt inside DuckDB (the engine session variable `sluice_mask_salt`). */
export const MASK_SALT_SQL = "getvariable('sluice_mask_salt')";

/** The text that replaces redacted values. */
export const REDACTED = "[REDACTED]";

/** Masks that only make sense on character strings. */
export const STRING_ONLY_MASKS: ReadonlySet<Mask> = new Set(["redact", "email", "last4"]);

/**
 * SQL expression masking one column (`null` for `drop`, which removes the column).
 * `column` is a quoted identifier (or any SQL expression); `salt` is SQL text for the salt:
 * a literal (`quoteLiteral(salt)`), a prepared-statement parameter (`$salt`) or
 * `getvariable('sluice_mask_salt')`. `type` is needed for `null` (default VARCHAR) and to
 * cast non-string values for `hash`.
 *
 * @example
 * maskExpression("email", '"email"', "''") // => regexp-based `j***@example.com` expression
 * maskExpression("hash", '"ssn"', quoteLiteral("s3cret")) // => "sha256('s3cret' || \"ssn\")"
 */
export function maskExpression(mask: Mask, column: string, salt: string, type = "VARCHAR"): string | null {
  const text = isStringType(type) ? column : `CAST(${column} AS VARCHAR)`;
  switch (mask) {
    case "hash":
      return `sha256(${salt} || ${text})`;
    case "redact":
      return `CASE WHEN ${column} IS NULL THEN NULL ELSE ${quoteLiteral(REDACTED)} END`;
    case "email":
      return (
        `CASE WHEN ${column} IS NULL THEN NULL ` +
        `WHEN regexp_full_match(${text}, '[^@\\s]+@[^@\\s]+') ` +
        `THEN regexp_replace(${text}, '^(.)[^@]*@', '\\1***@') ELSE ${quoteLiteral(REDACTED)} END`
      );
    case "last4":
      return (
        `CASE WHEN length(${text}) <= 4 THEN regexp_replace(${text}, '[^\\s-]', 'X', 'g') ` +
        `ELSE regexp_replace(left(${text}, -4), '[^\\s-]', 'X', 'g') || right(${text}, 4) END`
      );
    case "null":
      return `CAST(NULL AS ${type})`;
    case "drop":
      return null;
  }
}

/**
 * Problem with putting `mask` on a column of `type`, or null when fine.
 *
 * @example
 * maskTypeProblem("email", "BIGINT") // => "mask email needs a text column, but the column is BIGINT"
 */
export function maskTypeProblem(mask: Mask, type: string): string | null {
  if (STRING_ONLY_MASKS.has(mask) && !isStringType(type)) {
    return `mask ${mask} needs a text column, but the column is ${type.toUpperCase()}; use hash, null or drop`;
  }
  return null;
}

/**
 * Names of the columns that carry a mask (checks use this to keep their values out of reasons).
 *
 * @example
 * maskedColumnNames({ email: { mask: "email" }, id: {} }) // => ["email"]
 */
export function maskedColumnNames(columnConfigs: Readonly<Record<string, ColumnConfig>>): string[] {
  return Object.entries(columnConfigs)
    .filter(([, c]) => c.mask !== undefined)
    .map(([name]) => name);
}

/**
 * A `SELECT` list over `columns` with the masked ones replaced by their mask expression
 * (aliased to the column name) and `drop` columns left out. `columns` come from DuckDB
 * (`DESCRIBE`); `columnConfigs` is the pipeline's `columns:` keyed by the (normalized) column
 * name; `salt` is SQL text (see {@link maskExpression}). `qualifier` prefixes column references
 * (e.g. `"s".`). Throws CONFIG_INVALID when a string-only mask sits on a non-string column.
 *
 * @example
 * const list = compileMaskedSelect(columns, pipeline.columns, "getvariable('sluice_mask_salt')");
 * await con.run(`CREATE TEMP TABLE shaped AS SELECT ${list} FROM deduped`);
 */
export function compileMaskedSelect(
  columns: readonly ColumnInfo[],
  columnConfigs: Readonly<Record<string, ColumnConfig>>,
  salt: string,
  qualifier = "",
): string {
  const items: string[] = [];
  for (const column of columns) {
    const ref = `${qualifier}${quoteIdent(column.name)}`;
    const mask = columnConfigs[column.name]?.mask;
    if (mask === undefined) {
      items.push(ref);
      continue;
    }
    const problem = maskTypeProblem(mask, column.type);
    if (problem) throw new SluiceError("CONFIG_INVALID", `columns.${column.name}.mask: ${problem}`);
    const expr = maskExpression(mask, ref, salt, column.type);
    if (expr !== null) items.push(`${expr} AS ${quoteIdent(column.name)}`);
  }
  if (items.length === 0) {
    throw new SluiceError(
      "CONFIG_INVALID",
      "columns: every column is dropped by masks; nothing would be loaded",
    );
  }
  return items.join(", ");
}

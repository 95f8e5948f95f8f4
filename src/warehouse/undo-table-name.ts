import { createHash } from "node:crypto";
import { truncateToBytes } from "../plan/postgres-identifier-limit.js";
import type { SqlDialect } from "../plan/sql-dialect.js";
import { quoteIdent } from "../plan/sql-text.js";
import { splitTableName } from "./split-table-name.js";

/** Hex digits of the hash that keeps a shortened undo table name unique. */
const hashDigits = 12;

/**
 * The bare name (in schema `sluice`) of a target's undo (before-image) table: `undo__<schema>__<table>`.
 * Where the dialect limits identifiers (PostgreSQL: 63 bytes) a longer name would be cut short by the
 * server, and two targets sharing their first characters would share one undo table; such a name
 * becomes a readable prefix plus a hash of the full schema and table (`undo__public__customer_orders_his__3f9a…`).
 * Names that fit are kept as they always were, so existing undo tables stay in use.
 *
 * @example
 * undoTableIdent("orders", postgresDialect) // "undo__public__orders"
 */
export function undoTableIdent(
  table: string,
  dialect: Pick<SqlDialect, "defaultSchema" | "maxIdentifierBytes">,
): string {
  const { schema, name } = splitTableName(table, dialect);
  const plain = `undo__${schema}__${name}`;
  const limit = dialect.maxIdentifierBytes;
  if (limit === undefined || Buffer.byteLength(plain, "utf8") <= limit) return plain;
  const hash = createHash("sha256").update(`${schema}\u0000${name}`).digest("hex").slice(0, hashDigits);
  const room = limit - Buffer.byteLength(`__${hash}`, "utf8");
  return `${truncateToBytes(plain, room)}__${hash}`;
}

/**
 * The undo table of a target, schema-qualified and quoted (see {@link undoTableIdent}).
 *
 * @example
 * undoTableName("sales.orders", postgresDialect) // 'sluice."undo__sales__orders"'
 */
export function undoTableName(
  table: string,
  dialect: Pick<SqlDialect, "defaultSchema" | "maxIdentifierBytes">,
): string {
  return `sluice.${quoteIdent(undoTableIdent(table, dialect))}`;
}

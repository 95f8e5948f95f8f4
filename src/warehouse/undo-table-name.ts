import { createHash } from "node:crypto";
import {
  exceedsPostgresIdentifierLimit,
  postgresIdentifierLimit,
  truncateToBytes,
} from "../plan/postgres-identifier-limit.js";
import { quoteIdent } from "../plan/sql-text.js";
import type { Dialect } from "../plan/type-evolution.js";
import { splitTableName } from "./split-table-name.js";

/** Hex digits of the hash that keeps a shortened undo table name unique. */
const hashDigits = 12;

/**
 * The bare name (in schema `sluice`) of a target's undo (before-image) table: `undo__<schema>__<table>`.
 * On PostgreSQL a name longer than 63 bytes would be truncated by the server, and two targets sharing
 * their first characters would share one undo table; such a name becomes a readable prefix plus a hash
 * of the full schema and table (`undo__public__customer_orders_his__3f9a…`). Names that fit are kept as
 * they always were, so existing undo tables stay in use.
 *
 * @example
 * undoTableIdent("orders", "postgres") // "undo__public__orders"
 */
export function undoTableIdent(table: string, dialect: Dialect): string {
  const { schema, name } = splitTableName(table, dialect);
  const plain = `undo__${schema}__${name}`;
  if (dialect !== "postgres" || !exceedsPostgresIdentifierLimit(plain)) return plain;
  const hash = createHash("sha256").update(`${schema}\u0000${name}`).digest("hex").slice(0, hashDigits);
  const room = postgresIdentifierLimit - Buffer.byteLength(`__${hash}`, "utf8");
  return `${truncateToBytes(plain, room)}__${hash}`;
}

/**
 * The undo table of a target, schema-qualified and quoted (see {@link undoTableIdent}).
 *
 * @example
 * undoTableName("sales.orders", "postgres") // 'sluice."undo__sales__orders"'
 */
export function undoTableName(table: string, dialect: Dialect): string {
  return `sluice.${quoteIdent(undoTableIdent(table, dialect))}`;
}

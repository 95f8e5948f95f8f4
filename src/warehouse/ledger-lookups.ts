import type { JsonRow } from "../engine/duckdb-query.js";
import { lastRunJudgedSql, loadedHashesSql, loadedSizeSql } from "./catalog-sql.js";
import type { Warehouse } from "./warehouse.js";

/** The ledger questions a run asks before it publishes, answered the same way by both warehouses. */
export type LedgerLookups = Pick<Warehouse, "loadedSizeSeen" | "loadedAnyOf" | "lastRunJudged">;

/**
 * Ledger lookups over a warehouse's catalog query.
 *
 * @example
 * const lookups = ledgerLookups((sql) => driver.query(sql)); await lookups.lastRunJudged("orders");
 */
export function ledgerLookups(query: (sql: string) => Promise<JsonRow[]>): LedgerLookups {
  return {
    loadedSizeSeen: async (pipeline, size) => (await query(loadedSizeSql(pipeline, size))).length > 0,
    loadedAnyOf: async (pipeline, hashes) =>
      hashes.length > 0 && (await query(loadedHashesSql(pipeline, hashes))).length > 0,
    lastRunJudged: async (pipeline) =>
      (await query(lastRunJudgedSql(pipeline))).some((r) => r.judged === true),
  };
}

import type { JsonRow } from "../engine/duckdb-query.js";
import { lastRunRemovedRowsSql, loadedHashesSql, loadedSizesSql } from "./catalog-sql.js";
import type { Warehouse } from "./warehouse.js";

/** The ledger questions a run asks before it publishes, answered the same way by both warehouses. */
export type LedgerLookups = Pick<Warehouse, "loadedSizesAmong" | "loadedAnyOf" | "lastRunRemovedRows">;

/**
 * Ledger lookups over a warehouse's catalog query.
 *
 * @example
 * const lookups = ledgerLookups((sql) => driver.query(sql)); await lookups.lastRunRemovedRows("orders");
 */
export function ledgerLookups(query: (sql: string) => Promise<JsonRow[]>): LedgerLookups {
  return {
    loadedSizesAmong: async (pipeline, sizes) => {
      const found = new Set<number>();
      // Chunks keep each statement short whatever the number of files.
      for (let at = 0; at < sizes.length; at += 1000) {
        const rows = await query(loadedSizesSql(pipeline, sizes.slice(at, at + 1000)));
        for (const row of rows) found.add(Number(row.size));
      }
      return found;
    },
    loadedAnyOf: async (pipeline, hashes) =>
      hashes.length > 0 && (await query(loadedHashesSql(pipeline, hashes))).length > 0,
    lastRunRemovedRows: async (pipeline) =>
      (await query(lastRunRemovedRowsSql(pipeline))).some((r) => r.checked === true),
  };
}

import type { CatalogReader } from "../warehouse/warehouse.js";

/** A warehouse table Sluice has loaded, summed over its loads. */
export interface TableSummary {
  readonly table: string;
  readonly loads: number;
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly last_loaded_at: string;
  readonly pipelines: string[];
}

/**
 * Every table with recorded loads (the tables `sluice history` knows), by name.
 *
 * @example
 * const tables = await listTables(warehouse);
 */
export async function listTables(warehouse: CatalogReader): Promise<TableSummary[]> {
  const rows = await warehouse.query(
    `SELECT table_name, count(*) AS loads, sum(inserted) AS inserted, sum(updated) AS updated, sum(deleted) AS deleted,
            CAST(max(loaded_at) AS VARCHAR) AS last_loaded_at, string_agg(DISTINCT pipeline, ',') AS pipelines
       FROM sluice.loads GROUP BY table_name ORDER BY table_name`,
  );
  return rows.map((r) => ({
    table: String(r.table_name),
    loads: Number(r.loads),
    inserted: Number(r.inserted ?? 0),
    updated: Number(r.updated ?? 0),
    deleted: Number(r.deleted ?? 0),
    last_loaded_at: String(r.last_loaded_at),
    pipelines: String(r.pipelines ?? "")
      .split(",")
      .filter((p) => p !== "")
      .sort(),
  }));
}

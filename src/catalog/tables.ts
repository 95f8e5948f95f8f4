import { quoteLiteral } from "../plan/sql-text.js";
import { historySql, toLoadRecords } from "../warehouse/table-history.js";
import type { CatalogReader, LoadRecord } from "../warehouse/warehouse.js";

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

/** A table's newest loads, with what the page says about the rest. */
export interface TableLoads {
  /** Every load of the table (rollbacks included). */
  readonly total: number;
  /** The newest `limit` loads, oldest first. */
  readonly loads: LoadRecord[];
  /** The newest load still in effect (not rolled back, not a rollback): the table as it stands. */
  readonly latestInEffect: string | null;
}

/**
 * A table's newest `limit` loads, how many it has, and its newest load in effect: the table page and its
 * API read these instead of the whole history (a table loaded by every run of a busy pipeline).
 *
 * @example
 * const { total, loads } = await tableLoads(reader, "orders", 100);
 */
export async function tableLoads(reader: CatalogReader, table: string, limit: number): Promise<TableLoads> {
  const t = quoteLiteral(table);
  const loads = toLoadRecords(await reader.query(historySql(table, limit)));
  const [count] = await reader.query(`SELECT count(*) AS n FROM sluice.loads WHERE table_name = ${t}`);
  const total = Number(count?.n ?? 0);
  const inEffect = (l: LoadRecord) => !l.rolled_back_by && l.mode !== "rollback";
  let latestInEffect = loads.findLast(inEffect)?.run_id ?? null;
  // Only when every load read was rolled back (or is a rollback) is the one in effect further back.
  if (latestInEffect === null && total > loads.length) {
    const [row] = await reader.query(
      `SELECT run_id FROM sluice.loads WHERE table_name = ${t} AND rolled_back_by IS NULL AND mode <> 'rollback' ORDER BY seq DESC LIMIT 1`,
    );
    latestInEffect = row ? String(row.run_id) : null;
  }
  return { total, loads, latestInEffect };
}

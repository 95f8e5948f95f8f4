import type { CatalogReader } from "../warehouse/warehouse.js";

/** What the ledger says a pipeline read: how many files, and the paths they share. */
export interface RecordedReads {
  readonly pipeline: string;
  readonly files: number;
  readonly rows: number;
  /** The longest path prefix every loaded file shares (the folder they landed in). */
  readonly prefix: string;
  readonly last_at: string;
}

/** What the load history says a pipeline wrote into a table. */
export interface RecordedWrites {
  readonly pipeline: string;
  readonly table: string;
  readonly loads: number;
  readonly inserted: number;
  readonly last_at: string;
}

/** Lineage as the runs recorded it: files each pipeline loaded (the ledger), tables it loaded (`sluice.loads`). */
export interface RecordedLineage {
  readonly reads: RecordedReads[];
  readonly writes: RecordedWrites[];
}

/**
 * The lineage the recorded runs prove, aggregated per pipeline and per (pipeline, table): two grouped
 * scans, whatever the number of runs. Rolled-back loads and replaced files still count (failed and
 * duplicate files loaded nothing): they happened.
 *
 * @example
 * const { reads, writes } = await recordedLineage(warehouse);
 */
export async function recordedLineage(warehouse: CatalogReader): Promise<RecordedLineage> {
  const [reads, writes] = await Promise.all([
    warehouse.query(
      `SELECT pipeline, count(*) AS files, sum(rows_loaded) AS rows, min(path) AS first_path, max(path) AS last_path,
              CAST(max(received_at) AS VARCHAR) AS last_at
         FROM sluice.files WHERE status IN ('loaded', 'replaced', 'rolled_back') GROUP BY pipeline ORDER BY pipeline`,
    ),
    warehouse.query(
      `SELECT pipeline, table_name, count(*) AS loads, sum(inserted) AS inserted, CAST(max(loaded_at) AS VARCHAR) AS last_at
         FROM sluice.loads WHERE mode <> 'rollback' GROUP BY pipeline, table_name ORDER BY pipeline, table_name`,
    ),
  ]);
  return {
    reads: reads.map((r) => ({
      pipeline: String(r.pipeline),
      files: Number(r.files),
      rows: Number(r.rows ?? 0),
      prefix: sharedPrefix(String(r.first_path), String(r.last_path)),
      last_at: String(r.last_at),
    })),
    writes: writes.map((w) => ({
      pipeline: String(w.pipeline),
      table: String(w.table_name),
      loads: Number(w.loads),
      inserted: Number(w.inserted ?? 0),
      last_at: String(w.last_at),
    })),
  };
}

/** The common prefix of the smallest and largest path is every path's: cut back to a folder when it ends mid-name. */
function sharedPrefix(first: string, last: string): string {
  let i = 0;
  while (i < first.length && first[i] === last[i]) i++;
  if (first === last) return first;
  const cut = first.slice(0, i);
  return cut.slice(0, cut.lastIndexOf("/") + 1);
}

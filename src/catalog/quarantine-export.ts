import { quoteLiteral } from "../plan/sql-text.js";
import type { CatalogReader } from "../warehouse/warehouse.js";
import {
  COLUMNS,
  ORDER,
  type QuarantineFilter,
  type QuarantineRecord,
  type RunCount,
  runBound,
  runCounts,
  toRecord,
  whereSql,
} from "./quarantine.js";

/** Runs a read against the catalog: each page of an export is its own read (writers may go between). */
export type CatalogRead = <T>(read: (reader: CatalogReader) => Promise<T>) => Promise<T>;

/** Rows an export reads at a time (whole runs up to this many; a bigger run in pages of this many). */
export const EXPORT_PAGE_ROWS = 5000;

/** One slice of an export: whole runs, or one run too big for a page (read in keyset pages). */
type Slice = { readonly first: RunCount; readonly last: RunCount; readonly big: boolean };

/** The runs of a filter (newest first) cut into slices of at most `pageRows` rows, or one big run. Pure. */
function slices(runs: readonly RunCount[], pageRows: number): Slice[] {
  const out: Slice[] = [];
  let open: { first: RunCount; last: RunCount; rows: number } | undefined;
  for (const run of runs) {
    if (run.rows === 0) continue;
    if (run.rows > pageRows) {
      if (open) out.push({ ...open, big: false });
      open = undefined;
      out.push({ first: run, last: run, big: true });
    } else if (open && open.rows + run.rows <= pageRows) {
      open = { ...open, last: run, rows: open.rows + run.rows };
    } else {
      if (open) out.push({ ...open, big: false });
      open = { first: run, last: run, rows: run.rows };
    }
  }
  if (open) out.push({ ...open, big: false });
  return out;
}

type Key = { readonly file: string | null; readonly line: number | null };

/** Rows after `key` in `file, line` order (NULLs last, as both warehouses sort them ascending). Pure. */
function afterKey({ file, line }: Key): string {
  const later = line === null ? "false" : `line > ${line} OR line IS NULL`;
  if (file === null) return `file IS NULL AND (${later})`;
  const f = quoteLiteral(file);
  return `(file > ${f} OR file IS NULL OR (file = ${f} AND (${later})))`;
}

/** Rows at exactly `key`. Pure. */
function atKey({ file, line }: Key): string {
  const f = file === null ? "file IS NULL" : `file = ${quoteLiteral(file)}`;
  return `${f} AND ${line === null ? "line IS NULL" : `line = ${line}`}`;
}

const sameKey = (a: Key, b: Key) => a.file === b.file && a.line === b.line;
const keyOf = (r: Record<string, unknown>): Key => ({
  file: r.file === null || r.file === undefined ? null : String(r.file),
  line: r.line === null || r.line === undefined ? null : Number(r.line),
});

/**
 * Every row of a filter in {@link listQuarantine}'s order, read page by page with `select` (columns that
 * include `file` and `line`): whole runs up to `pageRows` rows per read, a run bigger than that by
 * `(file, line)` keyset pages. The runs are those counted when the export starts; each page is its own
 * `read`, so a long export never holds the catalog nor more than a page in memory.
 */
async function* pages(
  read: CatalogRead,
  filter: QuarantineFilter,
  select: string,
  pageRows: number,
): AsyncGenerator<Record<string, unknown>[]> {
  const runs = await read((r) => runCounts(r, filter));
  for (const slice of slices(runs, pageRows)) {
    const runs = `${whereSql(filter)} AND ${runBound(slice.first, "<=")} AND ${runBound(slice.last, ">=")}`;
    if (!slice.big) {
      yield await read((r) =>
        r.query(`SELECT ${select} FROM sluice.quarantine WHERE ${runs} ORDER BY ${ORDER}`),
      );
      continue;
    }
    let after: Key | undefined;
    for (;;) {
      const rows = await read((r) =>
        r.query(
          `SELECT ${select} FROM sluice.quarantine WHERE ${runs}${after ? ` AND ${afterKey(after)}` : ""} ORDER BY file, line LIMIT ${pageRows}`,
        ),
      );
      if (rows.length < pageRows) {
        if (rows.length > 0) yield rows;
        break;
      }
      // Rows sharing the page's last key may go on past it: they start the next page, unless the page is
      // nothing but that key (then all of its rows are read at once).
      const last = keyOf(rows[rows.length - 1]!);
      let keep = rows.length;
      while (keep > 0 && sameKey(keyOf(rows[keep - 1]!), last)) keep--;
      if (keep > 0) {
        yield rows.slice(0, keep);
        after = keyOf(rows[keep - 1]!);
        continue;
      }
      yield await read((r) =>
        r.query(`SELECT ${select} FROM sluice.quarantine WHERE ${runs} AND ${atKey(last)}`),
      );
      after = last;
    }
  }
}

/**
 * The value columns of a filter's rows in the order they first appear (the CSV header), read page by page
 * as the export's rows will be: only each row's keys.
 *
 * @example
 * const columns = await quarantineColumns(gate.read, { pipeline: "orders" });
 */
export async function quarantineColumns(
  read: CatalogRead,
  filter: QuarantineFilter,
  pageRows = EXPORT_PAGE_ROWS,
): Promise<string[]> {
  // In the order the values are read back in (the CSV rows' order of keys).
  const keys = (await read(async (r) => r.dialect)).catalogJsonKeys('"values"');
  const columns = new Set<string>();
  for await (const rows of pages(read, filter, `file, line, ${keys} AS keys`, pageRows)) {
    for (const r of rows) for (const k of (r.keys as string[] | null) ?? []) columns.add(k);
  }
  return [...columns];
}

/**
 * A filter's quarantined rows in {@link listQuarantine}'s order, a page at a time (the CSV export).
 *
 * @example
 * for await (const rows of quarantineBatches(gate.read, { pipeline: "orders" })) write(rows);
 */
export async function* quarantineBatches(
  read: CatalogRead,
  filter: QuarantineFilter,
  pageRows = EXPORT_PAGE_ROWS,
): AsyncGenerator<QuarantineRecord[]> {
  for await (const rows of pages(read, filter, COLUMNS, pageRows)) yield rows.map(toRecord);
}

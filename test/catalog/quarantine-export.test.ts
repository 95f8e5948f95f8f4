import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listQuarantine } from "../../src/catalog/quarantine.js";
import {
  type CatalogRead,
  quarantineBatches,
  quarantineColumns,
} from "../../src/catalog/quarantine-export.js";
import { quarantineCsv, quarantineCsvStream } from "../../src/server/quarantine-csv.js";
import { QUARANTINE_COUNTS_BACKFILL_SQL } from "../../src/warehouse/quarantine-counts.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { pingPostgres } from "../support/postgres.js";
import { openProjectWarehouse, type ProjectWarehouse } from "../support/project-warehouse.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

// Runs of 3, 5, 1, 4 and 9 rows (two at the same time): r4's rows have no file nor line; r9 is bigger
// than the pages below, with rows sharing a (file, line), rows without a line and rows of two files.
// Value columns differ between runs (one row has raw text only), so the header is every row's.
type Row = { file: string | null; line: number | null; values: string | null };
const RUNS: { id: string; at: string; rows: Row[] }[] = [
  { id: "r1", at: "2026-01-01 00:01:00+00", rows: [3, 2, 1].map((l) => row("a.csv", l, `{"id":${l}}`)) },
  {
    id: "r3",
    at: "2026-01-01 00:03:00+00",
    rows: [5, 4, 3, 2, 1].map((l) => row("b.csv", l, `{"id":${l},"email":"x***"}`)),
  },
  { id: "r4", at: "2026-01-01 00:03:00+00", rows: [row(null, null, null)] },
  {
    id: "r5",
    at: "2026-01-01 00:05:00.123456+00",
    rows: [1, 2, 3, 4].map((l) => row("c.csv", l, `{"amount":${l}}`)),
  },
  {
    id: "r9",
    at: "2026-01-01 00:09:00+00",
    rows: [
      row("d.csv", 2, `{"id":1}`),
      row("d.csv", 2, `{"id":2}`),
      row("d.csv", 2, `{"id":3}`),
      row("d.csv", 1, `{"id":4,"note":"n"}`),
      row("d.csv", null, `{"id":5}`),
      row("d.csv", null, `{"id":6}`),
      row("e.csv", 7, `{"id":7}`),
      row(null, 3, `{"id":8}`),
      row(null, null, `{"id":9}`),
    ],
  },
];

/**
 * Rows in listing order with the rows that tie on it (same run, file and line: neither warehouse orders
 * them) put in one order, so two listings compare.
 */
function settled<T extends { run_id: string; file: string | null; line: number | null }>(
  rows: T[],
): string[] {
  const key = (r: T) => JSON.stringify([r.run_id, r.file, r.line]);
  const out: string[] = [];
  for (let i = 0; i < rows.length; ) {
    let j = i;
    while (j < rows.length && key(rows[j]!) === key(rows[i]!)) j++;
    out.push(
      ...rows
        .slice(i, j)
        .map((r) => JSON.stringify(r))
        .sort(),
    );
    i = j;
  }
  return out;
}

/** CSV lines, the header first, the rest in one order (ties aside, the order is checked on the rows). */
const csvLines = (csv: string) => {
  const [header, ...lines] = csv.split("\r\n");
  return [header, ...lines.sort()];
};

function row(file: string | null, line: number | null, values: string | null): Row {
  return { file, line, values };
}

function insertSql(postgres: boolean): string {
  const arr = postgres ? "ARRAY['not_null(id)']" : "['not_null(id)']";
  const json = postgres ? "JSONB" : "JSON";
  const lit = (v: string | null) => (v === null ? "NULL" : `'${v}'`);
  return RUNS.flatMap((r) =>
    r.rows.map(
      (q) =>
        `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw, quarantined_at) VALUES ('${r.id}', 'p', ${lit(q.file)}, ${q.line ?? "NULL"}, ${arr}, ${arr}, ${q.values === null ? "NULL" : `CAST('${q.values}' AS ${json})`}, ${q.values === null ? "'raw,text'" : "NULL"}, CAST('${r.at}' AS TIMESTAMPTZ))`,
    ),
  ).join(";\n");
}

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("quarantine export on %s", (kind, available) => {
  let pw: ProjectWarehouse | undefined;
  let warehouse: Warehouse;
  let reads = 0;
  const read: CatalogRead = (work) => {
    reads++;
    return work(warehouse);
  };

  beforeAll(async () => {
    if (!available) return;
    pw = await openProjectWarehouse(kind);
    warehouse = pw.warehouse;
    await pw.exec(`${insertSql(kind === "postgres")};\n${QUARANTINE_COUNTS_BACKFILL_SQL}`);
  });
  afterAll(async () => {
    await pw?.close();
  });

  it.skipIf(!available)(
    "read a page at a time, the export holds the full listing's rows in order, for any page size",
    async () => {
      const all = await listQuarantine(warehouse, { pipeline: "p" });
      expect(all).toHaveLength(22);
      const expectedCsv = quarantineCsv(all);
      for (const pageRows of [1, 2, 3, 4, 5, 8, 9, 10, 100]) {
        const pages: number[] = [];
        const rows = [];
        reads = 0;
        for await (const page of quarantineBatches(read, { pipeline: "p" }, pageRows)) {
          pages.push(page.length);
          rows.push(...page);
        }
        expect(settled(rows), `pages of ${pageRows}`).toEqual(settled(all));
        // Pages never exceed the size unless rows share one (file, line) (r9 has three at d.csv:2).
        expect(Math.max(...pages), `pages of ${pageRows}`).toBeLessThanOrEqual(Math.max(pageRows, 3));
        // The run counts, then a read per page (two where a page ends inside a tie, one more where a big
        // run has no rows left).
        expect(reads, `pages of ${pageRows}`).toBeGreaterThanOrEqual(pages.length + 1);
        expect(reads, `pages of ${pageRows}`).toBeLessThanOrEqual(3 * pages.length + 1);
        if (pageRows < 22) expect(pages.length, `pages of ${pageRows}`).toBeGreaterThan(1);
        const columns = await quarantineColumns(read, { pipeline: "p" }, pageRows);
        const csv = await new Response(
          quarantineCsvStream(columns, quarantineBatches(read, { pipeline: "p" }, pageRows)),
        ).text();
        expect(csvLines(csv), `pages of ${pageRows}`).toEqual(csvLines(expectedCsv));
      }
      const oneRun = [];
      for await (const page of quarantineBatches(read, { pipeline: "p", runId: "r9" }, 2))
        oneRun.push(...page);
      expect(settled(oneRun)).toEqual(settled(all.filter((r) => r.run_id === "r9")));
      expect(await quarantineColumns(read, { pipeline: "none" })).toEqual([]);
    },
  );
});

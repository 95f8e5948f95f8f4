import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listQuarantine, quarantinePage } from "../../src/catalog/quarantine.js";
import { backfillQuarantineCounts } from "../../src/warehouse/quarantine-counts.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { pingPostgres } from "../support/postgres.js";
import { openProjectWarehouse, type ProjectWarehouse } from "../support/project-warehouse.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

// Runs of 3, 0, 5, 1 and 4 rows (two of them at the same time, one with rows without a file or line):
// pages that start, end and straddle run boundaries.
const RUNS = [
  { id: "r1", at: "2026-01-01 00:01:00+00", rows: 3 },
  { id: "r3", at: "2026-01-01 00:03:00+00", rows: 5 },
  { id: "r4", at: "2026-01-01 00:03:00+00", rows: 1 },
  { id: "r5", at: "2026-01-01 00:05:00.123456+00", rows: 4 },
];

function insertSql(postgres: boolean): string {
  const arr = postgres ? "ARRAY['not_null(id)']" : "['not_null(id)']";
  const json = postgres ? "JSONB" : "JSON";
  return RUNS.flatMap((r) =>
    Array.from({ length: r.rows }, (_, i) => {
      const file = r.id === "r4" ? "NULL" : `'in/${r.id}.csv'`;
      const line = r.id === "r4" ? "NULL" : String(10 - i);
      return `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw, quarantined_at) VALUES ('${r.id}', 'p', ${file}, ${line}, ${arr}, ${arr}, CAST('{"i":${i}}' AS ${json}), NULL, CAST('${r.at}' AS TIMESTAMPTZ))`;
    }),
  ).join(";\n");
}

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("quarantinePage on %s", (kind, available) => {
  let pw: ProjectWarehouse | undefined;
  let warehouse: Warehouse;

  beforeAll(async () => {
    if (!available) return;
    pw = await openProjectWarehouse(kind);
    warehouse = pw.warehouse;
    await pw.exec(insertSql(kind === "postgres"));
    // Rows written around the publish path: counted as a catalog from before the counts is on its next open.
    await backfillQuarantineCounts((sql) => warehouse.query(sql));
  });
  afterAll(async () => {
    await pw?.close();
  });

  it.skipIf(!available)(
    "every page equals the full listing's slice at its offset, with the total",
    async () => {
      const all = await listQuarantine(warehouse, { pipeline: "p" });
      expect(all).toHaveLength(13);
      expect(all.map((r) => r.run_id)).toEqual([
        ...Array(4).fill("r5"),
        "r4",
        ...Array(5).fill("r3"),
        ...Array(3).fill("r1"),
      ]);
      for (const limit of [1, 2, 3, 5, 13, 20]) {
        for (let offset = 0; offset <= 14; offset++) {
          const page = await quarantinePage(warehouse, { pipeline: "p", limit, offset });
          expect(page.total, `limit ${limit} offset ${offset}`).toBe(13);
          expect(page.rows, `limit ${limit} offset ${offset}`).toEqual(all.slice(offset, offset + limit));
        }
      }
      const oneRun = await quarantinePage(warehouse, { pipeline: "p", runId: "r3", limit: 2, offset: 3 });
      expect(oneRun.total).toBe(5);
      expect(oneRun.rows).toEqual(all.filter((r) => r.run_id === "r3").slice(3, 5));
      expect(await quarantinePage(warehouse, { pipeline: "none", limit: 5, offset: 0 })).toEqual({
        rows: [],
        total: 0,
      });
    },
  );

  it.skipIf(!available)(
    "the per-run counts are filled once; a catalog without them (read-only, older) is counted",
    async () => {
      const counts = async () =>
        (
          await warehouse.query(
            "SELECT run_id, rows_quarantined AS n FROM sluice.quarantine_runs ORDER BY run_id",
          )
        ).map((r) => ({ run_id: r.run_id, n: Number(r.n) }));
      const expected = [
        { run_id: "r1", n: 3 },
        { run_id: "r3", n: 5 },
        { run_id: "r4", n: 1 },
        { run_id: "r5", n: 4 },
      ];
      expect(await counts()).toEqual(expected);
      await backfillQuarantineCounts((sql) => warehouse.query(sql));
      expect(await counts()).toEqual(expected);
      const kept = await quarantinePage(warehouse, { pipeline: "p", limit: 3, offset: 4 });
      expect(kept.total).toBe(13);
      await pw!.exec("ALTER TABLE sluice.quarantine_runs RENAME TO quarantine_runs_away");
      try {
        expect(await quarantinePage(warehouse, { pipeline: "p", limit: 3, offset: 4 })).toEqual(kept);
      } finally {
        await pw!.exec("ALTER TABLE sluice.quarantine_runs_away RENAME TO quarantine_runs");
      }
    },
  );
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catalogMetrics } from "../../src/catalog/metrics-data.js";
import { runPipelines } from "../../src/catalog/runs.js";
import { backfillRunTotals } from "../../src/warehouse/run-totals.js";
import type { RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { pingPostgres } from "../support/postgres.js";
import { openProjectWarehouse, type ProjectWarehouse } from "../support/project-warehouse.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

// Runs of two pipelines and three statuses, on bucket bounds (exactly 0.1 s, 1 s), between them and past
// the widest bucket: several runs share a (pipeline, status, bucket) total, updated in place.
const RUNS: [string, RunRecord["status"], number, number][] = [
  ["a", "succeeded", 100, 10],
  ["a", "succeeded", 100, 20],
  ["a", "succeeded", 101, 5],
  ["a", "failed", 1000, 0],
  ["a", "skipped", 3, 0],
  ["b", "succeeded", 4_000_000, 7],
  ["b", "succeeded", 2500, 1],
  ["b", "failed", 999, 3],
];

function record(i: number): RunRecord {
  const [pipeline, status, ms, read] = RUNS[i]!;
  const startedAt = new Date(Date.UTC(2026, 0, 1, 0, i, 0, 250));
  return {
    runId: `r${i}`,
    pipeline,
    status,
    startedAt,
    finishedAt: new Date(startedAt.getTime() + ms),
    report: {
      sequence: i + 1,
      rows: { read, loaded: read - 1, quarantined: 1, malformed: i % 2, duplicates: 0 },
    },
  };
}

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("run totals on %s", (kind, available) => {
  let pw: ProjectWarehouse | undefined;
  let warehouse: Warehouse;

  beforeAll(async () => {
    if (!available) return;
    pw = await openProjectWarehouse(kind);
    warehouse = pw.warehouse;
    for (let i = 0; i < RUNS.length; i++) await warehouse.recordRun(record(i), []);
  });
  afterAll(async () => {
    await pw?.close();
  });

  /** /metrics' catalog figures and the pipelines list, with the kept totals and counted from every run. */
  async function keptAndCounted() {
    const kept = { metrics: await catalogMetrics(warehouse), pipelines: await runPipelines(warehouse) };
    await pw!.exec("ALTER TABLE sluice.run_totals RENAME TO run_totals_away");
    try {
      return {
        kept,
        counted: { metrics: await catalogMetrics(warehouse), pipelines: await runPipelines(warehouse) },
      };
    } finally {
      await pw!.exec("ALTER TABLE sluice.run_totals_away RENAME TO run_totals");
    }
  }

  it.skipIf(!available)("the totals kept as runs are recorded equal counting every run", async () => {
    const { kept, counted } = await keptAndCounted();
    expect(kept).toEqual(counted);
    expect(kept.pipelines).toEqual(["a", "b"]);
    expect(kept.metrics.runs).toEqual([
      { pipeline: "a", status: "failed", count: 1 },
      { pipeline: "a", status: "skipped", count: 1 },
      { pipeline: "a", status: "succeeded", count: 3 },
      { pipeline: "b", status: "failed", count: 1 },
      { pipeline: "b", status: "succeeded", count: 2 },
    ]);
    const a = kept.metrics.durations.find((d) => d.pipeline === "a")!;
    // 0.1 s twice and 0.101 s (succeeded), 1 s (failed); the skipped run is not timed.
    expect(a.count).toBe(4);
    expect(a.buckets.slice(0, 3)).toEqual([2, 3, 4]);
    expect(a.sum).toBeCloseTo(1.301, 9);
    const b = kept.metrics.durations.find((d) => d.pipeline === "b")!;
    expect(b.buckets.at(-1)).toBe(2);
    expect(b.count).toBe(3);
    expect(kept.metrics.rows).toContainEqual({ pipeline: "a", outcome: "read", count: 35 });
    const lastA = Date.UTC(2026, 0, 1, 0, 2, 0, 351) / 1000;
    expect(kept.metrics.lastSuccess).toContainEqual({ pipeline: "a", seconds: lastA });
  });

  it.skipIf(!available)("a catalog from before the totals is summed once as it opens", async () => {
    const before = await keptAndCounted();
    await pw!.exec("DELETE FROM sluice.run_totals");
    await backfillRunTotals((sql) => warehouse.query(sql));
    await backfillRunTotals((sql) => warehouse.query(sql));
    expect(await keptAndCounted()).toEqual(before);
  });
});

import { DURATION_BUCKETS, RUN_OUTCOMES } from "../warehouse/run-totals.js";
import type { CatalogReader } from "../warehouse/warehouse.js";
import { keptOrCounted, quarantineSizes } from "./quarantine.js";
import { lastStreamLags, type PipelineStreamLag } from "./stream-lag.js";

export { DURATION_BUCKETS } from "../warehouse/run-totals.js";

/** Catalog totals behind `/metrics`, per pipeline. */
export interface CatalogMetrics {
  readonly runs: { pipeline: string; status: string; count: number }[];
  readonly rows: { pipeline: string; outcome: string; count: number }[];
  readonly durations: { pipeline: string; buckets: number[]; sum: number; count: number }[];
  readonly quarantine: { pipeline: string; rows: number }[];
  readonly lastSuccess: { pipeline: string; seconds: number }[];
  /** The last measured lag of each stream pipeline asked for (see lastStreamLags). */
  readonly streamLag: PipelineStreamLag[];
}

const OUTCOMES = RUN_OUTCOMES;

/**
 * Runs per pipeline, status and duration bucket with their row and duration sums: the totals kept as runs
 * are recorded (`sluice.run_totals`, a few rows), or the same grouped from every run on a catalog opened
 * read-only before a build that keeps them created that table.
 */
async function runTotals(warehouse: CatalogReader): Promise<Record<string, unknown>[]> {
  const outcomes = OUTCOMES.map((o) => `rows_${o} AS ${o}`).join(", ");
  const kept = `SELECT pipeline, status, bucket, runs AS n, ${outcomes}, duration_us, extract(epoch FROM last_finished_at) AS last
     FROM sluice.run_totals ORDER BY pipeline, status`;
  const us = "round((extract(epoch FROM finished_at) - extract(epoch FROM started_at)) * 1000000)";
  const bucket = `CASE ${DURATION_BUCKETS.map((b, i) => `WHEN us <= ${b * 1_000_000} THEN ${i}`).join(" ")} ELSE ${DURATION_BUCKETS.length} END`;
  const counted = `SELECT pipeline, status, ${bucket} AS bucket, count(*) AS n, ${OUTCOMES.map((o) => `sum(rows_${o}) AS ${o}`).join(", ")},
          sum(us) AS duration_us, extract(epoch FROM max(finished_at)) AS last
     FROM (SELECT pipeline, status, ${OUTCOMES.map((o) => `rows_${o}`).join(", ")}, finished_at, ${us} AS us FROM sluice.runs) r
    GROUP BY pipeline, status, bucket ORDER BY pipeline, status`;
  return keptOrCounted(warehouse, kept, counted, "run_totals");
}

/**
 * Aggregates of the catalog for Prometheus: runs by pipeline and status, rows by outcome, run duration
 * histogram buckets, quarantine size and the last success time per pipeline; the last lag of each of
 * `streamPipelines`. Reads of the totals kept at publish, and one short read per stream pipeline: their
 * cost does not grow with the number of runs.
 *
 * @example
 * const m = await catalogMetrics(warehouse, ["events"]);
 */
export async function catalogMetrics(
  warehouse: CatalogReader,
  streamPipelines: readonly string[] = [],
): Promise<CatalogMetrics> {
  const [byBucket, quarantine, streamLag] = await Promise.all([
    runTotals(warehouse),
    quarantineSizes(warehouse),
    lastStreamLags(warehouse, streamPipelines),
  ]);
  const byStatus = new Map<
    string,
    { pipeline: string; status: string; count: number; last: number | null }
  >();
  const rows = new Map<string, number>();
  const durations = new Map<string, { pipeline: string; buckets: number[]; sum: number; count: number }>();
  for (const r of byBucket) {
    const pipeline = String(r.pipeline);
    const status = String(r.status);
    const n = Number(r.n);
    const key = `${pipeline}\u0000${status}`;
    const group = byStatus.get(key) ?? { pipeline, status, count: 0, last: null };
    group.count += n;
    if (r.last !== null && r.last !== undefined)
      group.last = Math.max(group.last ?? -Infinity, Number(r.last));
    byStatus.set(key, group);
    for (const o of OUTCOMES) {
      const outcome = `${pipeline}\u0000${o}`;
      rows.set(outcome, (rows.get(outcome) ?? 0) + Number(r[o] ?? 0));
    }
    if (status === "skipped") continue;
    const d = durations.get(pipeline) ?? {
      pipeline,
      buckets: DURATION_BUCKETS.map(() => 0),
      sum: 0,
      count: 0,
    };
    // Cumulative buckets: a run counts in its own and every wider one.
    for (let i = Number(r.bucket); i < DURATION_BUCKETS.length; i++) d.buckets[i]! += n;
    d.sum += Number(r.duration_us ?? 0) / 1_000_000;
    d.count += n;
    durations.set(pipeline, d);
  }
  const groups = [...byStatus.values()].sort((a, b) =>
    a.pipeline === b.pipeline ? (a.status < b.status ? -1 : 1) : a.pipeline < b.pipeline ? -1 : 1,
  );
  const lastSuccess = groups
    .filter((g) => g.status === "succeeded" && g.last !== null)
    .map((g) => ({ pipeline: g.pipeline, seconds: g.last! }));
  return {
    runs: groups.map((g) => ({ pipeline: g.pipeline, status: g.status, count: g.count })),
    rows: [...rows].map(([key, count]) => {
      const [pipeline, outcome] = key.split("\u0000") as [string, string];
      return { pipeline, outcome, count };
    }),
    durations: [...durations.values()],
    quarantine,
    lastSuccess,
    streamLag,
  };
}

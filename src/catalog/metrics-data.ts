import type { CatalogReader } from "../warehouse/warehouse.js";
import { quarantineSizes } from "./quarantine.js";
import { lastStreamLags, type PipelineStreamLag } from "./stream-lag.js";

/** Upper bounds (seconds) of the run duration histogram buckets. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600] as const;

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

const OUTCOMES = ["read", "loaded", "quarantined", "malformed", "duplicates"] as const;

/**
 * Aggregates of the catalog for Prometheus: runs by pipeline and status, rows by outcome, run duration
 * histogram buckets, quarantine size and the last success time per pipeline; the last lag of each of
 * `streamPipelines`. A handful of grouped queries, and one short read per stream pipeline: their cost does
 * not grow with what the dashboard shows.
 *
 * @example
 * const m = await catalogMetrics(warehouse, ["events"]);
 */
export async function catalogMetrics(
  warehouse: CatalogReader,
  streamPipelines: readonly string[] = [],
): Promise<CatalogMetrics> {
  const duration = "(extract(epoch FROM finished_at) - extract(epoch FROM started_at))";
  // One scan of the runs for every run aggregate, grouped by the histogram bucket each run falls in (its
  // duration computed once per run; eleven sums of a CASE each cost DuckDB twice the CPU), summed per
  // pipeline and status below; the quarantine's kept per-run counts beside it (a PostgreSQL pool answers
  // both at once).
  const bucket = `CASE ${DURATION_BUCKETS.map((b, i) => `WHEN d <= ${b} THEN ${i}`).join(" ")} ELSE ${DURATION_BUCKETS.length} END`;
  const [byBucket, quarantine, streamLag] = await Promise.all([
    warehouse.query(
      `SELECT pipeline, status, ${bucket} AS bucket, count(*) AS n, ${OUTCOMES.map((o) => `sum(rows_${o}) AS ${o}`).join(", ")},
              sum(d) AS total, extract(epoch FROM max(finished_at)) AS last
         FROM (SELECT pipeline, status, ${OUTCOMES.map((o) => `rows_${o}`).join(", ")}, finished_at, ${duration} AS d
                 FROM sluice.runs) r
        GROUP BY pipeline, status, bucket ORDER BY pipeline, status`,
    ),
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
    d.sum += Number(r.total ?? 0);
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

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
  // One scan of the runs for every run aggregate (per pipeline and status, summed per pipeline below), and
  // the quarantine's kept per-run counts beside it (a PostgreSQL pool answers both at once).
  const [byStatus, quarantine, streamLag] = await Promise.all([
    warehouse.query(
      `SELECT pipeline, status, count(*) AS n, ${OUTCOMES.map((o) => `sum(rows_${o}) AS ${o}`).join(", ")},
              ${DURATION_BUCKETS.map((b, i) => `sum(CASE WHEN ${duration} <= ${b} THEN 1 ELSE 0 END) AS b${i}`).join(", ")},
              sum(${duration}) AS total, extract(epoch FROM max(finished_at)) AS last
         FROM sluice.runs GROUP BY pipeline, status ORDER BY pipeline, status`,
    ),
    quarantineSizes(warehouse),
    lastStreamLags(warehouse, streamPipelines),
  ]);
  const rows = new Map<string, number>();
  const durations = new Map<string, { pipeline: string; buckets: number[]; sum: number; count: number }>();
  const lastSuccess: { pipeline: string; seconds: number }[] = [];
  for (const r of byStatus) {
    const pipeline = String(r.pipeline);
    for (const o of OUTCOMES) {
      const key = `${pipeline}\u0000${o}`;
      rows.set(key, (rows.get(key) ?? 0) + Number(r[o] ?? 0));
    }
    if (r.status === "succeeded" && r.last !== null) lastSuccess.push({ pipeline, seconds: Number(r.last) });
    if (r.status === "skipped") continue;
    const d = durations.get(pipeline) ?? {
      pipeline,
      buckets: DURATION_BUCKETS.map(() => 0),
      sum: 0,
      count: 0,
    };
    DURATION_BUCKETS.forEach((_, i) => {
      d.buckets[i]! += Number(r[`b${i}`] ?? 0);
    });
    d.sum += Number(r.total ?? 0);
    d.count += Number(r.n);
    durations.set(pipeline, d);
  }
  return {
    runs: byStatus.map((r) => ({
      pipeline: String(r.pipeline),
      status: String(r.status),
      count: Number(r.n),
    })),
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

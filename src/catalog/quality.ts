import { quoteLiteral } from "../plan/sql-text.js";
import type { CatalogReader } from "../warehouse/warehouse.js";

/** One run's point on a pipeline's quality chart. */
export interface QualityPoint {
  readonly run_id: string;
  readonly started_at: string;
  readonly status: string;
  readonly read: number;
  readonly loaded: number;
  readonly quarantined: number;
  readonly malformed: number;
  /** Quarantined / read (0 when nothing was read). */
  readonly failure_rate: number;
  readonly duration_seconds: number;
  readonly anomalies: string[];
  /** Per-column profile metrics of the published rows (null shares and means), when profiled. */
  readonly profile: Record<string, { null_share?: number; mean?: number }>;
}

/**
 * The last `limit` runs of a pipeline that read rows, oldest first, with counts, failure rate, profile
 * metrics and anomalies (the data of the quality page).
 *
 * @example
 * const points = await qualitySeries(warehouse, "orders", 200);
 */
export async function qualitySeries(
  warehouse: CatalogReader,
  pipeline: string,
  limit = 200,
): Promise<QualityPoint[]> {
  const rows = await warehouse.query(
    `SELECT run_id, CAST(started_at AS VARCHAR) AS started_at, status, rows_read, rows_loaded, rows_quarantined, rows_malformed,
            extract(epoch FROM finished_at) - extract(epoch FROM started_at) AS duration,
            CAST(report -> 'anomalies' AS VARCHAR) AS anomalies, CAST(report -> 'profile' AS VARCHAR) AS profile
       FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)} AND status <> 'skipped'
      ORDER BY started_at DESC, run_id DESC LIMIT ${Math.max(1, Math.trunc(limit))}`,
  );
  return rows.reverse().map((r) => {
    const read = Number(r.rows_read ?? 0);
    const quarantined = Number(r.rows_quarantined ?? 0);
    return {
      run_id: String(r.run_id),
      started_at: isoTime(r.started_at),
      status: String(r.status),
      read,
      loaded: Number(r.rows_loaded ?? 0),
      quarantined,
      malformed: Number(r.rows_malformed ?? 0),
      failure_rate: read > 0 ? quarantined / read : 0,
      duration_seconds: Number(r.duration ?? 0),
      anomalies: parseJson(r.anomalies, []) as string[],
      profile: profileMetrics(parseJson(r.profile, null)),
    };
  });
}

/** A timestamp as the catalog renders it (`2026-11-21 22:33:44.5+00`), as ISO-8601 UTC. */
/** A catalog time as the database prints it (`2026-01-01 00:00:00.5+00`) in ISO-8601, UTC. */
export function isoTime(value: unknown): string {
  const text = String(value)
    .replace(" ", "T")
    .replace(/([+-]\d\d)$/, "$1:00");
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? String(value) : new Date(ms).toISOString();
}

function parseJson(value: unknown, fallback: unknown): unknown {
  if (value === null || value === undefined) return fallback;
  try {
    return JSON.parse(String(value)) ?? fallback;
  } catch {
    return fallback;
  }
}

/** The chartable part of a run profile: each column's null share and mean. */
function profileMetrics(profile: unknown): QualityPoint["profile"] {
  const p = profile as {
    rows?: number;
    columns?: Record<string, { nulls?: number; mean?: number | null }>;
  } | null;
  const out: Record<string, { null_share?: number; mean?: number }> = {};
  if (!p?.columns || typeof p.columns !== "object") return out;
  const rows = Number(p.rows ?? 0);
  for (const [name, col] of Object.entries(p.columns)) {
    out[name] = {
      ...(rows > 0 && typeof col.nulls === "number" ? { null_share: col.nulls / rows } : {}),
      ...(typeof col.mean === "number" ? { mean: col.mean } : {}),
    };
  }
  return out;
}

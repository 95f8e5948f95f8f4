import { quoteLiteral } from "../plan/sql-text.js";
import type { CatalogReader } from "../warehouse/warehouse.js";
import type { RunDocument } from "./runs.js";

/** How far behind a stream pipeline was when a batch was pulled (the `stream` object of its run). */
export interface StreamLagReading {
  /** Messages not yet acknowledged (delivered or not), the batch's own included; null when not measured. */
  readonly pending: number | null;
  /** Age of the batch's oldest message, ms; null when not measured. */
  readonly oldest_age_ms: number | null;
}

/** The last measured lag of a stream pipeline: its newest published batch's reading. */
export interface PipelineStreamLag extends StreamLagReading {
  readonly pipeline: string;
  /** The run of that batch. */
  readonly run_id: string;
  /** When that batch's run started (the lag is measured right before it). */
  readonly measured_at: string;
}

/** The lag a run report carries (stream batches only; undefined for other runs). Pure. */
export function streamLagOf(run: RunDocument): StreamLagReading | undefined {
  const stream = run.stream;
  if (typeof stream !== "object" || stream === null) return undefined;
  const { pending, oldest_age_ms } = stream as Record<string, unknown>;
  return { pending: numberOrNull(pending), oldest_age_ms: numberOrNull(oldest_age_ms) };
}

/** `1200 pending, oldest 3.4 s` (parts not measured left out; `not measured` when neither was). Pure. */
export function streamLagText(lag: StreamLagReading): string {
  const parts: string[] = [];
  if (lag.pending !== null) parts.push(`${lag.pending} pending`);
  if (lag.oldest_age_ms !== null) parts.push(`oldest ${ageText(lag.oldest_age_ms)}`);
  return parts.length > 0 ? parts.join(", ") : "not measured";
}

/** An age in the unit that reads best: `250 ms`, `3.4 s`, `10 min`, `3.0 h`. Pure. */
export function ageText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

// Stream pipelines record a run per batch (many a minute): the newest few succeeded runs are read by the
// (pipeline, started_at) order, and only those are looked into for their `stream` object.
const NEWEST = 10;

/** SQL for a pipeline's newest published batch that recorded its stream facts. Pure. */
export function lastStreamRunSql(pipeline: string): string {
  return `SELECT run_id, extract(epoch FROM started_at) AS started, CAST(stream AS VARCHAR) AS stream FROM (
  SELECT run_id, started_at, report->'stream' AS stream FROM sluice.runs
   WHERE pipeline = ${quoteLiteral(pipeline)} AND status = 'succeeded'
   ORDER BY started_at DESC, run_id DESC LIMIT ${NEWEST}) newest
 WHERE stream IS NOT NULL ORDER BY started_at DESC, run_id DESC LIMIT 1`;
}

/**
 * The last measured lag of each named stream pipeline (those with no published batch yet are left out),
 * for `/metrics` and the dashboard's runs page.
 *
 * @example
 * const lags = await lastStreamLags(reader, ["events"]);
 */
export async function lastStreamLags(
  reader: CatalogReader,
  pipelines: readonly string[],
): Promise<PipelineStreamLag[]> {
  const out: PipelineStreamLag[] = [];
  for (const pipeline of pipelines) {
    const [row] = await reader.query(lastStreamRunSql(pipeline));
    if (!row) continue;
    const lag = streamLagOf({ stream: JSON.parse(String(row.stream)) });
    if (!lag) continue;
    out.push({
      pipeline,
      run_id: String(row.run_id),
      measured_at: new Date(Number(row.started) * 1000).toISOString(),
      ...lag,
    });
  }
  return out;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

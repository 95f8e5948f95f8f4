import { Counter, collectDefaultMetrics, Gauge, type Metric, Registry } from "prom-client";
import { type CatalogMetrics, DURATION_BUCKETS } from "../catalog/metrics-data.js";
import { type CircuitState, heldCircuitBreakers } from "../resilience/circuit-breaker.js";

const STATE_VALUE: Record<CircuitState, number> = { closed: 0, "half-open": 1, open: 2 };

/** What a breaker guards, from the name its creator gave it (PostgreSQL/warehouse, S3, webhook). */
function breakerKind(name: string): string {
  if (/^PostgreSQL |^warehouse$/.test(name)) return "warehouse";
  if (/^S3 /.test(name)) return "storage";
  if (/^webhook /.test(name)) return "alert";
  return "other";
}

/** What `/metrics` shows besides the catalog: files waiting, runs in flight, whether the catalog answered. */
export interface ProcessMetrics {
  readonly pending: readonly { pipeline: string; files: number }[];
  readonly inFlight: number;
  /** False when the catalog could not be read (its totals are then left out). */
  readonly catalogUp: boolean;
}

/** The dashboard's Prometheus registry; `render` fills it from the catalog and returns the text format. */
export interface DashboardMetrics {
  readonly contentType: string;
  render(catalog: CatalogMetrics, process: ProcessMetrics): Promise<string>;
}

/**
 * Prometheus metrics from the catalog (runs, rows, durations, quarantine, freshness, stream lag) and this process
 * (files pending, runs in flight, circuit breaker states, Node's own process metrics).
 *
 * @example
 * const text = await metrics.render(await catalogMetrics(reader), { pending: [], inFlight: 0, catalogUp: true });
 */
export function createDashboardMetrics(): DashboardMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "sluice_process_" });
  const runs = new Counter({
    name: "sluice_runs_total",
    help: "Runs recorded in the catalog, by pipeline and status",
    labelNames: ["pipeline", "status"],
    registers: [registry],
  });
  const rows = new Counter({
    name: "sluice_rows_total",
    help: "Rows of recorded runs, by pipeline and outcome (read, loaded, quarantined, malformed, duplicates)",
    labelNames: ["pipeline", "outcome"],
    registers: [registry],
  });
  const quarantine = new Gauge({
    name: "sluice_quarantine_rows",
    help: "Rows in the quarantine, by pipeline",
    labelNames: ["pipeline"],
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: "sluice_last_success_timestamp_seconds",
    help: "When the last successful run of each pipeline finished (Unix time), for freshness alerts",
    labelNames: ["pipeline"],
    registers: [registry],
  });
  const pending = new Gauge({
    name: "sluice_files_pending",
    help: "Files matching a pipeline's source glob in the landing zone, not yet processed",
    labelNames: ["pipeline"],
    registers: [registry],
  });
  const streamPending = new Gauge({
    name: "sluice_stream_pending_messages",
    help: "Messages of a stream pipeline not yet acknowledged (delivered or not) right before its last published batch was published",
    labelNames: ["pipeline"],
    registers: [registry],
  });
  const streamOldest = new Gauge({
    name: "sluice_stream_oldest_age_seconds",
    help: "Age of the oldest message of a stream pipeline's last published batch, right before that batch was published",
    labelNames: ["pipeline"],
    registers: [registry],
  });
  const streamMeasured = new Gauge({
    name: "sluice_stream_lag_timestamp_seconds",
    help: "When the stream lag above was measured (Unix time): an old value means no batch was published since",
    labelNames: ["pipeline"],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "sluice_runs_in_flight",
    help: "Runs this process is working on now (watch --serve)",
    registers: [registry],
  });
  const catalogUp = new Gauge({
    name: "sluice_catalog_up",
    help: "Whether this scrape could read the catalog (1) or not (0: the warehouse is unreachable)",
    registers: [registry],
  });
  const breakers = new Gauge({
    name: "sluice_circuit_breaker_state",
    help: "State of each circuit breaker this process holds: 0 closed, 1 half-open, 2 open",
    labelNames: ["kind", "name"],
    registers: [registry],
  });
  const streamGauges = [streamPending, streamOldest, streamMeasured];
  let durations: CatalogMetrics["durations"] = [];
  // The histogram comes from catalog aggregates (bucket counts), not from observations in this process.
  registry.registerMetric({
    name: "sluice_run_duration_seconds",
    help: "Duration of recorded runs (skipped ones aside), by pipeline",
    type: "histogram",
    get: async () => ({
      name: "sluice_run_duration_seconds",
      help: "Duration of recorded runs (skipped ones aside), by pipeline",
      type: "histogram",
      aggregator: "sum",
      values: durations.flatMap((d) => [
        ...DURATION_BUCKETS.map((le, i) => ({
          metricName: "sluice_run_duration_seconds_bucket",
          labels: { pipeline: d.pipeline, le },
          value: d.buckets[i]!,
        })),
        {
          metricName: "sluice_run_duration_seconds_bucket",
          labels: { pipeline: d.pipeline, le: "+Inf" },
          value: d.count,
        },
        { metricName: "sluice_run_duration_seconds_sum", labels: { pipeline: d.pipeline }, value: d.sum },
        { metricName: "sluice_run_duration_seconds_count", labels: { pipeline: d.pipeline }, value: d.count },
      ]),
    }),
  } as unknown as Metric<string>);
  return {
    contentType: registry.contentType,
    async render(catalog, proc) {
      for (const m of [runs, rows, quarantine, lastSuccess, pending, breakers, ...streamGauges]) m.reset();
      for (const r of catalog.runs) runs.inc({ pipeline: r.pipeline, status: r.status }, r.count);
      for (const r of catalog.rows) rows.inc({ pipeline: r.pipeline, outcome: r.outcome }, r.count);
      for (const q of catalog.quarantine) quarantine.set({ pipeline: q.pipeline }, q.rows);
      for (const s of catalog.lastSuccess) lastSuccess.set({ pipeline: s.pipeline }, s.seconds);
      for (const p of proc.pending) pending.set({ pipeline: p.pipeline }, p.files);
      for (const l of catalog.streamLag) {
        const labels = { pipeline: l.pipeline };
        if (l.pending !== null) streamPending.set(labels, l.pending);
        if (l.oldest_age_ms !== null) streamOldest.set(labels, l.oldest_age_ms / 1000);
        streamMeasured.set(labels, Date.parse(l.measured_at) / 1000);
      }
      inFlight.set(proc.inFlight);
      catalogUp.set(proc.catalogUp ? 1 : 0);
      // Several breakers may guard the same system (one per storage opened): the worst state stands.
      const states = new Map<string, { kind: string; name: string; value: number }>();
      for (const b of heldCircuitBreakers()) {
        const value = STATE_VALUE[b.state()];
        const seen = states.get(b.name);
        if (!seen || value > seen.value)
          states.set(b.name, { kind: breakerKind(b.name), name: b.name, value });
      }
      for (const s of states.values()) breakers.set({ kind: s.kind, name: s.name }, s.value);
      durations = catalog.durations;
      return registry.metrics();
    },
  };
}

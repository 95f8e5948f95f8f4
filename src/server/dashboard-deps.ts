import { recordedLineage } from "../catalog/recorded-lineage.js";
import { asSluiceError } from "../errors.js";
import { history as lakeHistory } from "../lake/delta-operations.js";
import { discoverFiles } from "../run/discover-files.js";
import { projectLakeTables } from "../runner/lake-tables.js";
import { streamPipelines } from "../runner/stream-worker.js";
import type { AccessPolicy } from "./access-policy.js";
import type { DashboardMetrics } from "./dashboard-metrics.js";
import { type LineageGraph, lineageGraph, recordedLineageGraph } from "./lineage-graph.js";
import type { LiveRuns } from "./live-runs.js";
import type { LakeTableVersions } from "./table-pages.js";
import type { WarehouseGate } from "./warehouse-gate.js";

/** What every route of the dashboard uses. */
export interface DashboardDeps {
  readonly gate: WarehouseGate;
  readonly live: LiveRuns;
  readonly policy: AccessPolicy;
  readonly metrics: DashboardMetrics;
}

/** Pipelines known to the config or the catalog, by name. */
export function knownPipelines(deps: DashboardDeps, fromCatalog: readonly string[] = []): string[] {
  return [...new Set([...Object.keys(deps.gate.ctx.project.config.pipelines), ...fromCatalog])].sort();
}

/** The project's stream pipelines, by name (their lag is shown and exported). */
export function streamPipelineNames(deps: DashboardDeps): string[] {
  return streamPipelines(deps.gate.ctx).sort();
}

// A scrape lists the landing zone once per file pipeline: the counts are reused for a moment, so scrapes
// close together (several Prometheus servers, a page reloaded) do not list it again and again.
const PENDING_FRESH_MS = 2000;
const pendingCache = new WeakMap<DashboardDeps, { at: number; counts: Promise<PendingCount[]> }>();

type PendingCount = { pipeline: string; files: number };

/** Files waiting in the landing zone per file pipeline (a listing of each glob, the globs side by side). */
export function pendingFiles(deps: DashboardDeps): Promise<PendingCount[]> {
  const cached = pendingCache.get(deps);
  if (cached && Date.now() - cached.at < PENDING_FRESH_MS) return cached.counts;
  const ctx = deps.gate.ctx;
  const counts = Promise.all(
    Object.entries(ctx.project.config.pipelines)
      .filter(([, p]) => "path" in p.source)
      .map(async ([name, p]) => ({
        pipeline: name,
        files: ("path" in p.source ? await discoverFiles(ctx.landing, p.source.path).catch(() => []) : [])
          .length,
      })),
  );
  pendingCache.set(deps, { at: Date.now(), counts });
  return counts;
}

/** Lake tables of the project with their Delta versions (newest first, at most 20 each). */
export async function lakeVersions(deps: DashboardDeps): Promise<LakeTableVersions[]> {
  const tables = await projectLakeTables(deps.gate.ctx).catch(() => []);
  const out: LakeTableVersions[] = [];
  for (const t of tables.filter((x) => x.exists && x.format === "delta")) {
    try {
      const entries = await lakeHistory(t.table);
      out.push({
        table: t.name,
        versions: entries.slice(0, 20).map((h) => ({
          version: h.version,
          timestamp: new Date(h.timestamp).toISOString(),
          operation: h.operation ?? "",
        })),
      });
    } catch (error) {
      out.push({
        table: t.name,
        versions: [],
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return out;
}

/** The text of a run's log, when it is a log under logs/ of the landing zone (never another path). */
export async function runLog(deps: DashboardDeps, log: unknown): Promise<string | undefined> {
  if (typeof log !== "string" || !/^logs\/[\w./-]+\.jsonl$/.test(log) || log.split("/").includes("..")) {
    return undefined;
  }
  try {
    const text = (await deps.gate.ctx.landing.readFile(log)).toString("utf8");
    return text.length > 200_000 ? `${text.slice(0, 200_000)}\n… (truncated)` : text;
  } catch {
    return undefined;
  }
}

/**
 * The lineage graph from sluice.yaml and the recorded runs; from sluice.yaml alone, with the reason, when
 * the catalog cannot be read (a warehouse held by another process, one that is down).
 */
export async function projectLineage(deps: DashboardDeps): Promise<{ graph: LineageGraph; error?: string }> {
  const config = deps.gate.ctx.project.config;
  try {
    return { graph: recordedLineageGraph(config, await deps.gate.read(recordedLineage)) };
  } catch (error) {
    return { graph: lineageGraph(config), error: asSluiceError(error).message };
  }
}

import type { Context, Hono } from "hono";
import { warehouseHealth } from "../catalog/health.js";
import { type CatalogMetrics, catalogMetrics } from "../catalog/metrics-data.js";
import { qualitySeries } from "../catalog/quality.js";
import { quarantinePage } from "../catalog/quarantine.js";
import { listRuns, readRun, runPipelines } from "../catalog/runs.js";
import { lastStreamLags } from "../catalog/stream-lag.js";
import { tableSizeSeries } from "../catalog/table-sizes.js";
import { listTables, tableLoads } from "../catalog/tables.js";
import { SluiceError } from "../errors.js";
import {
  type DashboardDeps,
  knownPipelines,
  lakeVersions,
  pendingFiles,
  projectLineage,
  streamPipelineNames,
} from "./dashboard-deps.js";
import { intParam, statusParam, textParam } from "./request-params.js";
import { HISTORY_SHOWN } from "./table-pages.js";

const NO_CATALOG: CatalogMetrics = {
  runs: [],
  rows: [],
  durations: [],
  quarantine: [],
  lastSuccess: [],
  streamLag: [],
};

/** A pipeline named by a request: defined in sluice.yaml or with recorded runs; 404 otherwise. */
export async function requirePipeline(deps: DashboardDeps, name: string | undefined): Promise<string> {
  if (!name) throw new SluiceError("USAGE", "pipeline=<name> is required");
  const known = knownPipelines(deps, await deps.gate.read(runPipelines));
  if (!known.includes(name)) {
    throw new SluiceError(
      "PIPELINE_UNKNOWN",
      `unknown pipeline ${name} (known: ${known.join(", ") || "none"})`,
    );
  }
  return name;
}

/** A run filter of the quarantine's pages: a run of that pipeline, or none; 404 otherwise (not an empty list). */
export async function requireRunOf(
  deps: DashboardDeps,
  pipeline: string,
  runId: string | undefined,
): Promise<string | undefined> {
  if (runId === undefined) return undefined;
  const run = await deps.gate.read((r) => readRun(r, runId));
  if (!run || run.pipeline !== pipeline) {
    throw new SluiceError("RUN_NOT_FOUND", `run ${runId}: not a run of pipeline ${pipeline}`);
  }
  return runId;
}

/** The run filter of /runs and /api/runs from the query string. */
export function runFilterOf(c: Context) {
  return {
    pipeline: textParam(c, "pipeline"),
    status: statusParam(c),
    from: textParam(c, "from"),
    until: textParam(c, "until"),
  };
}

/** The JSON API: every page's data under /api/, in the shapes of the CLI's --json. */
export function registerApiRoutes(app: Hono, deps: DashboardDeps): void {
  const { gate } = deps;
  app.get("/api/runs", async (c) => {
    const filter = {
      ...runFilterOf(c),
      limit: intParam(c, "limit", 50, 1, 1000),
      offset: intParam(c, "offset", 0, 0, 10_000_000),
    };
    return c.json({ runs: await gate.read((r) => listRuns(r, filter)) });
  });
  app.get("/api/runs/:id", async (c) => {
    const id = c.req.param("id");
    const run = await gate.read((r) => readRun(r, id));
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `run ${id}: not found`);
    return c.json(run);
  });
  app.get("/api/streams", async (c) => {
    const streams = streamPipelineNames(deps);
    return c.json({ streams: await gate.read((r) => lastStreamLags(r, streams)) });
  });
  app.get("/api/quarantine", async (c) => {
    const pipeline = await requirePipeline(deps, textParam(c, "pipeline"));
    const filter = {
      pipeline,
      runId: await requireRunOf(deps, pipeline, textParam(c, "run")),
      limit: intParam(c, "limit", 100, 1, 10_000),
      offset: intParam(c, "offset", 0, 0, 100_000_000),
    };
    const { rows, total } = await gate.read((r) => quarantinePage(r, filter));
    return c.json({
      pipeline,
      run: filter.runId ?? null,
      total,
      limit: filter.limit,
      offset: filter.offset,
      rows,
    });
  });
  app.get("/api/tables", async (c) =>
    c.json({ tables: await gate.read(listTables), lake: await lakeVersions(deps) }),
  );
  app.get("/api/tables/:table/history", async (c) => {
    const table = c.req.param("table");
    const limit = intParam(c, "limit", HISTORY_SHOWN, 1, 1_000_000);
    const [history, sizes] = await gate.read(
      async (r) => [await tableLoads(r, table, limit), await tableSizeSeries(r, table)] as const,
    );
    if (history.total === 0) throw new SluiceError("RUN_NOT_FOUND", `table ${table}: no loads recorded`);
    return c.json({ table, total: history.total, limit, loads: history.loads, sizes });
  });
  app.get("/api/quality", async (c) => {
    const pipeline = await requirePipeline(deps, textParam(c, "pipeline"));
    const limit = intParam(c, "limit", 200, 1, 5000);
    return c.json({ pipeline, points: await gate.read((r) => qualitySeries(r, pipeline, limit)) });
  });
  app.get("/api/lineage", async (c) => {
    const { graph, error } = await projectLineage(deps);
    return c.json({ ...graph, ...(error ? { error } : {}) });
  });
  app.get("/api/health", async (c) =>
    c.json(await gate.read((r) => warehouseHealth(r, gate.pooled()?.poolStats?.()))),
  );
  app.get("/api/live", (c) => c.json({ runs: deps.live.list() }));
  app.get("/metrics", async (c) => {
    // An unreachable warehouse is when breaker states matter most: answer without the catalog's totals.
    const streams = streamPipelineNames(deps);
    const catalog = await gate.read((r) => catalogMetrics(r, streams)).catch(() => undefined);
    const text = await deps.metrics.render(catalog ?? NO_CATALOG, {
      pending: await pendingFiles(deps),
      inFlight: deps.live.list().length,
      catalogUp: catalog !== undefined,
    });
    return c.body(text, 200, { "content-type": deps.metrics.contentType });
  });
}

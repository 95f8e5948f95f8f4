import type { Hono } from "hono";
import { warehouseHealth } from "../catalog/health.js";
import { qualitySeries } from "../catalog/quality.js";
import { quarantinePage } from "../catalog/quarantine.js";
import { type CatalogRead, quarantineBatches, quarantineColumns } from "../catalog/quarantine-export.js";
import { listRuns, readRun, runPipelines } from "../catalog/runs.js";
import { lastStreamLags } from "../catalog/stream-lag.js";
import { tableSizeSeries } from "../catalog/table-sizes.js";
import { listTables, tableLoads } from "../catalog/tables.js";
import { SluiceError } from "../errors.js";
import { csrfToken } from "./access-policy.js";
import { requirePipeline, requireRunOf, runFilterOf } from "./api-routes.js";
import {
  type DashboardDeps,
  knownPipelines,
  lakeVersions,
  projectLineage,
  runLog,
  streamPipelineNames,
} from "./dashboard-deps.js";
import { html } from "./html.js";
import { healthBody, qualityBody } from "./insight-pages.js";
import { page } from "./layout.js";
import { lineageSvg } from "./lineage-graph.js";
import { quarantineCsvStream } from "./quarantine-csv.js";
import { intParam, textParam } from "./request-params.js";
import { quarantineBody, runDetailBody, runsBody } from "./run-pages.js";
import {
  HISTORY_SHOWN,
  rollbackConfirmBody,
  tableHistoryBody,
  tableSizeBody,
  tablesBody,
} from "./table-pages.js";

const RUNS_PAGE = 50;
const QUARANTINE_PAGE = 50;

/** The server-rendered pages (every value escaped by the `html` template). */
export function registerPageRoutes(app: Hono, deps: DashboardDeps): void {
  const { gate } = deps;
  const csrf = csrfToken(deps.policy);
  app.get("/", (c) => c.redirect("/runs"));
  app.get("/runs", async (c) => {
    const filter = runFilterOf(c);
    const pageNo = intParam(c, "page", 1, 1, 1_000_000);
    const streams = streamPipelineNames(deps).filter((p) => !filter.pipeline || p === filter.pipeline);
    const [runs, pipelines, streamLag] = await gate.read(
      async (r) =>
        [
          await listRuns(r, { ...filter, limit: RUNS_PAGE, offset: (pageNo - 1) * RUNS_PAGE }),
          await runPipelines(r),
          await lastStreamLags(r, streams),
        ] as const,
    );
    const body = runsBody({
      runs,
      live: deps.live.list(),
      pipelines: knownPipelines(deps, pipelines),
      filter,
      page: pageNo,
      pageSize: RUNS_PAGE,
      streamLag,
    });
    return c.html(page("Runs", body, { active: "/runs" }));
  });
  app.get("/runs/:id", async (c) => {
    const id = c.req.param("id");
    const run = await gate.read((r) => readRun(r, id));
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `run ${id}: not found`);
    return c.html(
      page(`Run ${id}`, runDetailBody(run, await runLog(deps, run.log), csrf), { active: "/runs" }),
    );
  });
  app.get("/quarantine", async (c) => {
    const pipelines = knownPipelines(deps, await gate.read(runPipelines));
    const chosen = textParam(c, "pipeline") ?? pipelines[0];
    const pipeline = chosen ? await requirePipeline(deps, chosen) : undefined;
    const runId = pipeline ? await requireRunOf(deps, pipeline, textParam(c, "run")) : undefined;
    const pageNo = intParam(c, "page", 1, 1, 10_000_000);
    const filter = {
      pipeline: pipeline ?? "",
      runId,
      limit: QUARANTINE_PAGE,
      offset: (pageNo - 1) * QUARANTINE_PAGE,
    };
    const { rows, total } = pipeline
      ? await gate.read((r) => quarantinePage(r, filter))
      : { rows: [], total: 0 };
    const body = quarantineBody({
      pipelines,
      pipeline,
      runId,
      rows,
      total,
      page: pageNo,
      pageSize: QUARANTINE_PAGE,
      csrf,
    });
    return c.html(page("Quarantine", body, { active: "/quarantine" }));
  });
  app.get("/quarantine.csv", async (c) => {
    const pipeline = await requirePipeline(deps, textParam(c, "pipeline"));
    const runId = await requireRunOf(deps, pipeline, textParam(c, "run"));
    const filter = { pipeline, runId };
    // Read a page at a time (each its own catalog read): the header's columns first, then the rows.
    const read: CatalogRead = (work) => gate.read(work);
    const columns = await quarantineColumns(read, filter);
    const name = `quarantine-${pipeline}${runId ? `-${runId}` : ""}.csv`.replace(/[^\w.-]/g, "_");
    return c.body(quarantineCsvStream(columns, quarantineBatches(read, filter)), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${name}"`,
    });
  });
  app.get("/quality", async (c) => {
    const pipelines = knownPipelines(deps, await gate.read(runPipelines));
    const chosen = textParam(c, "pipeline") ?? pipelines[0];
    const pipeline = chosen ? await requirePipeline(deps, chosen) : undefined;
    const points = pipeline ? await gate.read((r) => qualitySeries(r, pipeline)) : [];
    return c.html(
      page("Quality over time", qualityBody(pipelines, pipeline, points), {
        active: "/quality",
        scripts: ["/assets/uplot.js", "/assets/charts.js"],
      }),
    );
  });
  app.get("/tables", async (c) => {
    const tables = await gate.read(listTables);
    return c.html(page("Tables", tablesBody(tables, await lakeVersions(deps)), { active: "/tables" }));
  });
  app.get("/tables/:table", async (c) => {
    const table = c.req.param("table");
    const [history, sizes] = await gate.read(
      async (r) => [await tableLoads(r, table, HISTORY_SHOWN), await tableSizeSeries(r, table)] as const,
    );
    if (history.total === 0) throw new SluiceError("RUN_NOT_FOUND", `table ${table}: no loads recorded`);
    return c.html(
      page(`Table ${table}`, html`${tableSizeBody(sizes)}${tableHistoryBody(table, history)}`, {
        active: "/tables",
        scripts: ["/assets/uplot.js", "/assets/charts.js"],
      }),
    );
  });
  app.get("/tables/:table/rollback", async (c) => {
    const table = c.req.param("table");
    const to = textParam(c, "to");
    if (!to) throw new SluiceError("USAGE", "to=<run_id> is required");
    const loads = await gate.read((r) => r.history(table));
    const index = loads.findIndex((l) => l.run_id === to && l.mode !== "rollback" && !l.rolled_back_by);
    if (index < 0)
      throw new SluiceError("RUN_NOT_FOUND", `table ${table}: run ${to} is not a load in effect`);
    const undone = loads
      .slice(index + 1)
      .filter((l) => !l.rolled_back_by && l.mode !== "rollback")
      .reverse();
    return c.html(
      page(`Roll back ${table}?`, rollbackConfirmBody(table, to, undone, csrf), { active: "/tables" }),
    );
  });
  app.get("/lineage", async (c) => {
    const { graph, error } = await projectLineage(deps);
    return c.html(
      page(
        "Lineage",
        html`<p class="muted">landing files → pipelines → tables → downstream pipelines, from sluice.yaml and the recorded runs (solid: recorded loads; dashed: configured, no run yet; hover for counts)</p>${error ? html`<p class="error">recorded runs not shown: ${error}</p>` : ""}${lineageSvg(graph)}`,
        { active: "/lineage" },
      ),
    );
  });
  app.get("/health", async (c) => {
    const health = await gate.read((r) => warehouseHealth(r, gate.pooled()?.poolStats?.()));
    return c.html(page("Warehouse health", healthBody(health), { active: "/health" }));
  });
}

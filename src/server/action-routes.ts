import type { Context, Hono } from "hono";
import { SluiceError } from "../errors.js";
import { newRunId } from "../run/run-id.js";
import { replayRun } from "../runner/replay-run.js";
import { csrfOk, refuse } from "./access-policy.js";
import type { DashboardDeps } from "./dashboard-deps.js";

async function form(c: Context): Promise<Record<string, string>> {
  const type = c.req.header("content-type") ?? "";
  if (type.includes("application/json")) {
    const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
  }
  if (type.includes("form")) {
    const body = await c.req.parseBody();
    return Object.fromEntries(Object.entries(body).map(([k, v]) => [k, String(v)]));
  }
  return {};
}

/**
 * The two writes the dashboard allows, replay and rollback: POST only, CSRF-checked (or a bearer
 * token), run through the warehouse gate so they never overlap the daemon's runs.
 */
export function registerActionRoutes(app: Hono, deps: DashboardDeps): void {
  const { gate, policy } = deps;
  const guard = async (c: Context): Promise<Record<string, string> | Response> => {
    const fields = await form(c);
    if (!csrfOk(c, policy, fields.csrf)) {
      return refuse(
        c,
        403,
        "CSRF",
        "refused: this form did not come from the dashboard (missing or wrong CSRF token)",
      );
    }
    return fields;
  };
  const replay = async (c: Context, json: boolean) => {
    const fields = await guard(c);
    if (fields instanceof Response) return fields;
    const report = await replayRun(gate.ctx, c.req.param("id")!);
    if (json) return c.json({ runs: [report] }, report.status === "failed" ? 409 : 200);
    return c.redirect(`/runs/${encodeURIComponent(report.run_id || String(report.replay_of))}`, 303);
  };
  const rollback = async (c: Context, json: boolean) => {
    const fields = await guard(c);
    if (fields instanceof Response) return fields;
    const table = c.req.param("table")!;
    if (!fields.to) throw new SluiceError("USAGE", "to=<run_id> is required");
    const warehouse = await gate.ctx.openWarehouse();
    let result: Awaited<ReturnType<typeof warehouse.rollback>>;
    try {
      result = await warehouse.rollback(table, fields.to, newRunId(new Date()));
    } finally {
      await warehouse.close();
    }
    if (json) return c.json(result);
    return c.redirect(`/tables/${encodeURIComponent(table)}`, 303);
  };
  app.post("/runs/:id/replay", (c) => replay(c, false));
  app.post("/api/runs/:id/replay", (c) => replay(c, true));
  app.post("/tables/:table/rollback", (c) => rollback(c, false));
  app.post("/api/tables/:table/rollback", (c) => rollback(c, true));
}

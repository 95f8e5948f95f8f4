import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, sluice } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";
import { createTestDatabase, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { dashboardProject } from "./dashboard-fixture.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

interface RunsDoc {
  runs: { run_id: string; pipeline: string; status: string; rows: { quarantined: number } }[];
}

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("sluice serve on %s", (kind, available) => {
  let dir: string;
  let served: ServedDashboard;
  let cleanup: (() => Promise<void>) | undefined;
  const get = (path: string, init?: RequestInit) => fetch(`${served.url}${path}`, init);

  beforeAll(async () => {
    if (!available) return;
    let warehouse = "duckdb:warehouse.duckdb";
    if (kind === "postgres") {
      const db = await createTestDatabase();
      warehouse = db.url;
      cleanup = db.cleanup;
    }
    dir = await dashboardProject(warehouse);
    served = await startServed(dir, ["serve", "--port", "0"]);
  });
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
    await cleanup?.();
  });

  it.skipIf(!available)(
    "GET /api/runs answers the objects of `sluice runs --json`, filtered and paged",
    async () => {
      const cli = (await sluice(["runs", "--json"], dir)).json<RunsDoc>();
      const api = (await (await get("/api/runs")).json()) as RunsDoc;
      expect(api).toEqual(cli);
      expect(api.runs.map((r) => r.status).sort()).toEqual(["failed", "succeeded", "succeeded"]);
      const failed = (await (await get("/api/runs?status=failed")).json()) as RunsDoc;
      expect(failed.runs.map((r) => r.pipeline)).toEqual(["strict"]);
      const page2 = (await (await get("/api/runs?limit=1&offset=1")).json()) as RunsDoc;
      expect(page2.runs).toEqual([cli.runs[1]]);
      const one = await get(`/api/runs/${cli.runs[0]!.run_id}`);
      expect(await one.json()).toEqual(cli.runs[0]);
    },
  );

  it.skipIf(!available)("bad requests get clear 4xx JSON errors", async () => {
    const cases: [string, number, RegExp][] = [
      ["/api/runs?limit=0", 400, /limit=0/],
      ["/api/runs?status=done", 400, /status=done/],
      ["/api/runs?from=yesterday", 400, /from yesterday/],
      ["/api/runs/nope", 404, /run nope: not found/],
      ["/api/quarantine", 400, /pipeline=<name> is required/],
      ["/api/quarantine?pipeline=..%2F..%2Fetc", 404, /unknown pipeline/],
      ["/api/quarantine?pipeline=orders&run=nope", 404, /run nope: not a run of pipeline orders/],
      ["/api/tables/nope/history", 404, /no loads/],
      ["/api/nothing", 404, /no such page/],
    ];
    for (const [path, status, message] of cases) {
      const r = await get(path);
      expect(r.status, path).toBe(status);
      expect(r.headers.get("content-type")).toMatch(/json/);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
  });

  it.skipIf(!available)("quarantine: paged, masked as stored, escaped in HTML, exported as CSV", async () => {
    const cli = (await sluice(["quarantine", "orders", "--json"], dir)).json<unknown[]>();
    const api = (await (await get("/api/quarantine?pipeline=orders&limit=1&offset=1")).json()) as {
      total: number;
      rows: unknown[];
    };
    expect(api.total).toBe(2);
    expect(api.rows).toEqual([cli[1]]);
    const page = await (await get("/quarantine?pipeline=orders")).text();
    expect(page).toContain("b***@example.com");
    expect(page).not.toContain("bob@example.com");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).not.toContain("<script>alert(1)");
    const csv = await get("/quarantine.csv?pipeline=orders");
    expect(csv.headers.get("content-type")).toMatch(/text\/csv/);
    const text = await csv.text();
    // Value columns follow the stored JSON (PostgreSQL's jsonb orders keys its own way).
    const header = text.split("\r\n")[0]!.split(",");
    expect(header.slice(0, 5)).toEqual(["run_id", "file", "line", "rules", "reasons"]);
    expect(header.slice(5).sort()).toEqual(["email", "id", "note", "raw"]);
    expect(text).toContain("b***@example.com");
    expect(text).not.toContain("bob@example.com");
    // A run filter names a run of that pipeline: an unknown one or another pipeline's is a 404, not an
    // export holding only a header.
    const runOf = async (pipeline: string) =>
      ((await (await get(`/api/runs?pipeline=${pipeline}`)).json()) as RunsDoc).runs.map((r) => r.run_id);
    const [strictRun] = await runOf("strict");
    for (const path of [
      "/quarantine.csv?pipeline=orders&run=nope",
      `/quarantine.csv?pipeline=orders&run=${strictRun}`,
      "/quarantine?pipeline=orders&run=nope",
    ]) {
      expect((await get(path)).status, path).toBe(404);
    }
    const quarantinedRun = (cli as { run_id: string }[])[0]!.run_id;
    expect(await runOf("orders")).toContain(quarantinedRun);
    const one = await get(`/quarantine.csv?pipeline=orders&run=${quarantinedRun}`);
    expect(one.status).toBe(200);
    expect((await one.text()).split("\r\n").filter(Boolean).length).toBeGreaterThan(1);
  });

  it.skipIf(!available)(
    "every page renders; runs and run detail show the failure; tables list loads",
    async () => {
      const runs = await (await get("/runs?status=failed")).text();
      expect(runs).toContain("max_failure_rate");
      const { runs: list } = (await (await get("/api/runs?pipeline=strict")).json()) as RunsDoc;
      const detail = await (await get(`/runs/${list[0]!.run_id}`)).text();
      expect(detail).toContain("in/strict/s.csv");
      expect(detail).toContain("not_null(id)");
      for (const path of ["/tables", "/tables/orders", "/quality?pipeline=orders", "/lineage", "/health"]) {
        const r = await get(path);
        expect(r.status, path).toBe(200);
        expect(r.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
      }
      const tables = (await (await get("/api/tables")).json()) as {
        tables: { table: string; loads: number }[];
      };
      expect(tables.tables.find((t) => t.table === "orders")?.loads).toBe(2);
      const quality = (await (await get("/api/quality?pipeline=orders")).json()) as {
        points: { failure_rate: number }[];
      };
      expect(quality.points.map((p) => p.failure_rate)).toEqual([2 / 3, 0]);
      const lineage = await (await get("/lineage")).text();
      for (const node of ["files:in/orders/*.csv", "pipeline:orders", "table:orders", "pipeline:strict"]) {
        expect(lineage).toContain(`data-node="${node}"`);
      }
      const health = (await (await get("/api/health")).json()) as {
        kind: string;
        tables: { table: string }[];
      };
      expect(health.kind).toBe(kind);
      expect(health.tables.map((t) => t.table)).toContain("orders");
    },
  );

  it.skipIf(!available)(
    "table sizes: each load's run records the table's rows and bytes; /api/tables/:table/history and the page chart them",
    async () => {
      const history = (await (await get("/api/tables/orders/history")).json()) as {
        loads: { run_id: string; inserted: number }[];
        sizes: { run_id: string; rows: number; bytes: number | null; loaded_at: string }[];
      };
      expect(history.sizes.map((s) => s.run_id)).toEqual(history.loads.map((l) => l.run_id));
      // Appends only: the size after each load is every row inserted so far.
      expect(history.sizes.map((s) => s.rows)).toEqual([1, 2]);
      for (const size of history.sizes) {
        expect(size.bytes).toBeGreaterThan(0);
        const run = (await (await get(`/api/runs/${size.run_id}`)).json()) as {
          table_size: { table: string; rows: number; bytes: number | null };
        };
        expect(run.table_size).toEqual({ table: "orders", rows: size.rows, bytes: size.bytes });
      }
      const failed = (await (await get("/api/runs?pipeline=strict")).json()) as RunsDoc;
      expect(failed.runs[0]).not.toHaveProperty("table_size");
      const page = await (await get("/tables/orders")).text();
      expect(page).toMatch(/id="table-size">2 rows/);
      expect(page).toContain('id="table-size-data"');
    },
  );

  it.skipIf(!available)(
    "lineage from the recorded runs: ledger files and loads laid over sluice.yaml",
    async () => {
      const graph = (await (await get("/api/lineage")).json()) as {
        nodes: { id: string; origin: string }[];
        edges: { from: string; to: string; origin: string; recorded?: Record<string, unknown> }[];
        error?: string;
      };
      expect(graph.error).toBeUndefined();
      const edge = (from: string, to: string) => graph.edges.find((e) => e.from === from && e.to === to);
      expect(edge("files:in/orders/*.csv", "pipeline:orders")).toMatchObject({
        origin: "both",
        recorded: { files: 2, rows: 2 },
      });
      expect(edge("pipeline:orders", "table:orders")).toMatchObject({
        origin: "both",
        recorded: { loads: 2, rows: 2 },
      });
      // The strict pipeline's only run failed: nothing recorded proves its edges yet.
      expect(edge("pipeline:strict", "table:strict_t")).toMatchObject({ origin: "config" });
      expect(edge("pipeline:strict", "table:strict_t")?.recorded).toBeUndefined();
      expect(graph.nodes.find((n) => n.id === "pipeline:orders")?.origin).toBe("both");
      const page = await (await get("/lineage")).text();
      expect(page).toContain('class="config" data-edge="pipeline:strict -> table:strict_t"');
      expect(page).toContain('class="both" data-edge="pipeline:orders -> table:orders"');
    },
  );

  it.skipIf(!available)(
    "/metrics: runs, rows, durations, quarantine, freshness in Prometheus text",
    async () => {
      const r = await get("/metrics");
      expect(r.headers.get("content-type")).toMatch(/text\/plain/);
      const text = await r.text();
      expect(text).toContain('sluice_runs_total{pipeline="orders",status="succeeded"} 2');
      expect(text).toContain('sluice_runs_total{pipeline="strict",status="failed"} 1');
      expect(text).toContain('sluice_rows_total{pipeline="orders",outcome="loaded"} 2');
      expect(text).toContain('sluice_quarantine_rows{pipeline="orders"} 2');
      expect(text).toContain('sluice_run_duration_seconds_count{pipeline="orders"} 2');
      expect(text).toMatch(/sluice_last_success_timestamp_seconds\{pipeline="orders"\} \d+/);
      expect(text).not.toMatch(/sluice_last_success_timestamp_seconds\{pipeline="strict"\}/);
      expect(text).toContain('sluice_files_pending{pipeline="strict"} 0');
    },
  );

  it.skipIf(!available)(
    "/metrics run totals equal a count over every run `sluice runs --json` lists",
    async () => {
      type Run = RunsDoc["runs"][number] & {
        started_at: string;
        finished_at: string;
        rows: Record<string, number>;
      };
      const runs = (await sluice(["runs", "--limit", "1000", "--json"], dir)).json<{ runs: Run[] }>().runs;
      expect(runs.length).toBeGreaterThanOrEqual(3);
      const text = await (await get("/metrics")).text();
      const value = (name: string, labels: string) => {
        const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}} `));
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
      };
      const buckets = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];
      for (const pipeline of new Set(runs.map((r) => r.pipeline))) {
        const mine = runs.filter((r) => r.pipeline === pipeline);
        for (const status of new Set(mine.map((r) => r.status))) {
          const labels = `pipeline="${pipeline}",status="${status}"`;
          expect(value("sluice_runs_total", labels), labels).toBe(
            mine.filter((r) => r.status === status).length,
          );
        }
        for (const outcome of ["read", "loaded", "quarantined", "malformed", "duplicates"]) {
          const sum = mine.reduce((n, r) => n + (r.rows[outcome] ?? 0), 0);
          expect(value("sluice_rows_total", `pipeline="${pipeline}",outcome="${outcome}"`), outcome).toBe(
            sum,
          );
        }
        const timed = mine.filter((r) => r.status !== "skipped");
        const seconds = timed.map((r) => (Date.parse(r.finished_at) - Date.parse(r.started_at)) / 1000);
        expect(value("sluice_run_duration_seconds_count", `pipeline="${pipeline}"`)).toBe(timed.length);
        for (const le of buckets) {
          expect(
            value("sluice_run_duration_seconds_bucket", `pipeline="${pipeline}",le="${le}"`),
            `le ${le}`,
          ).toBe(seconds.filter((s) => s <= le).length);
        }
      }
    },
  );

  it.skipIf(!available)("writes need a POST with the CSRF token; a foreign Host is refused", async () => {
    const { runs } = (await (await get("/api/runs?pipeline=strict")).json()) as RunsDoc;
    const id = runs[0]!.run_id;
    expect((await get(`/runs/${id}/replay`, { method: "GET" })).status).toBe(404);
    const noToken = await get(`/runs/${id}/replay`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "",
    });
    expect(noToken.status).toBe(403);
    const forged = await get(`/runs/${id}/replay`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=0000",
    });
    expect(forged.status).toBe(403);
    // fetch() cannot set Host: a raw request plays the DNS-rebinding page.
    const rebound = await new Promise<number>((resolve, reject) => {
      const u = new URL(served.url);
      request(
        { host: u.hostname, port: u.port, path: "/api/runs", headers: { host: "evil.example:8321" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on("error", reject)
        .end();
    });
    expect(rebound).toBe(403);
  });

  it.skipIf(!available || kind !== "duckdb")(
    "lets go of the embedded warehouse: `sluice run` works while it serves",
    async () => {
      expect((await get("/api/runs")).status).toBe(200);
      addFile(dir, "landing/in/orders/c.csv", "id,email,note\n20,erin@example.com,ok\n");
      const run = await sluice(["run", "orders", "--json"], dir, { env: { SLUICE_LOCK_WAIT: "20s" } });
      expect(run.code, run.stderr).toBe(0);
      const after = (await (await get("/api/runs?pipeline=orders&limit=1")).json()) as RunsDoc;
      expect(after.runs[0]!.run_id).toBe(run.json<RunsDoc>().runs[0]!.run_id);
    },
  );
});

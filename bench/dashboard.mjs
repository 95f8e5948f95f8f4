// Dashboard latency: a catalog of BENCH_DASH_RUNS runs (default 10,000) and BENCH_DASH_QUARANTINE
// quarantined rows (default 1,000,000), generated in SQL; `sluice serve` in this process answers each
// page and API call 20 times; p95 per call. Target: every call < 300 ms at p95, on DuckDB and (when
// reachable) PostgreSQL. Reported as p95 / 300 ms (<= 1 passes).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { reportRatio } from "./data.mjs";

const dist = new URL("../dist/", import.meta.url).pathname;
const { loadProject } = await import(`${dist}project/load-config.js`);
const { createProjectContext } = await import(`${dist}run/project-context.js`);
const { startDashboard } = await import(`${dist}server/start-dashboard.js`);
const RUNS = Number(process.env.BENCH_DASH_RUNS ?? 10_000);
const QUARANTINED = Number(process.env.BENCH_DASH_QUARANTINE ?? 1_000_000);
const PIPELINES = 10;
const TARGET_MS = 300;

const runsSql = (seq) => `INSERT INTO sluice.runs
  SELECT 'r' || lpad(CAST(i AS VARCHAR), 8, '0'), 'p' || (i % ${PIPELINES}), i, CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END,
         TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 minute', TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 minute' + INTERVAL '3 seconds',
         1000, 900, 100, 10, 0, NULL,
         CAST('{"run_id":"r' || lpad(CAST(i AS VARCHAR), 8, '0') || '","pipeline":"p' || (i % ${PIPELINES}) || '","status":"succeeded","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:03Z","sequence":' || i || ',"files":[],"rows":{"read":1000,"loaded":900,"quarantined":100,"malformed":10,"duplicates":0},"checks":[],"error":null,"log":null,"quarantine":null}' AS ${seq})
    FROM ${seq === "JSON" ? `range(1, ${RUNS + 1}) t(i)` : `generate_series(1, ${RUNS}) t(i)`}`;
const quarantineSql = (
  json,
  arr,
) => `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw, quarantined_at)
  SELECT 'r' || lpad(CAST(1 + i % ${RUNS} AS VARCHAR), 8, '0'), 'p' || ((1 + i % ${RUNS}) % ${PIPELINES}), 'in/f' || (i % ${RUNS}) || '.csv', i % 1000,
         ${arr}, ${arr}, CAST('{"id":' || i || ',"email":"a***@example.com"}' AS ${json}), NULL,
         TIMESTAMPTZ '2026-01-01 00:00:00+00' + (1 + i % ${RUNS}) * INTERVAL '1 minute'
    FROM ${json === "JSON" ? `range(0, ${QUARANTINED}) t(i)` : `generate_series(0, ${QUARANTINED - 1}) t(i)`}`;

async function measure(label, warehouse, fill) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-dash-"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `warehouse: ${warehouse}\npipelines:\n${Array.from({ length: PIPELINES }, (_, i) => `  p${i}:\n    source: { path: "in/p${i}/*.csv" }\n    target: { table: t${i} }\n`).join("")}`,
  );
  const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
  const started = Date.now();
  await fill(ctx);
  console.log(
    `${label}: ${RUNS} runs, ${QUARANTINED} quarantined rows generated in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const dashboard = await startDashboard(ctx, { host: "127.0.0.1", port: 0 });
  const calls = [
    "/runs",
    "/runs?pipeline=p3&status=failed",
    "/runs?page=100",
    `/api/runs?limit=50&offset=${Math.floor(RUNS / 2)}`,
    `/runs/r${String(Math.floor(RUNS / 2)).padStart(8, "0")}`,
    "/quarantine?pipeline=p3",
    `/quarantine?pipeline=p3&page=${Math.max(1, Math.floor(QUARANTINED / PIPELINES / 100))}`,
    `/api/quarantine?pipeline=p3&run=r${String(Math.floor(RUNS / 2) + 3).padStart(8, "0")}`,
    "/quality?pipeline=p3",
    "/tables",
    "/lineage",
    "/health",
    "/metrics",
  ];
  let worst = 0;
  try {
    for (const path of calls) {
      const times = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const r = await fetch(`${dashboard.url}${path}`);
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const p95 = times[Math.floor(times.length * 0.95) - 1];
      worst = Math.max(worst, p95);
      console.log(`${label} ${path.padEnd(44)} p50 ${times[10].toFixed(0)} ms, p95 ${p95.toFixed(0)} ms`);
    }
  } finally {
    await dashboard.close();
    rmSync(dir, { recursive: true, force: true });
  }
  reportRatio(`dashboard_${label}_worst_p95_over_300ms`, worst / TARGET_MS, 1);
}

await measure("duckdb", "duckdb:warehouse.duckdb", async (ctx) => {
  const w = await ctx.openWarehouse();
  try {
    await w.engine.run(runsSql("JSON"));
    await w.engine.run(quarantineSql("JSON", "['not_null(id)']"));
  } finally {
    await w.close();
  }
});

const server = process.env.SLUICE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432";
const admin = new pg.Client({ connectionString: `${server}/postgres` });
try {
  await admin.connect();
} catch {
  console.log("postgres: not reachable, skipped");
  process.exit(0);
}
const db = `sluice_bench_dash_${process.pid}`;
await admin.query(`CREATE DATABASE ${db}`);
try {
  await measure("postgres", `${server}/${db}`, async (ctx) => {
    await (await ctx.openWarehouse()).close(); // creates the catalog
    const c = new pg.Client({ connectionString: `${server}/${db}` });
    await c.connect();
    await c.query(runsSql("JSONB"));
    await c.query(quarantineSql("JSONB", "ARRAY['not_null(id)']"));
    await c.query("ANALYZE");
    await c.end();
  });
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end();
}

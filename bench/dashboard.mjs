// Dashboard latency: a catalog of BENCH_DASH_RUNS runs (default 10,000: one loaded file and one table load
// each, their reports with the table's size) and BENCH_DASH_QUARANTINE quarantined rows (default 1,000,000),
// generated in SQL (one INSERT ... SELECT per catalog table); `sluice serve` in this process answers each
// page and API call 20 times, each time after a baseline request that reads nothing (/api/live); p95 per
// call beside the baseline's. Target: every call < 300 ms at p95, on DuckDB and (when
// reachable) PostgreSQL. Reported as p95 / 300 ms (<= 1 passes). BENCH_DASH_KEEP=1 keeps the generated
// catalogs (the PostgreSQL database and the DuckDB project folder) for EXPLAIN; BENCH_DASH_DUCKDB_DIR=<kept
// folder> measures a kept DuckDB catalog again instead of generating one (opened read-write first, as a
// new build opens an existing catalog); BENCH_DASH_ONLY=duckdb skips PostgreSQL. Each call's CPU (this
// process, all threads: the server and the client's fetch) is printed beside its latency: on a loaded
// machine it says what a change saves when the wall times mostly wait for a core.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { reportRatio } from "./data.mjs";

const dist = new URL("../dist/", import.meta.url).pathname;
const { loadProject } = await import(`${dist}project/load-config.js`);
const { createProjectContext } = await import(`${dist}run/project-context.js`);
const { startDashboard } = await import(`${dist}server/start-dashboard.js`);
const { listQuarantine } = await import(`${dist}catalog/quarantine.js`);
const { RUN_TOTALS_BACKFILL_SQL } = await import(`${dist}warehouse/run-totals.js`);
const RUNS = Number(process.env.BENCH_DASH_RUNS ?? 10_000);
const QUARANTINED = Number(process.env.BENCH_DASH_QUARANTINE ?? 1_000_000);
const KEEP = process.env.BENCH_DASH_KEEP === "1";
const REUSE = process.env.BENCH_DASH_DUCKDB_DIR;
const PIPELINES = 10;
const TARGET_MS = 300;
// The last pipeline is a stream's (its runs are batches that recorded their lag); the broker is never asked.
const STREAM = PIPELINES - 1;
const source = (i) =>
  i === STREAM
    ? `{ stream: { kind: nats, url: "nats://127.0.0.1:4222", stream: BENCH, subject: "bench.>", durable: bench } }`
    : `{ path: "in/p${i}/*.csv" }`;

/** The generated catalog, one INSERT ... SELECT per table; `pg` switches the SQL to PostgreSQL's. */
function seedSql(pg) {
  const json = pg ? "JSONB" : "JSON";
  const series = (from, to) => (pg ? `generate_series(${from}, ${to})` : `range(${from}, ${to + 1})`);
  const arr = pg ? "ARRAY['not_null(id)']" : "['not_null(id)']";
  const id = "'r' || lpad(CAST(i AS VARCHAR), 8, '0')";
  const p = `'p' || (i % ${PIPELINES})`;
  const at = "TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 minute'";
  // Each run appends 900 rows to its pipeline's table: its size after the run is 900 x the runs so far.
  const nth = `(i / ${PIPELINES} + 1)`;
  const report = `'{"run_id":"' || ${id} || '","pipeline":"' || ${p} || '","status":"' || CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END || '","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:03Z","sequence":' || i || ',"files":[{"path":"in/' || ${p} || '/f' || i || '.csv","sha256":"x","size":50000,"status":"loaded","archived_to":"archive/f' || i || '.csv","rows":{"read":1000,"loaded":900,"quarantined":100,"malformed":10,"duplicates":0},"error":null,"warnings":[]}],"rows":{"read":1000,"loaded":900,"quarantined":100,"malformed":10,"duplicates":0},"checks":[],"error":null,"log":null,"quarantine":null,"load":{"table":"t' || (i % ${PIPELINES}) || '","mode":"append","inserted":900,"updated":0,"deleted":0},"table_size":{"table":"t' || (i % ${PIPELINES}) || '","rows":' || (900 * ${nth}) || ',"bytes":' || (65536 * ${nth}) || '}' || CASE WHEN i % ${PIPELINES} = ${STREAM} THEN ',"stream":{"pending":' || (20000 - i) || ',"oldest_age_ms":1500}' ELSE '' END || '}'`;
  return [
    `INSERT INTO sluice.runs
       SELECT ${id}, ${p}, i, CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END, ${at}, ${at} + INTERVAL '3 seconds',
              1000, 900, 100, 10, 0, NULL, CAST(${report} AS ${json})
         FROM ${series(1, RUNS)} t(i)`,
    `INSERT INTO sluice.files
       SELECT ${id}, ${p}, 'in/' || ${p} || '/f' || i || '.csv', 'sha' || i, 50000, 'loaded', 1000, 900,
              'archive/f' || i || '.csv', NULL, ${at}
         FROM ${series(1, RUNS)} t(i)`,
    `INSERT INTO sluice.loads (run_id, pipeline, table_name, mode, inserted, updated, deleted, saved, loaded_at)
       SELECT ${id}, ${p}, 't' || (i % ${PIPELINES}), 'append', 900, 0, 0, 0, ${at} FROM ${series(1, RUNS)} t(i)`,
    // A run's quarantined rows are written together, as a run writes them.
    `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw, quarantined_at)
       SELECT 'r' || lpad(CAST(n AS VARCHAR), 8, '0'), 'p' || (n % ${PIPELINES}), 'in/p' || (n % ${PIPELINES}) || '/f' || n || '.csv',
              i % 1000, ${arr}, ${arr}, CAST('{"id":' || i || ',"email":"a***@example.com"}' AS ${json}), NULL,
              TIMESTAMPTZ '2026-01-01 00:00:00+00' + n * INTERVAL '1 minute'
         FROM (SELECT i, 1 + CAST(floor(i * 1.0 * ${RUNS} / ${QUARANTINED}) AS BIGINT) AS n FROM ${series(0, QUARANTINED - 1)} t(i)) q`,
    // The per-run counts a publish keeps beside its quarantined rows.
    `INSERT INTO sluice.quarantine_runs (pipeline, run_id, quarantined_at, rows_quarantined)
       SELECT pipeline, run_id, quarantined_at, count(*) FROM sluice.quarantine GROUP BY pipeline, run_id, quarantined_at`,
    // The run totals a publish keeps beside each run.
    RUN_TOTALS_BACKFILL_SQL,
  ];
}

async function measure(label, warehouse, fill, reuse) {
  const dir = reuse ?? mkdtempSync(join(tmpdir(), "sluice-bench-dash-"));
  if (!reuse) {
    writeFileSync(
      join(dir, "sluice.yaml"),
      `warehouse: ${warehouse}\npipelines:\n${Array.from({ length: PIPELINES }, (_, i) => `  p${i}:\n    source: ${source(i)}\n    target: { table: t${i} }\n`).join("")}`,
    );
  }
  const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
  const started = Date.now();
  if (reuse) await (await ctx.openWarehouse()).close();
  else await fill(ctx);
  console.log(
    `${label}: ${RUNS} runs, ${QUARANTINED} quarantined rows ${reuse ? "opened" : "generated"} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const dashboard = await startDashboard(ctx, { host: "127.0.0.1", port: 0 });
  const mid = (n) => `r${String(n).padStart(8, "0")}`;
  const calls = [
    "/runs",
    "/runs?pipeline=p3&status=failed",
    "/runs?page=100",
    `/api/runs?limit=50&offset=${Math.floor(RUNS / 2)}`,
    `/runs/${mid(Math.floor(RUNS / 2))}`,
    `/api/runs/${mid(Math.floor(RUNS / 2))}`,
    "/api/streams",
    "/quarantine?pipeline=p3",
    `/quarantine?pipeline=p3&page=${Math.max(1, Math.floor(QUARANTINED / PIPELINES / 100))}`,
    `/api/quarantine?pipeline=p3&offset=${Math.floor(QUARANTINED / PIPELINES / 2)}`,
    `/api/quarantine?pipeline=p3&run=${mid(Math.floor(RUNS / 2) + 3)}`,
    "/quality?pipeline=p3",
    "/api/quality?pipeline=p3",
    "/tables",
    "/api/tables",
    "/tables/t3",
    "/api/tables/t3/history",
    "/lineage",
    "/api/lineage",
    "/health",
    "/api/health",
    "/metrics",
  ];
  // The baseline: a request that reads nothing (the live runs of this process), sent before each measured
  // call so both see the same load; a call's p95 over the baseline's says what the catalog read costs.
  const BASELINE = "/api/live";
  let cpu = 0;
  const timed = async (path) => {
    const c = process.cpuUsage();
    const t = performance.now();
    const r = await fetch(`${dashboard.url}${path}`);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
    const used = process.cpuUsage(c);
    cpu = (used.user + used.system) / 1000;
    return performance.now() - t;
  };
  const p95Of = (times) => [...times].sort((a, b) => a - b)[Math.ceil(times.length * 0.95) - 1];
  const p50Of = (times) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  let worst = 0;
  const baseline = [];
  try {
    for (const path of calls) {
      const times = [];
      const base = [];
      let cpuSum = 0;
      for (let i = 0; i < 20; i++) {
        base.push(await timed(BASELINE));
        times.push(await timed(path));
        cpuSum += cpu;
      }
      baseline.push(...base);
      const p95 = p95Of(times);
      worst = Math.max(worst, p95);
      console.log(
        `${label} ${path.padEnd(44)} p50 ${p50Of(times).toFixed(0)} ms, p95 ${p95.toFixed(0)} ms (baseline p95 ${p95Of(base).toFixed(0)} ms), CPU ${(cpuSum / 20).toFixed(1)} ms`,
      );
    }
    console.log(
      `${label} baseline ${BASELINE} over all calls: p50 ${p50Of(baseline).toFixed(0)} ms, p95 ${p95Of(baseline).toFixed(0)} ms; worst call p95 ${worst.toFixed(0)} ms`,
    );
  } finally {
    await dashboard.close();
    if (KEEP || reuse) console.log(`${label}: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  reportRatio(`dashboard_${label}_worst_p95_over_300ms`, worst / TARGET_MS, 1);
}

await measure(
  "duckdb",
  "duckdb:warehouse.duckdb",
  async (ctx) => {
    const w = await ctx.openWarehouse();
    try {
      for (const sql of seedSql(false)) await w.engine.run(sql);
      // The generated pages are the ones a run writes: a deep page equals what the catalog returns for it.
      const deep = await listQuarantine(w, { pipeline: "p3", limit: 1, offset: 60_000 });
      if (QUARANTINED >= 1_000_000 && deep.length !== 1) throw new Error("quarantine not generated");
    } finally {
      await w.close();
    }
  },
  REUSE,
);
if (process.env.BENCH_DASH_ONLY === "duckdb") process.exit(0);

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
    for (const sql of seedSql(true)) await c.query(sql);
    // What autovacuum does to insert-only tables (PostgreSQL 13+): statistics and the visibility map.
    await c.query("VACUUM ANALYZE");
    await c.end();
  });
} finally {
  if (KEEP) console.log(`postgres: kept database ${db}`);
  else await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.end();
}

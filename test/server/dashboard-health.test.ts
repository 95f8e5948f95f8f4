import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServedDashboard, startServed } from "../support/dashboard.js";
import { createTestDatabase, pingPostgres, queryDatabase } from "../support/postgres.js";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { dashboardProject } from "./dashboard-fixture.js";

interface Health {
  kind: string;
  tables: { schema: string; table: string; rows: number; bytes: number | null }[];
  indexes?: { schema: string; table: string; index: string; scans: number; bytes: number }[];
  slow_statements?: { query: string; calls: number; mean_ms: number; total_ms: number }[] | null;
  connections?: { state: string; count: number; waiting: number; longest_ms: number }[];
  pool?: {
    total: number;
    idle: number;
    waiting: number;
    checkouts: number;
    wait_ms_total: number;
    wait_ms_max: number;
  } | null;
}

/** What every PostgreSQL health answer has: sizes, index usage, connections, the dashboard's pool. */
function expectPostgresHealth(health: Health, page: string): void {
  expect(health.kind).toBe("postgres");
  const orders = health.tables.find((t) => t.table === "orders");
  expect(orders?.bytes).toBeGreaterThan(0);
  // The catalog's own indexes (sluice.*) are listed with their scans and sizes.
  const catalog = health.indexes!.filter((i) => i.schema === "sluice");
  expect(catalog.length).toBeGreaterThan(0);
  for (const i of catalog) {
    expect(Number.isInteger(i.scans) && i.scans >= 0, i.index).toBe(true);
    expect(i.bytes, i.index).toBeGreaterThan(0);
  }
  expect(catalog.some((i) => i.scans > 0)).toBe(true);
  // This request's own connection is active in pg_stat_activity; the pool holds it.
  expect(health.connections!.find((c) => c.state === "active")?.count).toBeGreaterThanOrEqual(1);
  for (const c of health.connections!) {
    expect(c.waiting, c.state).toBeGreaterThanOrEqual(0);
    expect(c.waiting, c.state).toBeLessThanOrEqual(c.count);
    expect(c.longest_ms, c.state).toBeGreaterThanOrEqual(0);
  }
  const pool = health.pool!;
  expect(pool.total).toBeGreaterThanOrEqual(1);
  expect(pool.waiting).toBeGreaterThanOrEqual(0);
  // The pool's wait times: every checkout so far (the requests before this one took some), how long.
  expect(pool.checkouts).toBeGreaterThanOrEqual(1);
  expect(pool.wait_ms_max).toBeGreaterThan(0);
  expect(pool.wait_ms_total).toBeGreaterThanOrEqual(pool.wait_ms_max);
  expect(page).toContain('id="indexes"');
  expect(page).toMatch(/waiting on locks or I\/O<\/th><th>longest in state/);
  expect(page).toMatch(
    /dashboard pool: \d+ open, \d+ idle, \d+ waiting; \d+ checkouts waited [\d.]+ m?s on average, [\d.]+ m?s at most/,
  );
}

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

describe.skipIf(!pgAvailable)("/health on PostgreSQL without pg_stat_statements", () => {
  let served: ServedDashboard;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTestDatabase();
    cleanup = db.cleanup;
    served = await startServed(await dashboardProject(db.url), ["serve", "--port", "0"]);
  });
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
    await cleanup?.();
  });

  it("shows sizes, index usage, connections and the pool; says the extension is missing", async () => {
    const health = (await (await fetch(`${served.url}/api/health`)).json()) as Health;
    const page = await (await fetch(`${served.url}/health`)).text();
    expectPostgresHealth(health, page);
    expect(health.slow_statements).toBeNull();
    expect(page).toContain("pg_stat_statements is not installed in this database");
  });
});

// A server of this test's own: pg_stat_statements must be preloaded, which the shared one is not.
let server: PrivatePostgres | undefined;
const privateAvailable = await serviceAvailable("a private PostgreSQL (initdb/pg_ctl)", async () => {
  server = await startPrivatePostgres({ shared_preload_libraries: "pg_stat_statements" });
});
afterAll(async () => {
  await server?.stop();
});

describe.skipIf(!privateAvailable)("/health on PostgreSQL with pg_stat_statements", () => {
  let served: ServedDashboard;
  beforeAll(async () => {
    await queryDatabase(server!.url, "CREATE EXTENSION pg_stat_statements");
    served = await startServed(await dashboardProject(server!.url), ["serve", "--port", "0"]);
  }, 60_000);
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
  });

  it("lists the slowest statements of the database beside the rest", async () => {
    const health = (await (await fetch(`${served.url}/api/health`)).json()) as Health;
    const page = await (await fetch(`${served.url}/health`)).text();
    expectPostgresHealth(health, page);
    const slow = health.slow_statements!;
    expect(slow.length).toBeGreaterThan(0);
    expect(slow.length).toBeLessThanOrEqual(10);
    for (const s of slow) {
      expect(s.query.length).toBeGreaterThan(0);
      expect(s.calls).toBeGreaterThanOrEqual(1);
      expect(s.total_ms).toBeGreaterThanOrEqual(s.mean_ms);
    }
    // Slowest first; the runs' catalog writes are among them.
    expect(slow.map((s) => s.mean_ms)).toEqual([...slow.map((s) => s.mean_ms)].sort((a, b) => b - a));
    expect(page).not.toContain("pg_stat_statements is not installed");
    expect(page).toContain("<h2>Slow statements</h2><table>");
    // Statement texts carry no data: the fixture's masked e-mail addresses show nowhere.
    for (const clear of ["alice@example.com", "bob@example.com", "carol@example.com", "dan@example.com"]) {
      expect(JSON.stringify(health)).not.toContain(clear);
      expect(page).not.toContain(clear);
    }
  });
});

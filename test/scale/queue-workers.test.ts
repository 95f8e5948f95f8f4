import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { cliPath, makeProject, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const WORKERS = 4;
const LARGE = 6;
const SMALL = 54;
const LARGE_ROWS = 40_000;
const SMALL_ROWS = 20;
const KILLS = 12;

const rowsOf = (f: number) => (f < LARGE ? LARGE_ROWS : SMALL_ROWS);
const fileName = (f: number) => `in/part-${String(f).padStart(3, "0")}.csv`;

describe.skipIf(!available)("sluice worker: several processes on one queue, killed at random", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    const files: Record<string, string> = {};
    let id = 0;
    for (let f = 0; f < LARGE + SMALL; f++) {
      const lines = Array.from({ length: rowsOf(f) }, (_, i) => `${id++},item ${f}-${i},${(i % 97) / 4}`);
      files[`landing/${fileName(f)}`] = `id,name,amount\n${lines.join("\n")}\n`;
    }
    dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  scaled:\n    source: { path: "in/*.csv" }\n    target: { table: scaled, mode: append }\n`,
      files,
    );
  });
  afterAll(async () => {
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`${WORKERS} workers, ${KILLS} SIGKILLs, restarts: every file loaded once and archived once`, async () => {
    const exits: Promise<unknown>[] = [];
    const start = (): ChildProcess => {
      const child = spawn(
        process.execPath,
        [
          cliPath,
          "worker",
          "--lease",
          "3s",
          "--discover-every",
          "1s",
          "--group",
          "4",
          "--exit-when-idle",
          "4s",
        ],
        { cwd: dir, stdio: "ignore" },
      );
      exits.push(new Promise((done) => child.on("close", done)));
      return child;
    };
    const workers = Array.from({ length: WORKERS }, start);
    let kills = 0;
    while (kills < KILLS) {
      await new Promise((r) => setTimeout(r, 600 + Math.floor(Math.random() * 900)));
      const i = Math.floor(Math.random() * WORKERS);
      if (workers[i]!.exitCode !== null) {
        workers[i] = start(); // it ran out of work and left: the next round needs it back
        continue;
      }
      workers[i]!.kill("SIGKILL");
      kills++;
      workers[i] = start();
    }
    // The survivors drain the queue (leases of the killed expire after 3 s) and leave when it is empty.
    await Promise.race([
      Promise.all(exits),
      new Promise((_, fail) => setTimeout(() => fail(new Error("workers did not drain the queue")), 90_000)),
    ]);

    expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
    const archived = readdirSync(join(dir, "landing/archive/scaled"), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".csv"));
    expect(archived).toHaveLength(LARGE + SMALL);
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    try {
      const perFile = await w.query(
        "SELECT _sluice_source_file AS f, count(*) AS n, count(DISTINCT id) AS d FROM scaled GROUP BY 1 ORDER BY 1",
      );
      expect(perFile).toEqual(
        Array.from({ length: LARGE + SMALL }, (_, f) => ({ f: fileName(f), n: rowsOf(f), d: rowsOf(f) })),
      );
      const ledger = await w.query(
        "SELECT sha256, count(*) AS n FROM sluice.files WHERE status = 'loaded' GROUP BY 1",
      );
      expect(ledger).toHaveLength(LARGE + SMALL);
      expect(ledger.every((l) => Number(l.n) === 1)).toBe(true);
      // Every run that loaded rows names the worker that ran it.
      const runs = await w.query("SELECT report->>'worker' AS worker FROM sluice.runs WHERE rows_loaded > 0");
      expect(runs.length).toBeGreaterThan(0);
      expect(runs.every((r) => typeof r.worker === "string" && r.worker.length > 0)).toBe(true);
    } finally {
      await w.close();
    }
    const listed = await sluice(["workers", "--json", "--lease", "3s"], dir);
    expect(listed.code).toBe(0);
    const { workers: registry } = JSON.parse(listed.stdout) as {
      workers: { state: string; files: number }[];
    };
    // Workers killed after registering show as lost, the ones that drained the queue as stopped.
    expect(registry.filter((r) => r.state === "stopped").length).toBeGreaterThanOrEqual(1);
    expect(registry.filter((r) => r.state === "lost").length).toBeGreaterThanOrEqual(1);
    expect(registry.every((r) => r.state === "stopped" || r.state === "lost")).toBe(true);
    // Some kills hit a claimed unit: its lease expired and another worker ran it again.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT count(*) FILTER (WHERE retry_count > 0)::int AS redone, count(*)::int AS units FROM sluice_queue.job WHERE name = 'sluice-files'",
      );
      console.log(`queue-workers: ${rows[0].units} units, ${rows[0].redone} taken over after a kill`);
      expect(rows[0].redone).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  }, 150_000);

  it("on a duckdb: warehouse, sluice worker explains that scale-out needs PostgreSQL (exit 2)", async () => {
    const local = makeProject(
      `warehouse: duckdb:warehouse.duckdb\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: p }\n`,
    );
    try {
      const result = await sluice(["worker"], local);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/needs a PostgreSQL warehouse/);
    } finally {
      rmSync(local, { recursive: true, force: true });
    }
  });
});

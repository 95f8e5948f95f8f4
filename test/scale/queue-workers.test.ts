import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listDeltaLog, readCommit } from "../../src/lake/delta-log.js";
import { loadSnapshot, registerDeltaView } from "../../src/lake/index.js";
import { s3Storage } from "../../src/storage/s3-storage.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { cliPath, makeProject, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { S3RVER_CREDENTIALS, startS3Server } from "../support/s3-server.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const WORKERS = 4;
const LARGE = 6;
// npm test runs 60 files to keep its time; the scale is SLUICE_QUEUE_TEST_FILES=500.
const FILES = Number(process.env.SLUICE_QUEUE_TEST_FILES ?? 60);
const SMALL = FILES - LARGE;
// Time to drain the queue after the kills, and for the whole test: more files take longer.
const DRAIN_MS = Math.max(90_000, FILES * 1_000);
const LARGE_ROWS = 40_000;
const SMALL_ROWS = 20;
const KILLS = 12;
// The Delta-on-S3 case runs 20 files and 6 kills in npm test; at the scale (the variable set), as
// many files and kills as the warehouse case.
const FULL_SCALE = process.env.SLUICE_QUEUE_TEST_FILES !== undefined;
const LAKE_FILES = FULL_SCALE ? FILES : 20;
const LAKE_KILLS = FULL_SCALE ? KILLS : 6;

const rowsOf = (f: number) => (f < LARGE ? LARGE_ROWS : SMALL_ROWS);
const fileName = (f: number) => `in/part-${String(f).padStart(3, "0")}.csv`;

/** Runs WORKERS workers in `dir`, SIGKILLs one at random `kills` times (restarting it), then lets them drain. */
async function chaos(dir: string, url: string, kills: number, env: NodeJS.ProcessEnv): Promise<void> {
  const registry = new pg.Client({ connectionString: url });
  await registry.connect();
  const exits: Promise<number | null>[] = [];
  const shot = new Set<ChildProcess>();
  const failures: string[] = [];
  const tails = new Map<ChildProcess, () => string>();
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
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    tails.set(child, () => stderr);
    exits.push(
      new Promise((done) =>
        child.on("close", (code) => {
          if (!shot.has(child) && code !== 0) failures.push(`worker exited ${code}: ${stderr}`);
          done(shot.has(child) ? 0 : code);
        }),
      ),
    );
    return child;
  };
  const workers = Array.from({ length: WORKERS }, start);
  let killed = 0;
  while (killed < kills) {
    await new Promise((r) => setTimeout(r, 600 + Math.floor(Math.random() * 900)));
    // Every other kill hits a worker holding a unit (as its last heartbeat says), the others anyone.
    const holding = await registry
      .query("SELECT pid FROM sluice_queue.workers WHERE state = 'running' AND claims <> '[]'")
      .then((r) => new Set(r.rows.map((row: { pid: number }) => row.pid)))
      .catch(() => new Set<number>());
    const busy = workers.flatMap((w, i) => (w.pid !== undefined && holding.has(w.pid) ? [i] : []));
    const i =
      killed % 2 === 0 && busy.length > 0
        ? busy[Math.floor(Math.random() * busy.length)]!
        : Math.floor(Math.random() * WORKERS);
    if (workers[i]!.exitCode !== null) {
      workers[i] = start(); // it ran out of work and left: the next round needs it back
      continue;
    }
    shot.add(workers[i]!);
    workers[i]!.kill("SIGKILL");
    killed++;
    workers[i] = start();
  }
  await registry.end();
  // The survivors drain the queue (leases of the killed expire after 3 s) and leave when it is empty.
  let timer: NodeJS.Timeout | undefined;
  const codes = await Promise.race([
    Promise.all(exits),
    new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        // Say what the workers still running were doing, and stop them: left running, they would retry
        // forever against the database the test drops.
        const running = workers.filter((w) => w.exitCode === null && w.signalCode === null);
        const said = running.map((w) => `worker ${w.pid}: ${tails.get(w)?.() ?? ""}`).join("\n");
        for (const w of running) w.kill("SIGKILL");
        fail(new Error(`workers did not drain the queue\n${said}`));
      }, DRAIN_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  // Every worker not killed (several starting at once on a fresh database included) ended cleanly.
  expect(
    codes.every((code) => code === 0),
    failures.join("\n"),
  ).toBe(true);
}

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

  it(
    `${WORKERS} workers, ${KILLS} SIGKILLs, restarts: every file loaded once and archived once`,
    async () => {
      await chaos(dir, db.url, KILLS, {});

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
        const runs = await w.query(
          "SELECT report->>'worker' AS worker FROM sluice.runs WHERE rows_loaded > 0",
        );
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
    },
    DRAIN_MS + 60_000,
  );

  it(
    "with a Delta lake target on S3: the log stays contiguous, no add is lost, lake = warehouse",
    async () => {
      const s3 = await startS3Server({ buckets: ["scale-lake"] });
      const lakeDb = await createTestDatabase();
      const files: Record<string, string> = {};
      let id = 0;
      for (let f = 0; f < LAKE_FILES; f++) {
        const rows = Array.from({ length: f < 3 ? 20_000 : 30 }, (_, i) => `${id++},item ${f}-${i}`);
        files[`landing/${fileName(f)}`] = `id,name\n${rows.join("\n")}\n`;
      }
      const lakeDir = makeProject(
        `warehouse: "${lakeDb.url}"\nlake: s3://scale-lake/lake\ns3: { endpoint: "${s3.endpoint}", region: us-east-1, force_path_style: true }\npipelines:\n  events:\n    source: { path: "in/*.csv" }\n    target: { table: events, mode: append, lake: { table: events, format: delta } }\n`,
        files,
      );
      const env = {
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      };
      try {
        await chaos(lakeDir, lakeDb.url, LAKE_KILLS, env);
        expect(readdirSync(join(lakeDir, "landing/in"))).toEqual([]);
        const table = {
          storage: s3Storage({ ...s3.s3Options, bucket: "scale-lake", prefix: "lake" }),
          path: "events",
        };
        const listing = await listDeltaLog(table);
        const versions = [...listing.commits.keys()].sort((a, b) => a - b);
        expect(versions).toEqual(Array.from({ length: listing.latestVersion + 1 }, (_, v) => v));
        const instance = await DuckDBInstance.create(":memory:");
        const con = await instance.connect();
        const w = await openPostgresWarehouse({ url: lakeDb.url, readOnly: true });
        try {
          await registerDeltaView(con, table, "events_lake");
          const lake = (
            await con.runAndReadAll(
              "SELECT _sluice_source_file AS f, count(*)::INT AS n FROM events_lake GROUP BY 1 ORDER BY 1",
            )
          ).getRowObjects();
          const warehouse = await w.query(
            "SELECT _sluice_source_file AS f, count(*)::int AS n FROM events GROUP BY 1 ORDER BY 1",
          );
          expect(warehouse).toHaveLength(LAKE_FILES);
          expect(lake).toEqual(warehouse);
          // Every add of every commit is still live (appends only): none was overwritten by another.
          let adds = 0;
          for (const v of versions) adds += (await readCommit(table, v)).filter((a) => a.add).length;
          expect((await loadSnapshot(con, table)).files).toHaveLength(adds);
          // Every version was claimed through the warehouse's commit-coordination table, and completed.
          const claims = await w.query(
            "SELECT count(*)::int AS n, count(*) FILTER (WHERE complete)::int AS done FROM sluice.lake_commits WHERE name LIKE '%.json'",
          );
          expect(claims).toEqual([{ n: versions.length, done: versions.length }]);
        } finally {
          await w.close();
          con.closeSync();
          instance.closeSync();
        }
      } finally {
        rmSync(lakeDir, { recursive: true, force: true });
        await lakeDb.cleanup();
        await s3.stop();
      }
    },
    Math.max(150_000, DRAIN_MS + 60_000),
  );

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

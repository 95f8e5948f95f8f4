import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { listDeltaLog } from "../../src/lake/delta-log.js";
import { registerDeltaView } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { cliPath, makeProject } from "../support/cli.js";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-postgres.js";
import { serviceAvailable } from "../support/require-service.js";

let server: PrivatePostgres | undefined;
const available = await serviceAvailable("a private PostgreSQL (initdb/pg_ctl)", async () => {
  server = await startPrivatePostgres();
});

const FILES = 40;
const LARGE = 4;
const rowsOf = (f: number) => (f < LARGE ? 20_000 : 25);
const fileName = (f: number) => `in/part-${String(f).padStart(3, "0")}.csv`;

/** Files loaded so far, as the catalog says (0 while the server is down or the catalog not made yet). */
async function loadedFiles(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    const { rows } = await client.query(
      "SELECT count(*)::int AS n FROM sluice.files WHERE status = 'loaded'",
    );
    return Number(rows[0]?.n ?? 0);
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function waitForLoaded(url: string, n: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await loadedFiles(url)) >= n) return;
    await sleep(100);
  }
  throw new Error(`${n} files were not loaded in time`);
}

// The queue, the catalog and the warehouse are one PostgreSQL server: restarting it terminates every
// connection of every worker (leases, heartbeats, claims and publishes in flight) at once.
describe.skipIf(!available)("sluice worker: PostgreSQL restarted while workers run", () => {
  afterAll(async () => {
    await server?.stop();
  });

  it("workers resume: every file loaded once and archived once; the Delta lake = the warehouse", async () => {
    const files: Record<string, string> = {};
    let id = 0;
    for (let f = 0; f < FILES; f++) {
      const lines = Array.from({ length: rowsOf(f) }, (_, i) => `${id++},item ${f}-${i}`);
      files[`landing/${fileName(f)}`] = `id,name\n${lines.join("\n")}\n`;
    }
    const dir = makeProject(
      `warehouse: "${server!.url}"\nlake: lake\npipelines:\n  parts:\n    source: { path: "in/*.csv" }\n    target: { table: parts, mode: append, lake: { table: parts, format: delta } }\n    retries: { max: 5, base: 200ms, max_delay: 1s }\n`,
      files,
    );
    const stderr: string[] = [];
    type Exit = { code: number | null; signal: NodeJS.Signals | null };
    const start = (n: number, extra: string[]): { child: ChildProcess; exited: Promise<Exit> } => {
      const child = spawn(
        process.execPath,
        [
          cliPath,
          "worker",
          "--lease",
          "4s",
          "--discover-every",
          "1s",
          "--group",
          "3",
          "--exit-when-idle",
          "5s",
          ...extra,
        ],
        { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
      );
      child.stderr?.on("data", (d: Buffer) => stderr.push(`[worker ${n}] ${d.toString()}`));
      return {
        child,
        exited: new Promise((done) => child.on("close", (code, signal) => done({ code, signal }))),
      };
    };
    try {
      const workers = [start(1, []), start(2, ["--concurrency", "2"])];
      // Two restarts, each a moment into the work, then a 2 s outage.
      await waitForLoaded(server!.url, 3);
      await sleep(Math.floor(Math.random() * 400));
      await server!.restart();
      await waitForLoaded(server!.url, 12);
      await server!.restart();
      await waitForLoaded(server!.url, 20);
      const { over } = await server!.outage(2_000);
      await over;
      const exits = await Promise.race([
        Promise.all(workers.map((w) => w.exited)),
        sleep(120_000).then(() => {
          throw new Error("the workers did not drain the queue");
        }),
      ]);
      // On failure: each worker's exit code or signal, and everything the workers wrote to stderr.
      expect(exits, `exits ${JSON.stringify(exits)}; stderr:\n${stderr.join("")}`).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);

      expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
      const archived = readdirSync(join(dir, "landing/archive/parts"), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".csv"));
      expect(archived).toHaveLength(FILES);
      const w = await openPostgresWarehouse({ url: server!.url, readOnly: true });
      const instance = await DuckDBInstance.create(":memory:");
      const con = await instance.connect();
      try {
        const perFile = await w.query(
          "SELECT _sluice_source_file AS f, count(*)::int AS n, count(DISTINCT id)::int AS d FROM parts GROUP BY 1 ORDER BY 1",
        );
        expect(perFile, "warehouse").toEqual(
          Array.from({ length: FILES }, (_, f) => ({ f: fileName(f), n: rowsOf(f), d: rowsOf(f) })),
        );
        const ledger = await w.query(
          "SELECT sha256, count(*)::int AS n FROM sluice.files WHERE status = 'loaded' GROUP BY 1",
        );
        expect(ledger).toHaveLength(FILES);
        expect(ledger.every((l) => l.n === 1)).toBe(true);

        const table = { storage: localStorage(join(dir, "lake")), path: "parts" };
        const listing = await listDeltaLog(table);
        const versions = [...listing.commits.keys()].sort((a, b) => a - b);
        expect(versions).toEqual(Array.from({ length: listing.latestVersion + 1 }, (_, v) => v));
        await registerDeltaView(con, table, "parts_lake");
        const lake = (
          await con.runAndReadAll(
            "SELECT _sluice_source_file AS f, count(*)::INT AS n, count(DISTINCT id)::INT AS d FROM parts_lake GROUP BY 1 ORDER BY 1",
          )
        ).getRowObjects();
        expect(lake, "lake").toEqual(perFile);
      } finally {
        con.closeSync();
        instance.closeSync();
        await w.close();
      }
      // The workers said what happened (a lost connection retried), and went on.
      expect(stderr.join("")).toMatch(/retry|retrying|terminat|connection/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listDeltaLog } from "../../src/lake/delta-log.js";
import { latestManifest, registerDeltaView } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { cliPath, makeProject } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

/** `sluice run <pipeline> --file <file>` in `dir`; resolves with its exit code and stderr. */
function runFile(dir: string, pipeline: string, file: string, env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, [cliPath, "run", pipeline, "--file", file], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise<{ code: number | null; stderr: string }>((done) =>
    child.on("close", (code) => done({ code, stderr })),
  );
}

/** Waits until the pipeline's run sequence counter reaches `seq` (a run has taken its number). */
async function sequenceTaken(url: string, pipeline: string, seq: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let i = 0; i < 600; i++) {
      const { rows } = await client
        .query("SELECT seq FROM sluice.run_sequences WHERE pipeline = $1", [pipeline])
        .catch(() => ({ rows: [] as { seq: number }[] }));
      if (Number(rows[0]?.seq ?? 0) >= seq) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no run of ${pipeline} took sequence ${seq}`);
  } finally {
    await client.end();
  }
}

const ROWS = 50;
const csv = (f: number) =>
  `id,name\n${Array.from({ length: ROWS }, (_, i) => `${f * 1000 + i},item ${f}-${i}`).join("\n")}\n`;

// Two `sluice run` processes of one lake pipeline on one PostgreSQL warehouse: the run that took the
// earlier sequence is held before its publish (a test hook), so the later run commits to the lake first.
// Keyed by (pipeline, run sequence), the earlier run's Delta commit used to be skipped as "already present".
describe.skipIf(!available)("lake commits of concurrent runs of one pipeline on PostgreSQL", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = makeProject(
      `warehouse: "${db.url}"\nlake: lake\npipelines:\n  events:\n    source: { path: "delta/*.csv" }\n    target: { table: events, mode: append, lake: { table: events, format: delta } }\n  flat:\n    source: { path: "flat/*.csv" }\n    target: { table: flat, mode: append, lake: { table: flat, format: parquet } }\n`,
      Object.fromEntries(
        [0, 1].flatMap((f) => [
          [`landing/delta/f-${f}.csv`, csv(f)],
          [`landing/flat/f-${f}.csv`, csv(f)],
          // One content under two names: the run that publishes second finds it loaded meanwhile.
          [`landing/delta/same-${f}.csv`, csv(7)],
        ]),
      ),
    );
  });
  afterAll(async () => {
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Run 1 of `files[0]` (held 3 s before its publish) and run 2 of `files[1]` (started once run 1 has its
   * sequence, `seq`) of `pipeline`.
   */
  async function overtake(pipeline: string, files: readonly [string, string], seq = 1): Promise<void> {
    const first = runFile(dir, pipeline, files[0], { SLUICE_PUBLISH_DELAY_MS: "3000" });
    await sequenceTaken(db.url, pipeline, seq);
    const second = runFile(dir, pipeline, files[1]);
    for (const r of await Promise.all([first, second])) expect(r.code, r.stderr).toBe(0);
  }

  /** Rows per source file in the warehouse table. */
  async function warehouseRows(table: string) {
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    try {
      return await w.query(
        `SELECT _sluice_source_file AS f, count(*)::int AS n FROM ${table} GROUP BY 1 ORDER BY 1`,
      );
    } finally {
      await w.close();
    }
  }

  async function lakeRows(from: (con: import("@duckdb/node-api").DuckDBConnection) => Promise<string>) {
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    try {
      const relation = await from(con);
      return (
        await con.runAndReadAll(
          `SELECT _sluice_source_file AS f, count(*)::INT AS n FROM ${relation} GROUP BY 1 ORDER BY 1`,
        )
      ).getRowObjects();
    } finally {
      con.closeSync();
      instance.closeSync();
    }
  }

  it("Delta: the run overtaken still commits its rows; lake = warehouse, the log is contiguous", async () => {
    await overtake("events", ["delta/f-0.csv", "delta/f-1.csv"]);
    const table = { storage: localStorage(join(dir, "lake")), path: "events" };
    const listing = await listDeltaLog(table);
    const versions = [...listing.commits.keys()].sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: listing.latestVersion + 1 }, (_, v) => v));
    const warehouse = await warehouseRows("events");
    expect(warehouse).toEqual([
      { f: "delta/f-0.csv", n: ROWS },
      { f: "delta/f-1.csv", n: ROWS },
    ]);
    const lake = await lakeRows(async (con) => {
      await registerDeltaView(con, table, "events_lake");
      return "events_lake";
    });
    expect(lake).toEqual(warehouse);
  }, 120_000);

  it("Parquet: the run overtaken still commits its rows; lake = warehouse", async () => {
    await overtake("flat", ["flat/f-0.csv", "flat/f-1.csv"]);
    const table = { storage: localStorage(join(dir, "lake")), path: "flat" };
    const manifest = await latestManifest(table);
    const warehouse = await warehouseRows("flat");
    expect(warehouse).toEqual([
      { f: "flat/f-0.csv", n: ROWS },
      { f: "flat/f-1.csv", n: ROWS },
    ]);
    const lake = await lakeRows(async () => {
      const files = (manifest?.files ?? []).map((f) => `'${join(dir, "lake", "flat", f.path)}'`);
      return `read_parquet([${files.join(", ")}])`;
    });
    expect(lake).toEqual(warehouse);
  }, 120_000);

  it("Delta: content loaded meanwhile by the other run is left out of the lake as out of the warehouse", async () => {
    // Runs 3 and 4 of the pipeline (after the first test's two).
    await overtake("events", ["delta/same-0.csv", "delta/same-1.csv"], 3);
    const table = { storage: localStorage(join(dir, "lake")), path: "events" };
    const warehouse = await warehouseRows("events");
    expect(warehouse).toEqual([
      { f: "delta/f-0.csv", n: ROWS },
      { f: "delta/f-1.csv", n: ROWS },
      { f: "delta/same-1.csv", n: ROWS },
    ]);
    const lake = await lakeRows(async (con) => {
      await registerDeltaView(con, table, "events_lake");
      return "events_lake";
    });
    expect(lake).toEqual(warehouse);
  }, 120_000);
});

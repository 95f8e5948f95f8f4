import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRows } from "../../src/engine/duckdb-query.js";
import { duckdbDialect } from "../../src/plan/duckdb-dialect.js";
import { postgresDialect } from "../../src/plan/postgres-dialect.js";
import { catalogDdl } from "../../src/warehouse/catalog-schema.js";
import { openDuckDbWarehouse } from "../../src/warehouse/duckdb-warehouse.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

// The catalog DDL as earlier versions wrote it by hand, one list per warehouse: catalogs created by them
// must open unchanged, and the DDL generated from the catalog schema must create the very same tables.
// Tables added since are created by the generated DDL of an existing catalog too (`IF NOT EXISTS`).
const addedSince = [
  "CREATE TABLE IF NOT EXISTS sluice.run_sequences (pipeline TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS sluice.stream_positions (pipeline TEXT NOT NULL, position TEXT NOT NULL, batch TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT now())",
  "CREATE TABLE IF NOT EXISTS sluice.stream_published (pipeline TEXT NOT NULL, position TEXT NOT NULL, batch TEXT NOT NULL, published_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, position))",
  "CREATE TABLE IF NOT EXISTS sluice.quarantine_runs (pipeline TEXT NOT NULL, run_id TEXT NOT NULL, quarantined_at TIMESTAMPTZ NOT NULL, rows_quarantined BIGINT NOT NULL)",
  `CREATE TABLE IF NOT EXISTS sluice.run_totals (pipeline TEXT NOT NULL, status TEXT NOT NULL, bucket BIGINT NOT NULL,
     runs BIGINT NOT NULL, rows_read BIGINT NOT NULL, rows_loaded BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
     rows_malformed BIGINT NOT NULL, rows_duplicates BIGINT NOT NULL, duration_us BIGINT NOT NULL,
     last_finished_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (pipeline, status, bucket))`,
  "CREATE TABLE IF NOT EXISTS sluice.stream_floors (pipeline TEXT PRIMARY KEY, position TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL DEFAULT now())",
  `CREATE TABLE IF NOT EXISTS sluice.stream_claims (pipeline TEXT NOT NULL, first_key TEXT NOT NULL, last_key TEXT NOT NULL,
     first_position TEXT NOT NULL, last_position TEXT NOT NULL, batch TEXT NOT NULL,
     published_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, last_key))`,
];
/** Indexes of the tables added since (PostgreSQL keeps catalog indexes, DuckDB none). */
const postgresIndexesAddedSince = [
  "CREATE INDEX IF NOT EXISTS stream_positions_at ON sluice.stream_positions (pipeline, position)",
  "CREATE INDEX IF NOT EXISTS quarantine_runs_newest ON sluice.quarantine_runs (pipeline, quarantined_at, run_id)",
];

const duckdbDdlBefore = [
  "CREATE SCHEMA IF NOT EXISTS sluice",
  `CREATE TABLE IF NOT EXISTS sluice.runs (
     run_id VARCHAR PRIMARY KEY, pipeline VARCHAR NOT NULL, seq BIGINT NOT NULL, status VARCHAR NOT NULL,
     started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
     rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, rows_malformed BIGINT, rows_duplicates BIGINT,
     error VARCHAR, report JSON NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.files (
     run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
     size BIGINT NOT NULL, status VARCHAR NOT NULL, rows_read BIGINT, rows_loaded BIGINT,
     archived_to VARCHAR, error VARCHAR, received_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.quarantine (
     run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, file VARCHAR, line BIGINT,
     rules VARCHAR[] NOT NULL, reasons VARCHAR[] NOT NULL, "values" JSON, raw VARCHAR,
     quarantined_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS sluice.checks (
     run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, name VARCHAR NOT NULL, severity VARCHAR NOT NULL,
     failed BIGINT NOT NULL)`,
  "CREATE SEQUENCE IF NOT EXISTS sluice.load_seq",
  `CREATE TABLE IF NOT EXISTS sluice.loads (
     seq BIGINT NOT NULL DEFAULT nextval('sluice.load_seq'), run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
     mode VARCHAR NOT NULL, inserted BIGINT NOT NULL, updated BIGINT NOT NULL, deleted BIGINT NOT NULL,
     saved BIGINT NOT NULL, loaded_at TIMESTAMPTZ NOT NULL, rolled_back_by VARCHAR, reconciliation JSON)`,
  `CREATE TABLE IF NOT EXISTS sluice.watermarks (
     pipeline VARCHAR NOT NULL, run_id VARCHAR NOT NULL, cursor_column VARCHAR NOT NULL, value VARCHAR NOT NULL,
     set_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.schedules (
     pipeline VARCHAR PRIMARY KEY, last_fire TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL)`,
];

const postgresDdlBefore = [
  "CREATE SCHEMA IF NOT EXISTS sluice",
  `CREATE TABLE IF NOT EXISTS sluice.runs (
     run_id text PRIMARY KEY, pipeline text NOT NULL, seq bigint NOT NULL, status text NOT NULL,
     started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL,
     rows_read bigint, rows_loaded bigint, rows_quarantined bigint, rows_malformed bigint, rows_duplicates bigint,
     error text, report jsonb NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS runs_pipeline ON sluice.runs (pipeline, started_at)",
  "CREATE INDEX IF NOT EXISTS runs_started ON sluice.runs (started_at, run_id)",
  `CREATE TABLE IF NOT EXISTS sluice.files (
     run_id text NOT NULL, pipeline text NOT NULL, path text NOT NULL, sha256 text NOT NULL,
     size bigint NOT NULL, status text NOT NULL, rows_read bigint, rows_loaded bigint,
     archived_to text, error text, received_at timestamptz NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS files_sha ON sluice.files (pipeline, sha256)",
  "CREATE UNIQUE INDEX IF NOT EXISTS files_loaded_once ON sluice.files (pipeline, sha256) WHERE status = 'loaded'",
  "CREATE INDEX IF NOT EXISTS files_loaded_size ON sluice.files (pipeline, size) WHERE status = 'loaded'",
  `CREATE TABLE IF NOT EXISTS sluice.quarantine (
     run_id text NOT NULL, pipeline text NOT NULL, file text, line bigint,
     rules text[] NOT NULL, reasons text[] NOT NULL, "values" jsonb, raw text,
     quarantined_at timestamptz NOT NULL DEFAULT now())`,
  "CREATE INDEX IF NOT EXISTS quarantine_pipeline ON sluice.quarantine (pipeline, run_id)",
  "CREATE INDEX IF NOT EXISTS quarantine_newest ON sluice.quarantine (pipeline, quarantined_at, run_id)",
  `CREATE TABLE IF NOT EXISTS sluice.checks (
     run_id text NOT NULL, pipeline text NOT NULL, name text NOT NULL, severity text NOT NULL,
     failed bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.loads (
     seq BIGSERIAL, run_id VARCHAR NOT NULL, pipeline VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
     mode VARCHAR NOT NULL, inserted BIGINT NOT NULL, updated BIGINT NOT NULL, deleted BIGINT NOT NULL,
     saved BIGINT NOT NULL, loaded_at TIMESTAMPTZ NOT NULL, rolled_back_by VARCHAR, reconciliation JSONB)`,
  `CREATE TABLE IF NOT EXISTS sluice.watermarks (
     pipeline VARCHAR NOT NULL, run_id VARCHAR NOT NULL, cursor_column VARCHAR NOT NULL, value VARCHAR NOT NULL,
     set_at TIMESTAMPTZ NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS sluice.schedules (
     pipeline VARCHAR PRIMARY KEY, last_fire TIMESTAMPTZ NOT NULL, recorded_at TIMESTAMPTZ NOT NULL)`,
  "CREATE INDEX IF NOT EXISTS loads_table ON sluice.loads (table_name, seq)",
];

/** A load recorded by an earlier version, before the warehouse is opened by this one. */
const oldLoad = `INSERT INTO sluice.loads (run_id, pipeline, table_name, mode, inserted, updated, deleted, saved, loaded_at) VALUES ('r-old', 'p', 'orders', 'append', 3, 0, 0, 0, CAST('2026-01-02T03:04:05Z' AS TIMESTAMPTZ))`;
/** A run an earlier version recorded (it kept no run totals): 2.5 s long. */
const oldRun = `INSERT INTO sluice.runs (run_id, pipeline, seq, status, started_at, finished_at, rows_read, rows_loaded, rows_quarantined, rows_malformed, rows_duplicates, error, report)
  VALUES ('r-old', 'p', 1, 'succeeded', CAST('2026-01-02T03:04:05Z' AS TIMESTAMPTZ), CAST('2026-01-02T03:04:07.5Z' AS TIMESTAMPTZ), 10, 8, 2, 0, 0, NULL, '{}')`;
/** Two rows an earlier version quarantined (it kept no per-run counts). */
const oldQuarantine = `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, quarantined_at) VALUES
  ('r-old', 'p', 'in/a.csv', 1, ['r'], ['why'], CAST('2026-01-02T03:04:05Z' AS TIMESTAMPTZ)),
  ('r-old', 'p', 'in/a.csv', 2, ['r'], ['why'], CAST('2026-01-02T03:04:05Z' AS TIMESTAMPTZ))`;

const run = (runId: string): RunRecord => ({
  runId,
  pipeline: "p",
  status: "failed",
  startedAt: new Date("2026-02-01T00:00:00Z"),
  finishedAt: new Date("2026-02-01T00:00:01Z"),
  report: { sequence: 2, error: "boom", rows: { read: 1 } },
});

/** What an old catalog must still do once this version opened it. */
async function usesOldCatalog(warehouse: Warehouse): Promise<void> {
  expect((await warehouse.history("orders")).map((l) => [l.run_id, l.inserted])).toEqual([["r-old", 3]]);
  // Its quarantined rows were counted per run as it opened (what the dashboard's pages read).
  const counts = await warehouse.query("SELECT run_id, rows_quarantined AS n FROM sluice.quarantine_runs");
  expect(counts.map((r) => [r.run_id, Number(r.n)])).toEqual([["r-old", 2]]);
  // Its runs were summed as it opened (what /metrics reads), then each run recorded is added.
  const totals = async () =>
    (
      await warehouse.query(
        "SELECT status, bucket, runs, rows_read, rows_loaded, rows_quarantined, duration_us, CAST(last_finished_at AS VARCHAR) AS last FROM sluice.run_totals ORDER BY status",
      )
    ).map((r) => [
      r.status,
      ...[r.bucket, r.runs, r.rows_read, r.rows_loaded, r.rows_quarantined, r.duration_us].map(Number),
      String(r.last).slice(0, 22),
    ]);
  const old = ["succeeded", 4, 1, 10, 8, 2, 2_500_000, "2026-01-02 03:04:07.5+"];
  expect(await totals()).toEqual([old]);
  await warehouse.recordRun(run("r-new"), [
    {
      runId: "r-new",
      pipeline: "p",
      path: "in/a.csv",
      sha256: "ab",
      size: 1,
      status: "failed",
      rowsRead: 1,
      rowsLoaded: 0,
      archivedTo: null,
      error: "boom",
    },
  ]);
  expect(await warehouse.nextSequence("p")).toBe(3);
  const rows = await warehouse.query("SELECT error, rows_read FROM sluice.runs WHERE run_id = 'r-new'");
  expect(rows.map((r) => [r.error, Number(r.rows_read)])).toEqual([["boom", 1]]);
  expect(await totals()).toEqual([["failed", 2, 1, 1, 0, 0, 1_000_000, "2026-02-01 00:00:01+00"], old]);
}

describe("catalog schema: DuckDB", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sluice-catalog-schema-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The catalog's columns, constraints and sequences as DuckDB reports them. */
  async function describeCatalog(statements: readonly string[]): Promise<unknown> {
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    try {
      for (const sql of statements) await con.run(sql);
      return {
        columns: await queryRows(
          con,
          "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'sluice' ORDER BY table_name, ordinal_position",
        ),
        constraints: await queryRows(
          con,
          "SELECT table_name, constraint_type, constraint_column_names FROM duckdb_constraints() WHERE schema_name = 'sluice' ORDER BY table_name, constraint_type, constraint_text",
        ),
        sequences: await queryRows(con, "SELECT schema_name, sequence_name FROM duckdb_sequences()"),
      };
    } finally {
      con.closeSync();
      instance.closeSync();
    }
  }

  it("the generated DDL creates the same catalog as the hand-written DDL of earlier versions", async () => {
    const before = await describeCatalog(duckdbDdlBefore);
    expect(JSON.stringify(before)).toContain("reconciliation");
    expect(await describeCatalog(catalogDdl(duckdbDialect))).toEqual(
      await describeCatalog([...duckdbDdlBefore, ...addedSince]),
    );
  });

  it("a warehouse file whose catalog an earlier version created opens, reads and records", async () => {
    const file = join(dir, "old.duckdb");
    const instance = await DuckDBInstance.create(file);
    const con = await instance.connect();
    for (const sql of duckdbDdlBefore) await con.run(sql);
    await con.run(oldLoad);
    await con.run(oldRun);
    await con.run(oldQuarantine);
    con.closeSync();
    instance.closeSync();
    const warehouse = await openDuckDbWarehouse({ file });
    try {
      await usesOldCatalog(warehouse);
    } finally {
      await warehouse.close();
    }
  });
});

const pgUp = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!pgUp)("catalog schema: PostgreSQL", () => {
  /** The catalog's columns and indexes as PostgreSQL reports them, in a fresh database. */
  async function describeCatalog(statements: readonly string[]): Promise<unknown> {
    const db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      for (const sql of statements) await client.query(sql);
      const columns = await client.query(
        "SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'sluice' ORDER BY table_name, ordinal_position",
      );
      const indexes = await client.query(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'sluice' ORDER BY indexname",
      );
      const constraints = await client.query(
        "SELECT conrelid::regclass::text AS tab, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'sluice'::regnamespace ORDER BY 1, 2, 3",
      );
      // Earlier versions made some text columns `varchar` (no length) on PostgreSQL, others `text`: the
      // same type but for its name. The schema now says text throughout.
      const named = columns.rows.map((c) =>
        c.udt_name === "varchar" ? { ...c, data_type: "text", udt_name: "text" } : c,
      );
      return { columns: named, indexes: indexes.rows, constraints: constraints.rows };
    } finally {
      await client.end();
      await db.cleanup();
    }
  }

  it("the generated DDL creates the same catalog as the hand-written DDL of earlier versions", async () => {
    const before = await describeCatalog(postgresDdlBefore);
    expect(JSON.stringify(before)).toContain("files_loaded_once");
    expect(await describeCatalog(catalogDdl(postgresDialect))).toEqual(
      await describeCatalog([...postgresDdlBefore, ...addedSince, ...postgresIndexesAddedSince]),
    );
  });

  it("a database whose catalog an earlier version created opens, reads and records", async () => {
    const db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      for (const sql of postgresDdlBefore) await client.query(sql);
      await client.query(oldLoad);
      await client.query(oldRun);
      await client.query(
        oldQuarantine.replaceAll("['r']", "ARRAY['r']").replaceAll("['why']", "ARRAY['why']"),
      );
    } finally {
      await client.end();
    }
    const warehouse = await openPostgresWarehouse({ url: db.url, retries: 0 });
    try {
      await usesOldCatalog(warehouse);
    } finally {
      await warehouse.close();
      await db.cleanup();
    }
  });
});

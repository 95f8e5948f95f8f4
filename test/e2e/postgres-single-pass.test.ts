import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres, queryDatabase } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { runLogMessages } from "../support/run-log.js";

// On a PostgreSQL warehouse a plain append/replace of CSV files is published in a single pass too: DuckDB's
// read of each file is streamed into `COPY` inside the publish transaction (no staging copy in DuckDB).
// These tests pin that the single pass is taken, that its numbers, quarantine and profile are what a
// staged run reports, and that what a staged run would decide before publishing (a check quarantining
// rows, too many malformed rows, a misfit of an inferred type) falls back to the staged way.

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

type FullRun = RunJson["runs"][number] & {
  profile?: {
    rows: number;
    columns: Record<string, { nulls: number; min: string | null; max: string | null }>;
  };
  reconciliation?: { source_rows: number; target_rows: number; ok: boolean };
  load?: { inserted: number };
  checks?: { name: string; failed: number }[];
};

const events = (from: number, to: number) =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `${from + i},kind${(from + i) % 3},2026-01-0${1 + ((from + i) % 9)}`,
  );

describe.skipIf(!available)("single-pass publish into PostgreSQL", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const onDb = async (sql: string) => (await queryDatabase(db.url, sql)).rows;
  const yaml = (pipelines: string) => `warehouse: "${db.url}"\npipelines:\n${pipelines}`;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it("copies each CSV once, straight from DuckDB's read, with rows, malformed lines, profile and ledger as staged", async () => {
    const dir = makeProject(
      yaml(`  plain:
    source: { path: "in/*.csv" }
    max_failure_rate: 0.5
    target: { table: plain, mode: append }
`),
      {
        "landing/in/a.csv": [
          "id,kind,day",
          ...events(1, 5),
          "6,kind0,2026-01-02,extra",
          ...events(7, 10),
          "",
        ].join("\n"),
        "landing/in/b.csv": ["id,kind,day", ...events(11, 14), ""].join("\n"),
      },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.rows).toEqual({ read: 14, loaded: 13, quarantined: 1, malformed: 1, duplicates: 0 });
    expect(run.load?.inserted).toBe(13);
    expect(run.reconciliation).toMatchObject({ source_rows: 13, target_rows: 13, ok: true });
    expect(run.profile?.rows).toBe(13);
    expect(run.profile?.columns.id).toMatchObject({ nulls: 0, min: "1", max: "14" });
    const messages = runLogMessages(dir, run.run_id);
    expect(messages.filter((m) => m === "planned")).toHaveLength(2);
    expect(messages.filter((m) => m === "read")).toHaveLength(2);
    expect(messages).not.toContain("staged");

    expect(await onDb("SELECT path AS f, rows_loaded::int AS n FROM sluice.files ORDER BY path")).toEqual([
      { f: "in/a.csv", n: 9 },
      { f: "in/b.csv", n: 4 },
    ]);
    expect(await onDb("SELECT line::int AS line, rules FROM sluice.quarantine")).toEqual([
      { line: 7, rules: ["malformed"] },
    ]);
    expect(
      await onDb(
        "SELECT _sluice_source_file AS f, count(*)::int AS n, count(DISTINCT _sluice_run_id)::int AS r FROM plain GROUP BY 1 ORDER BY 1",
      ),
    ).toEqual([
      { f: "in/a.csv", n: 9, r: 1 },
      { f: "in/b.csv", n: 4, r: 1 },
    ]);
    const stored = await onDb(
      `SELECT report->'profile'->>'rows' AS rows FROM sluice.runs WHERE run_id = '${run.run_id}'`,
    );
    expect(stored).toEqual([{ rows: "13" }]);

    // The same content again is a duplicate; one new file alone takes its lineage values as column values.
    addFile(dir, "landing/in/again.csv", ["id,kind,day", ...events(11, 14), ""].join("\n"));
    addFile(dir, "landing/in/c.csv", ["id,kind,day", ...events(15, 17), ""].join("\n"));
    const later = (await sluice(["run", "--json"], dir)).json<{ runs: FullRun[] }>().runs[0]!;
    const byPath = Object.fromEntries(later.files.map((f) => [f.path, f.status]));
    expect(byPath).toEqual({ "in/again.csv": "skipped_duplicate", "in/c.csv": "loaded" });
    expect(later.profile?.rows).toBe(3);
    expect(later.profile?.columns.id).toMatchObject({ min: "15", max: "17" });
    expect(
      await onDb(
        `SELECT _sluice_source_file AS f, count(*)::int AS n FROM plain WHERE _sluice_run_id = '${later.run_id}' GROUP BY 1`,
      ),
    ).toEqual([{ f: "in/c.csv", n: 3 }]);
    expect(await onDb("SELECT count(*)::int AS n FROM plain")).toEqual([{ n: 16 }]);
    // The column defaults used while copying into the new table are gone.
    expect(
      await onDb(
        "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'plain' AND column_default IS NOT NULL",
      ),
    ).toEqual([{ n: 0 }]);
  });

  it("falls back to the staged way when malformed rows exceed max_failure_rate: nothing published", async () => {
    const dir = makeProject(
      yaml(`  strict:
    source: { path: "in/*.csv" }
    max_failure_rate: 0.1
    target: { table: strict, mode: append }
`),
      { "landing/in/a.csv": ["id,kind,day", ...events(1, 3), "4,x", "5,y", ""].join("\n") },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.files[0]!.error).toMatch(/max_failure_rate/);
    expect(runLogMessages(dir, run.run_id)).toContain("single pass undone; reading the files again, staged");
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(false);
    expect(await onDb("SELECT to_regclass('public.strict') IS NULL AS gone")).toEqual([{ gone: true }]);
    expect(
      await onDb(`SELECT count(*)::int AS n FROM sluice.quarantine WHERE run_id = '${run.run_id}'`),
    ).toEqual([{ n: 2 }]);
  });

  it("with checks: a clean file has its failures counted, then is copied in one pass; a file a check quarantines is checked the staged way", async () => {
    const dir = makeProject(
      yaml(`  checked:
    source: { path: "in/*.csv" }
    checks:
      - { rule: accepted_values, column: kind, values: [kind0, kind1, kind2] }
      - { rule: not_null, columns: [day], severity: warn }
    max_failure_rate: 0.5
    target: { table: checked, mode: append }
`),
      { "landing/in/a.csv": ["id,kind,day", ...events(1, 6), ""].join("\n") },
    );
    const clean = await sluice(["run", "--json"], dir);
    expect(clean.code, clean.stderr).toBe(0);
    const first = clean.json<{ runs: FullRun[] }>().runs[0]!;
    expect(first.rows).toMatchObject({ read: 6, loaded: 6, quarantined: 0 });
    const firstLog = runLogMessages(dir, first.run_id);
    expect(firstLog).toContain("checks counted");
    expect(firstLog).toContain("planned");
    expect(firstLog).not.toContain("staged");
    expect(first.checks).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: "accepted_values(kind)", failed: 0 })]),
    );

    addFile(
      dir,
      "landing/in/b.csv",
      ["id,kind,day", "7,kind1,2026-01-01", "8,zz,2026-01-02", "9,kind0,", ""].join("\n"),
    );
    const dirty = await sluice(["run", "--json"], dir);
    expect(dirty.code, dirty.stderr).toBe(0);
    const second = dirty.json<{ runs: FullRun[] }>().runs[0]!;
    expect(second.rows).toMatchObject({ read: 3, loaded: 2, quarantined: 1 });
    const secondLog = runLogMessages(dir, second.run_id);
    expect(secondLog).toContain("checks counted");
    expect(secondLog).toContain("staged");
    expect(
      await onDb(`SELECT line::int AS line, rules FROM sluice.quarantine WHERE run_id = '${second.run_id}'`),
    ).toEqual([{ line: 3, rules: ["accepted_values(kind)"] }]);
    expect(await onDb("SELECT id::int AS id FROM checked WHERE id > 6 ORDER BY id")).toEqual([
      { id: 7 },
      { id: 9 },
    ]);
  });

  it("replace: a value that does not fit the inferred type undoes the single pass, and the staged way widens it", async () => {
    const lines = ["id,kind"];
    for (let i = 1; i <= 30_000; i++) lines.push(`${i},k`);
    lines.push("A-1,k", "");
    const dir = makeProject(
      yaml(`  widened:
    source: { path: "in/*.csv" }
    target: { table: widened, mode: replace }
`),
      { "landing/in/a.csv": lines.join("\n") },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.rows).toMatchObject({ read: 30_001, loaded: 30_001, malformed: 0 });
    expect(runLogMessages(dir, run.run_id)).toContain("single pass undone; reading the files again, staged");
    expect(await onDb("SELECT pg_typeof(id)::text AS t, count(*)::int AS n FROM widened GROUP BY 1")).toEqual(
      [{ t: "text", n: 30_001 }],
    );
  });
});

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { runLogMessages } from "../support/run-log.js";

// A plain append/replace of CSV files is published in a single pass: the write reads each file once
// (no staging copy). These tests pin that the fast path is taken, that its numbers, quarantine, profile
// and reconciliation match what a staged run reports, and that whatever a staged run would decide
// before publishing undoes the single pass and re-reads the files the staged way.

async function query<T = Record<string, unknown>>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code).toBe(0);
  return r.json<T[]>();
}

type FullRun = RunJson["runs"][number] & {
  quarantine: string | null;
  profile?: {
    rows: number;
    columns: Record<string, { nulls: number; min: string | null; max: string | null }>;
  };
  reconciliation?: { source_rows: number; target_rows: number; ok: boolean };
  load?: { inserted: number };
};

const events = (from: number, to: number) =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `${from + i},kind${(from + i) % 3},2026-01-0${1 + ((from + i) % 9)}`,
  );

describe("single-pass publish", () => {
  it("reads each CSV once in the write and reports rows, malformed lines, profile and reconciliation", async () => {
    const dir = makeProject(
      pipelineYaml(`events:
  source: { path: "in/*.csv" }
  max_failure_rate: 0.5
  target: { table: events, mode: append }`),
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
    expect(r.code).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.status).toBe("succeeded");
    expect(run.rows).toEqual({ read: 14, loaded: 13, quarantined: 1, malformed: 1, duplicates: 0 });
    const byPath = Object.fromEntries(run.files.map((f) => [f.path, f]));
    expect(byPath["in/a.csv"]!.status).toBe("loaded");
    expect(run.load?.inserted).toBe(13);
    expect(run.reconciliation).toMatchObject({ source_rows: 13, target_rows: 13, ok: true });
    expect(run.profile?.rows).toBe(13);
    expect(run.profile?.columns.id).toMatchObject({ nulls: 0, min: "1", max: "14" });
    const messages = runLogMessages(dir, run.run_id);
    expect(messages.filter((m) => m === "planned")).toHaveLength(2);
    expect(messages.filter((m) => m === "read")).toHaveLength(2);
    expect(messages).not.toContain("staged");

    const perFile = await query<{ f: string; n: number }>(
      dir,
      "SELECT path AS f, rows_loaded::INT AS n FROM sluice.files ORDER BY path",
    );
    expect(perFile).toEqual([
      { f: "in/a.csv", n: 9 },
      { f: "in/b.csv", n: 4 },
    ]);
    const quarantined = await query<{ line: number; rules: string[] }>(
      dir,
      "SELECT line::INT AS line, rules FROM sluice.quarantine",
    );
    expect(quarantined).toEqual([{ line: 7, rules: ["malformed"] }]);
    expect(existsSync(join(dir, "landing", run.quarantine!, "rows.jsonl"))).toBe(true);
    expect((await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM events"))[0]!.n).toBe(13);

    // The same content again is a duplicate; nothing is read or written twice.
    addFile(dir, "landing/in/again.csv", ["id,kind,day", ...events(11, 14), ""].join("\n"));
    const again = await sluice(["run", "--json"], dir);
    expect(again.json<RunJson>().runs[0]!.files[0]!.status).toBe("skipped_duplicate");
    expect((await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM events"))[0]!.n).toBe(13);

    // A later run's profile describes its own rows only, not the rows the table held before.
    addFile(dir, "landing/in/c.csv", ["id,kind,day", ...events(15, 17), ""].join("\n"));
    const later = (await sluice(["run", "--json"], dir)).json<{ runs: FullRun[] }>().runs[0]!;
    expect(later.profile?.rows).toBe(3);
    expect(later.profile?.columns.id).toMatchObject({ nulls: 0, min: "15", max: "17" });
  });

  it("profiles distinct values exactly when few and within a few percent when many, staged or not", async () => {
    const many = (from: number, n: number) =>
      Array.from(
        { length: n },
        (_, i) => `${from + i},kind${(from + i) % 3},cust${((from + i) * 7919) % 30000}`,
      );
    const dir = makeProject(
      pipelineYaml(`plain:
  source: { path: "in/plain/*.csv" }
  target: { table: plain, mode: append }
checked:
  source: { path: "in/checked/*.csv" }
  checks: [{ rule: not_null, columns: [id] }]
  target: { table: checked, mode: append }`),
      {
        "landing/in/plain/a.csv": ["id,kind,customer", ...many(0, 40000), ""].join("\n"),
        "landing/in/checked/a.csv": ["id,kind,customer", ...many(0, 40000), ""].join("\n"),
      },
    );
    type Distinct = { columns: Record<string, { distinct: number }> };
    const near = (estimate: number, exact: number) =>
      expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.05);
    const first = (await sluice(["run", "--json"], dir)).json<{ runs: (FullRun & { profile: Distinct })[] }>()
      .runs;
    for (const run of first) {
      expect(run.status).toBe("succeeded");
      expect(run.profile.columns.kind?.distinct).toBe(3);
      near(run.profile.columns.id!.distinct, 40000);
      near(run.profile.columns.customer!.distinct, 30000);
    }
    // Later runs: the single pass counts by the table's statistics, the staged run by the last profile.
    addFile(dir, "landing/in/plain/b.csv", ["id,kind,customer", ...many(40000, 40000), ""].join("\n"));
    addFile(dir, "landing/in/checked/b.csv", ["id,kind,customer", ...many(40000, 40000), ""].join("\n"));
    const later = (await sluice(["run", "--json"], dir)).json<{ runs: (FullRun & { profile: Distinct })[] }>()
      .runs;
    for (const run of later) {
      expect(run.profile.rows).toBe(40000);
      expect(run.profile.columns.kind?.distinct).toBe(3);
      near(run.profile.columns.id!.distinct, 40000);
      near(run.profile.columns.customer!.distinct, 30000);
    }
  });

  it("undoes the single pass when malformed rows exceed max_failure_rate: nothing published", async () => {
    const dir = makeProject(
      pipelineYaml(`events:
  source: { path: "in/*.csv" }
  max_failure_rate: 0.1
  target: { table: events, mode: append }`),
      { "landing/in/a.csv": ["id,kind,day", ...events(1, 3), "4,x", "5,y", ""].join("\n") },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(1);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.status).toBe("failed");
    expect(run.files[0]!.error).toMatch(/max_failure_rate/);
    expect(run.rows.malformed).toBe(2);
    expect(runLogMessages(dir, run.run_id)).toContain("single pass undone; reading the files again, staged");
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(false);
    expect(readdirSync(join(dir, "landing/unprocessed/events"), { recursive: true }).length).toBeGreaterThan(
      0,
    );
    const tables = await query<{ n: number }>(
      dir,
      "SELECT count(*)::INT AS n FROM duckdb_tables() WHERE table_name = 'events'",
    );
    expect(tables[0]!.n).toBe(0);
    const q = await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM sluice.quarantine");
    expect(q[0]!.n).toBe(2);
  });

  it("undoes the single pass when a value does not fit a type inferred from the sample, then widens it", async () => {
    // The sniffer samples the start of the file: 30,000 integer ids, then one that is not.
    const lines = ["id,kind"];
    for (let i = 1; i <= 30_000; i++) lines.push(`${i},k`);
    lines.push("A-1,k", "");
    const dir = makeProject(
      pipelineYaml(`events:
  source: { path: "in/*.csv" }
  target: { table: events, mode: replace }`),
      { "landing/in/a.csv": lines.join("\n") },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.rows).toMatchObject({ read: 30_001, loaded: 30_001, malformed: 0 });
    expect(run.files[0]!.warnings.join(" ")).toMatch(/column id: values do not all fit the inferred type/);
    expect(runLogMessages(dir, run.run_id)).toContain("single pass undone; reading the files again, staged");
    const rows = await query<{ t: string; n: number }>(
      dir,
      "SELECT any_value(typeof(id)) AS t, count(*)::INT AS n FROM events",
    );
    expect(rows).toEqual([{ t: "VARCHAR", n: 30_001 }]);
  });

  it("after an undone single pass, the staged attempt still checks foreign keys against the referenced table", async () => {
    // A foreign_key check has the file's failures counted first; which is clean; the write then meets a value that does not fit
    // the sampled type and is undone. The staged attempt needs the referenced keys staged for the run.
    const lines = ["id,kind"];
    for (let i = 1; i <= 30_000; i++) lines.push(`${i},k`);
    lines.push("A-1,k", "");
    const dir = makeProject(
      pipelineYaml(`kinds:
  source: { path: "in/kinds/*.csv" }
  target: { table: kinds, mode: replace }
events:
  source: { path: "in/events/*.csv" }
  checks:
    - { rule: foreign_key, column: kind, references: { table: kinds, column: kind } }
  target: { table: events, mode: append }`),
      { "landing/in/kinds/k.csv": "kind\nk\n", "landing/in/events/a.csv": lines.join("\n") },
    );
    expect((await sluice(["run", "kinds"], dir)).code).toBe(0);
    const r = await sluice(["run", "events", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.status).toBe("succeeded");
    expect(run.rows).toMatchObject({ read: 30_001, loaded: 30_001, quarantined: 0 });
    const messages = runLogMessages(dir, run.run_id);
    expect(messages).toContain("checks counted");
    expect(messages).toContain("single pass undone; reading the files again, staged");
  });

  it("is not used where rows are checked or reconciled before the write", async () => {
    const dir = makeProject(
      pipelineYaml(`events:
  source: { path: "in/*.csv" }
  columns: { id: { type: bigint } }
  target: { table: events, mode: append }`),
      { "landing/in/a.csv": ["id,kind,day", ...events(1, 3), ""].join("\n") },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    // Declared numeric columns have their sums reconciled against a separate read of the batch.
    expect(runLogMessages(dir, run.run_id)).toContain("staged");
    expect(run.rows.loaded).toBe(3);
  });

  it("with checks, a dirty file stops the write with checks in it and is checked the staged way: lines, file order for dedupe, and a re-read on a misfit", async () => {
    const dir = makeProject(
      pipelineYaml(`events:
  source: { path: "in/*.csv" }
  checks:
    - { rule: accepted_values, column: kind, values: [a, b] }
  dedupe: { keys: [id], keep: last }
  max_failure_rate: 0.5
  target: { table: events, mode: append }`),
      {
        "landing/in/a.csv": [
          "id,kind,note",
          "1,a,first",
          "2,zz,bad",
          "1,b,second",
          "3,a,x,extra",
          "3,b,only",
          "",
        ].join("\n"),
      },
    );
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const run = r.json<{ runs: FullRun[] }>().runs[0]!;
    expect(run.rows).toEqual({ read: 5, loaded: 2, quarantined: 2, malformed: 1, duplicates: 1 });
    const messages = runLogMessages(dir, run.run_id);
    // The write enforcing the checks stopped at the row failing accepted_values; nothing was published
    // by it, and the check pass read the file again.
    const undone = messages.indexOf("single pass undone; reading the files again, staged");
    expect(undone).toBeGreaterThan(0);
    expect(messages.slice(0, undone)).toContain("planned");
    expect(messages).toContain("staged");
    const quarantined = await query<{ line: number; rules: string[] }>(
      dir,
      "SELECT line::INT AS line, rules FROM sluice.quarantine ORDER BY line",
    );
    expect(quarantined).toEqual([
      { line: 3, rules: ["accepted_values(kind)"] },
      { line: 5, rules: ["malformed"] },
    ]);
    // keep: last in file order (no order_by): the second row of id 1.
    expect(await query(dir, "SELECT id::INT AS id, note FROM events ORDER BY id")).toEqual([
      { id: 1, note: "second" },
      { id: 3, note: "only" },
    ]);

    const lines = ["id,kind"];
    for (let i = 1; i <= 30_000; i++) lines.push(`${i},a`);
    lines.push("A-1,b", "");
    // A fresh project: the id column of the table above is a number.
    const other = makeProject(readFileSync(join(dir, "sluice.yaml"), "utf8"), {
      "landing/in/big.csv": lines.join("\n"),
    });
    const big = await sluice(["run", "--json"], other);
    expect(big.code).toBe(0);
    const bigRun = big.json<{ runs: FullRun[] }>().runs[0]!;
    expect(bigRun.rows).toMatchObject({ read: 30_001, loaded: 30_001, malformed: 0, quarantined: 0 });
    expect(bigRun.files[0]!.warnings.join(" ")).toMatch(/column id: values do not all fit the inferred type/);
    expect(runLogMessages(other, bigRun.run_id)).toContain("reading the file again, staged");
  });
});

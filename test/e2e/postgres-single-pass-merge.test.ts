import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres, queryDatabase } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { runLogMessages } from "../support/run-log.js";

// On a PostgreSQL warehouse a `merge` of CSV files is published in a single pass: DuckDB's read of each
// file streams into the stage the upsert joins, inside the publish; the key checks and the source side of
// reconciliation are one aggregate over that stage, and the profile is taken beside the upsert. These
// tests pin that the single pass is taken, that its numbers, quarantine, masks, before-images (rollback)
// and profile are what a staged run gives, and that a NULL key or a key twice falls back to the staged
// way, which reports it with nothing published.

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

type FullRun = RunJson["runs"][number] & {
  profile?: { rows: number; columns: Record<string, { min: string | null; max: string | null }> };
  reconciliation?: {
    source_rows: number;
    target_rows: number;
    ok: boolean;
    sums: Record<string, { source: number; target: number }>;
  };
  load?: { inserted: number; updated: number };
};

const rows = (from: number, to: number, note: string) =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `${from + i},u${from + i}@example.com,${from + i}.50,${note}`,
  );

describe.skipIf(!available)("single-pass merge into PostgreSQL", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const onDb = async (sql: string) => (await queryDatabase(db.url, sql)).rows;
  const yaml = (table: string, extra = "") =>
    `warehouse: "${db.url}"\npipelines:\n  ${table}:\n    source: { path: "in/*.csv" }\n    max_failure_rate: 0.5\n    columns: { email: { mask: redact }, amount: { type: "decimal(12,2)" } }\n${extra}    target: { table: ${table}, mode: merge, keys: [id] }\n`;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it("merges each CSV in one pass: malformed lines quarantined, masks applied, sums reconciled, rollback --to restores", async () => {
    const dir = makeProject(yaml("m"), {
      "landing/in/a.csv": ["id,email,amount,note", ...rows(1, 6, "old"), ""].join("\n"),
    });
    const first = await sluice(["run", "--json"], dir);
    expect(first.code, first.stderr).toBe(0);
    const runA = first.json<{ runs: FullRun[] }>().runs[0]!;
    expect(runA.load).toMatchObject({ inserted: 6, updated: 0 });

    // Keys 4..6 change, 7..9 are new, one line is malformed; two files in one run.
    addFile(
      dir,
      "landing/in/b.csv",
      ["id,email,amount,note", ...rows(4, 7, "new"), "8,u8@example.com,8.50,new,extra", ""].join("\n"),
    );
    addFile(dir, "landing/in/c.csv", ["id,email,amount,note", ...rows(9, 9, "new"), ""].join("\n"));
    const second = await sluice(["run", "--json"], dir);
    expect(second.code, second.stderr).toBe(0);
    const runB = second.json<{ runs: FullRun[] }>().runs[0]!;
    const messages = runLogMessages(dir, runB.run_id);
    expect(messages.filter((m) => m === "planned")).toHaveLength(2);
    expect(messages).not.toContain("staged");
    expect(messages).not.toContain("single pass undone; reading the files again, staged");
    expect(runB.rows).toEqual({ read: 6, loaded: 5, quarantined: 1, malformed: 1, duplicates: 0 });
    expect(runB.load).toMatchObject({ inserted: 2, updated: 3 });
    expect(runB.reconciliation).toMatchObject({
      source_rows: 5,
      target_rows: 5,
      ok: true,
      sums: { amount: { source: 33.5, target: 33.5 } },
    });
    expect(runB.profile?.rows).toBe(5);
    expect(runB.profile?.columns.id).toMatchObject({ min: "4", max: "9" });
    expect(await onDb("SELECT path AS f, rows_loaded::int AS n FROM sluice.files ORDER BY path")).toEqual([
      { f: "in/a.csv", n: 6 },
      { f: "in/b.csv", n: 4 },
      { f: "in/c.csv", n: 1 },
    ]);
    const quarantined = await onDb(
      `SELECT file, line::int AS line, rules, "values"::text AS v, raw FROM sluice.quarantine WHERE run_id = '${runB.run_id}'`,
    );
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]).toMatchObject({ file: "in/b.csv", line: 6, rules: ["malformed"] });
    // Masked means masked everywhere: the table, and the quarantine.
    expect(JSON.stringify(quarantined)).not.toContain("u8@example.com");
    expect(await onDb("SELECT count(*)::int AS n FROM m WHERE email LIKE '%@example.com'")).toEqual([
      { n: 0 },
    ]);
    expect(await onDb("SELECT id::int AS id, note FROM m ORDER BY id")).toEqual([
      ...[1, 2, 3].map((id) => ({ id, note: "old" })),
      ...[4, 5, 6, 7, 9].map((id) => ({ id, note: "new" })),
    ]);

    const back = await sluice(["rollback", "m", "--to", runA.run_id], dir);
    expect(back.code, back.stderr).toBe(0);
    expect(await onDb("SELECT id::int AS id, note FROM m ORDER BY id")).toEqual(
      [1, 2, 3, 4, 5, 6].map((id) => ({ id, note: "old" })),
    );
  });

  // With one pooled connection the publish holds the only one: nothing in a single pass may wait for
  // another (an earlier build asked the ledger on a second connection during the publish and hung).
  it("with pool_max=1 a single-pass append and a single-pass merge (into an existing table) complete", async () => {
    const dir = makeProject(
      `warehouse: "${db.url}?pool_max=1"\npipelines:\n  one_a:\n    source: { path: "in/a/*.csv" }\n    target: { table: one_a, mode: append }\n  one_m:\n    source: { path: "in/m/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: one_m, mode: merge, keys: [id] }\n`,
      {
        "landing/in/a/1.csv": ["id,email,amount,note", ...rows(1, 3, "a"), ""].join("\n"),
        "landing/in/a/2.csv": ["id,email,amount,note", ...rows(4, 5, "a"), ""].join("\n"),
        "landing/in/m/1.csv": ["id,email,amount,note", ...rows(1, 4, "old"), ""].join("\n"),
        "landing/in/m/2.csv": ["id,email,amount,note", ...rows(5, 6, "old"), ""].join("\n"),
      },
    );
    const runTwice = async () => {
      // A hang is killed by the timeout and fails the test.
      const r = await sluice(["run", "--json"], dir, { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const runs = r.json<{ runs: FullRun[] }>().runs;
      expect(runs.map((x) => [x.pipeline, x.status])).toEqual([
        ["one_a", "succeeded"],
        ["one_m", "succeeded"],
      ]);
      for (const x of runs) {
        const messages = runLogMessages(dir, x.run_id);
        expect(messages).toContain("planned");
        expect(messages).not.toContain("staged");
        expect(messages).not.toContain("single pass undone; reading the files again, staged");
      }
      return runs;
    };
    const [, firstMerge] = await runTwice();
    expect(firstMerge!.load).toMatchObject({ inserted: 6, updated: 0 });
    // Keys 3..4 change, 5 is the same, 7 is new: the upsert with its before-images beside it, on one connection.
    addFile(dir, "landing/in/a/3.csv", ["id,email,amount,note", ...rows(6, 6, "a"), ""].join("\n"));
    addFile(
      dir,
      "landing/in/m/3.csv",
      ["id,email,amount,note", ...rows(3, 4, "new"), ...rows(5, 5, "old"), ...rows(7, 7, "new"), ""].join(
        "\n",
      ),
    );
    const [, secondMerge] = await runTwice();
    expect(secondMerge!.load).toMatchObject({ inserted: 1, updated: 2 });
    expect(await onDb("SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM one_a")).toEqual([
      { n: 6, d: 6 },
    ]);
    expect(await onDb("SELECT id::int AS id, note FROM one_m ORDER BY id")).toEqual([
      ...[1, 2].map((id) => ({ id, note: "old" })),
      ...[3, 4].map((id) => ({ id, note: "new" })),
      ...[5, 6].map((id) => ({ id, note: "old" })),
      { id: 7, note: "new" },
    ]);
    const saved = await onDb(
      `SELECT id::int AS id, note FROM sluice.undo__public__one_m WHERE _sluice_undo_run = '${secondMerge!.run_id}' ORDER BY id`,
    );
    expect(saved).toEqual([3, 4].map((id) => ({ id, note: "old" })));
  });

  it.each([
    ["a key twice", ["id,email,amount,note", ...rows(1, 3, "x"), "2,u2@example.com,2.50,y", ""]],
    ["a NULL key", ["id,email,amount,note", ...rows(1, 3, "x"), ",u@example.com,1.00,y", ""]],
  ])(
    "%s in the batch undoes the single pass; the staged way reports it, nothing published",
    async (what, lines) => {
      const table = what === "a key twice" ? "twice" : "nullkey";
      const dir = makeProject(yaml(table), {
        "landing/in/a.csv": ["id,email,amount,note", ...rows(10, 11, "x"), ""].join("\n"),
      });
      expect((await sluice(["run"], dir)).code).toBe(0);
      addFile(dir, "landing/in/b.csv", lines.join("\n"));
      const r = await sluice(["run", "--json"], dir);
      expect(r.code).toBe(1);
      const run = r.json<{ runs: FullRun[] }>().runs[0]!;
      expect(runLogMessages(dir, run.run_id)).toContain(
        "single pass undone; reading the files again, staged",
      );
      expect(run.error ?? JSON.stringify(run)).toMatch(
        what === "a key twice" ? /1 key appears more than once in the batch for mode merge/ : /a NULL key/,
      );
      expect(existsSync(join(dir, "landing/in/b.csv"))).toBe(true);
      expect(await onDb(`SELECT count(*)::int AS n FROM ${table}`)).toEqual([{ n: 2 }]);
      expect(await onDb(`SELECT count(*)::int AS n FROM sluice.runs WHERE run_id = '${run.run_id}'`)).toEqual(
        [{ n: 1 }],
      );
    },
  );
});

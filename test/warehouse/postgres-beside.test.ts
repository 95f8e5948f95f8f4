import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, cliPath, makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

type Run = RunJson["runs"][number] & {
  load?: { inserted: number; updated: number };
  reconciliation?: { ok: boolean };
};

function csv(from: number, to: number, amount: (id: number) => number): string {
  const lines = ["id,name,amount"];
  for (let id = from; id <= to; id++) lines.push(`${id},n${id},${amount(id)}`);
  return `${lines.join("\n")}\n`;
}

// A merge into an existing table with a primary key captures its before-images on a second
// connection, beside the upsert: these tests pin what that must keep exact.
describe.skipIf(!available)("postgres merge: before-images captured beside the write", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  let dir: string;
  const query = async (sql: string) => (await client.query(sql)).rows;
  const content = async () => query("SELECT id, name, amount::text AS amount FROM m ORDER BY id");
  const run = async (name: string, body: string): Promise<Run> => {
    addFile(dir, `landing/in/${name}`, body);
    const result = await sluice(["run", "--json"], dir);
    return result.json<{ runs: Run[] }>().runs[0]!;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  m:\n    source: { path: "in/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: m, mode: merge, keys: [id] }\n`,
    );
  });
  afterAll(async () => {
    await client?.end();
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("saves exactly the changed rows as they were, drops stages of dead processes only, rolls back exactly", async () => {
    const first = await run(
      "a.csv",
      csv(1, 1000, (id) => id),
    );
    expect(first.status).toBe("succeeded");
    const afterFirst = await content();

    // A stage left by a killed process (its backend is gone) and one in use by a live connection.
    const live = new pg.Client({ connectionString: db.url });
    live.on("error", () => undefined);
    await live.connect();
    const livePid = (await live.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
    await query("CREATE UNLOGGED TABLE sluice.stage_4194999_1 (x int)");
    await query(`CREATE UNLOGGED TABLE sluice.stage_${livePid}_1 (x int)`);

    // 501..1000 overlap: the even ids change, the odd ones arrive unchanged; 1001..1500 are new.
    const second = await run(
      "b.csv",
      csv(501, 1500, (id) => (id <= 1000 && id % 2 === 0 ? id + 0.5 : id)),
    );
    expect(second.status).toBe("succeeded");
    expect(second.load).toMatchObject({ inserted: 500, updated: 250 });
    expect(second.reconciliation?.ok).toBe(true);

    const saved = await query(
      `SELECT id, amount::text AS amount, _sluice_run_id FROM sluice.undo__public__m WHERE _sluice_undo_run = '${second.run_id}' ORDER BY id`,
    );
    expect(saved).toHaveLength(250);
    expect(saved.every((r) => Number(r.id) % 2 === 0 && Number(r.id) > 500 && Number(r.id) <= 1000)).toBe(
      true,
    );
    // The images are the rows as the first run left them, not as the second wrote them.
    expect(saved.every((r) => r.amount === `${r.id}.00` && r._sluice_run_id === first.run_id)).toBe(true);
    // Unchanged rows were not touched.
    const untouched = await query(
      `SELECT count(*)::int AS n FROM m WHERE id BETWEEN 501 AND 1000 AND id % 2 = 1 AND _sluice_run_id = '${first.run_id}'`,
    );
    expect(untouched[0].n).toBe(250);
    // Before-images are found through a BRIN index (cheap to keep up as they are written).
    const indexes = await query("SELECT indexdef FROM pg_indexes WHERE tablename = 'undo__public__m'");
    expect(indexes.map((r) => r.indexdef)).toEqual([
      expect.stringMatching(/USING brin \(_sluice_undo_run\)/),
    ]);

    const stages = (
      await query("SELECT relname FROM pg_class WHERE relname LIKE 'stage\\_%' ORDER BY relname")
    ).map((r) => r.relname);
    expect(stages).toEqual([`stage_${livePid}_1`]);
    await query(`DROP TABLE sluice.stage_${livePid}_1`);
    await live.end();

    const rollback = await sluice(["rollback", "m", "--to", first.run_id, "--json"], dir);
    expect(rollback.code).toBe(0);
    expect(await content()).toEqual(afterFirst);
  });

  it("a publish that fails after its before-images committed is retried without doubling them", async () => {
    const before = await content();
    // A deferred constraint trigger fails the publish transaction once, at COMMIT — after the capture
    // beside it has committed — with a serialization failure, which Sluice retries.
    await query(`CREATE SEQUENCE fail_once;
      CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'injected commit failure' USING ERRCODE = '40001'; END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER fail_once AFTER INSERT OR UPDATE ON m DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION fail_once();`);
    try {
      const retried = await run(
        "r.csv",
        csv(1, 20, (id) => (id <= 10 ? id + 0.5 : Number(before[id - 1]!.amount))),
      );
      expect(retried.status).toBe("succeeded");
      expect(retried.load).toMatchObject({ inserted: 0, updated: 10 });
      expect(Number((await query("SELECT last_value FROM fail_once"))[0].last_value)).toBeGreaterThan(1);
      const saved = await query(
        `SELECT id, amount::text AS amount FROM sluice.undo__public__m WHERE _sluice_undo_run = '${retried.run_id}' ORDER BY id`,
      );
      expect(saved).toEqual(before.slice(0, 10).map((row) => ({ id: row.id, amount: row.amount })));
    } finally {
      await query("DROP TRIGGER fail_once ON m; DROP FUNCTION fail_once(); DROP SEQUENCE fail_once;");
    }
  });

  it("with one pooled connection (pool_max=1) the merge runs as one statement, just as exact", async () => {
    const one = makeProject(
      `warehouse: "${db.url}?pool_max=1"\npipelines:\n  m:\n    source: { path: "in/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: m, mode: merge, keys: [id] }\n`,
    );
    try {
      const before = await content();
      // A dead process's stage stays: the second connection, which would drop it, is never taken.
      await query("CREATE UNLOGGED TABLE sluice.stage_4194998_1 (x int)");
      addFile(
        one,
        "landing/in/p.csv",
        csv(1, 10, (id) => id + 0.75),
      );
      const result = await sluice(["run", "--json"], one);
      const r = result.json<{ runs: Run[] }>().runs[0]!;
      expect(r.status).toBe("succeeded");
      expect(r.load).toMatchObject({ inserted: 0, updated: 10 });
      const saved = await query(
        `SELECT id, amount::text AS amount FROM sluice.undo__public__m WHERE _sluice_undo_run = '${r.run_id}' ORDER BY id`,
      );
      expect(saved).toEqual(before.slice(0, 10).map((row) => ({ id: row.id, amount: row.amount })));
      const stages = await query("SELECT relname FROM pg_class WHERE relname LIKE 'stage\\_%'");
      expect(stages).toEqual([{ relname: "stage_4194998_1" }]);
      await query("DROP TABLE sluice.stage_4194998_1");
    } finally {
      rmSync(one, { recursive: true, force: true });
    }
  });

  it("the profile is taken while the server writes: stored with the run, anomalies warn, one connection suffices", async () => {
    const table = "p";
    const one = makeProject(
      `warehouse: "${db.url}?pool_max=1"\npipelines:\n  ${table}:\n    source: { path: "in/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: ${table}, mode: merge, keys: [id] }\n`,
    );
    try {
      const runs: Run[] = [];
      // Four loads of 20 rows (the first creates the table, the rest merge into it), then one of 2,000.
      for (const [i, [from, to]] of [
        [1, 20],
        [21, 40],
        [41, 60],
        [61, 80],
        [81, 2080],
      ].entries()) {
        addFile(
          one,
          `landing/in/${i}.csv`,
          csv(from!, to!, (id) => id * 2),
        );
        const result = await sluice(["run", "--json"], one);
        runs.push(result.json<{ runs: Run[] }>().runs[0]!);
      }
      const last = runs.at(-1)! as Run & {
        profile?: { rows: number; columns: Record<string, { mean: number | null; max: string | null }> };
        anomalies?: string[];
      };
      expect(runs.map((r) => r.status)).toEqual(Array(5).fill("succeeded"));
      expect(last.load).toMatchObject({ inserted: 2000, updated: 0 });
      expect(last.profile?.rows).toBe(2000);
      expect(last.profile?.columns.amount).toMatchObject({ mean: 2 * ((81 + 2080) / 2), max: "4160.00" });
      expect(last.anomalies?.some((a) => /row count/i.test(a))).toBe(true);
      // The run record in the catalog holds the same profile and warnings.
      const [stored] = await query(`SELECT report FROM sluice.runs WHERE run_id = '${last.run_id}'`);
      const report = typeof stored.report === "string" ? JSON.parse(stored.report) : stored.report;
      expect(report.profile).toEqual(last.profile);
      expect(report.anomalies).toEqual(last.anomalies);
    } finally {
      rmSync(one, { recursive: true, force: true });
    }
  });

  it("a batch staged over two COPY connections arrives intact: quotes, commas, newlines, unicode", async () => {
    const odd = ['say "hi"', "a,b", "line\nbreak", '"', "", "ünïcødé ✓", "x\n\ny", "plain"];
    // Every name starts with a line break (most of each record lies inside quotes after a newline),
    // so a cut at a newline inside a field would show.
    const name = (id: number, round: number) =>
      `${round}\n${odd[(id + round) % odd.length]} ${"·".repeat(id % 40)}`;
    const field = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
    const file = (from: number, to: number, round: number) =>
      `id,name,amount\n${Array.from({ length: to - from + 1 }, (_, i) => `${from + i},${field(name(from + i, round))},${from + i}.5`).join("\n")}\n`;
    const two = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  q:\n    source: { path: "in/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: q, mode: merge, keys: [id] }\n`,
    );
    try {
      addFile(two, "landing/in/1.csv", file(1, 4000, 0));
      const first = (await sluice(["run", "--json"], two)).json<{ runs: Run[] }>().runs[0]!;
      expect(first.error ?? first.status).toBe("succeeded");
      // The second load merges into the existing table: its batch is staged on two connections.
      addFile(two, "landing/in/2.csv", file(2001, 8000, 1));
      const second = (await sluice(["run", "--json"], two)).json<{ runs: Run[] }>().runs[0]!;
      expect(second.error ?? second.status).toBe("succeeded");
      expect(second.load).toMatchObject({ inserted: 4000, updated: 2000 });
      const rows = await query("SELECT id::int AS id, name, amount::text AS amount FROM q ORDER BY id");
      const expected = Array.from({ length: 8000 }, (_, i) => {
        const id = i + 1;
        return { id, name: name(id, id > 2000 ? 1 : 0), amount: `${id}.50` };
      });
      expect(rows).toEqual(expected);

      // PostgreSQL refuses a NUL byte in text: the COPY stream carrying it fails, the other is
      // cancelled, nothing of that attempt stays behind, and the run reads the file again with the rows
      // holding a NUL byte quarantined (the quarantine shows the byte as U+2400).
      const nul = Array.from(
        { length: 20_000 },
        (_, i) => `${i + 1},n${i + 1}${i === 15_000 ? "\u0000x" : ""},1`,
      );
      addFile(two, "landing/in/3.csv", `id,name,amount\n${nul.join("\n")}\n`);
      const third = (await sluice(["run", "--json"], two)).json<{ runs: Run[] }>().runs[0]!;
      expect(third.error ?? third.status).toBe("succeeded");
      expect(third.rows).toMatchObject({ read: 20_000, loaded: 19_999, quarantined: 1 });
      expect(third.checks).toContainEqual({ name: "no_nul_bytes", severity: "error", failed: 1 });
      expect(
        await query(
          "SELECT count(*)::int AS n, bool_or(name LIKE 'n15001%') AS nul_row FROM q WHERE id > 8000",
        ),
      ).toEqual([{ n: 19_999 - 8000, nul_row: false }]);
      expect(
        await query(
          `SELECT rules, reasons, "values"->>'name' AS name, line::int AS line FROM sluice.quarantine`,
        ),
      ).toEqual([
        {
          rules: ["no_nul_bytes"],
          reasons: ["a value holds a NUL byte, which the warehouse cannot store in text"],
          name: "n15001\u2400x",
          line: 15_002,
        },
      ]);
      expect(await query("SELECT relname FROM pg_class WHERE relname LIKE 'stage\\_%'")).toEqual([]);
    } finally {
      rmSync(two, { recursive: true, force: true });
    }
  });

  it("the capture finds the target rows by index probes, not a read of the whole target; rollback stays exact", async () => {
    const ix = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  ix:\n    source: { path: "in/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: ix, mode: merge, keys: [id] }\n`,
    );
    try {
      const rows = 20_000;
      addFile(
        ix,
        "landing/in/1.csv",
        csv(1, rows, (id) => id),
      );
      const first = (await sluice(["run", "--json"], ix)).json<{ runs: Run[] }>().runs[0]!;
      expect(first.error ?? first.status).toBe("succeeded");
      const afterFirst = await query("SELECT id, name, amount::text AS amount FROM ix ORDER BY id");
      const reads = async () =>
        (
          await query(
            "SELECT coalesce(seq_tup_read, 0)::int AS seq FROM pg_stat_user_tables WHERE relname = 'ix'",
          )
        )[0].seq as number;
      const before = await reads();
      // Half the batch matches (every matched row changes), half is new.
      addFile(
        ix,
        "landing/in/2.csv",
        csv(rows / 2 + 1, rows + rows / 2, (id) => id + 0.5),
      );
      const second = (await sluice(["run", "--json"], ix)).json<{ runs: Run[] }>().runs[0]!;
      expect(second.error ?? second.status).toBe("succeeded");
      expect(second.load).toMatchObject({ inserted: rows / 2, updated: rows / 2 });
      expect(second.reconciliation?.ok).toBe(true);
      // A hash join would have read every row of the target; the probes read none sequentially. The run's
      // table size is counted after the commit: one read of the 30,000 rows it left, nothing else.
      // (Statistics reach pg_stat once the run's backends have ended: wait for them.)
      for (let i = 0; i < 50 && (await reads()) - before < rows + rows / 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 500));
      const after = await reads();
      expect(after - before).toBe(rows + rows / 2);
      const saved = await query(
        `SELECT count(*)::int AS n, min(id)::int AS lo, max(id)::int AS hi, bool_and(amount = id) AS old FROM sluice.undo__public__ix WHERE _sluice_undo_run = '${second.run_id}'`,
      );
      expect(saved).toEqual([{ n: rows / 2, lo: rows / 2 + 1, hi: rows, old: true }]);
      const rollback = await sluice(["rollback", "ix", "--to", first.run_id, "--json"], ix);
      expect(rollback.code).toBe(0);
      expect(await query("SELECT id, name, amount::text AS amount FROM ix ORDER BY id")).toEqual(afterFirst);
    } finally {
      rmSync(ix, { recursive: true, force: true });
    }
  });

  it("a write that fails commits no before-images and publishes nothing", async () => {
    const before = await content();
    const imagesBefore = await query("SELECT count(*)::int AS n FROM sluice.undo__public__m");
    // A constraint added by hand that the batch breaks: the upsert fails while the capture succeeds.
    await query("ALTER TABLE m ADD CONSTRAINT small_amounts CHECK (amount < 100000)");
    const failed = await run(
      "c.csv",
      csv(1, 1200, (id) => (id === 1200 ? 999999 : id + 0.25)),
    );
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/small_amounts/);
    expect(await content()).toEqual(before);
    expect(await query("SELECT count(*)::int AS n FROM sluice.undo__public__m")).toEqual(imagesBefore);
    expect(await query("SELECT relname FROM pg_class WHERE relname LIKE 'stage\\_%'")).toEqual([]);
    await query("ALTER TABLE m DROP CONSTRAINT small_amounts");
  });
});

describe.skipIf(!available)("postgres merge: before-images beside the write under SIGKILL", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  k:\n    source: { path: "in/*.csv" }\n    columns: { amount: { type: "decimal(12,2)" } }\n    target: { table: k, mode: merge, keys: [id] }\n`,
    );
  });
  afterAll(async () => {
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("every recorded load keeps exactly its before-images; rollback stays exact", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const query = async (sql: string) => (await client.query(sql)).rows;
      const rows = 20_000;
      addFile(
        dir,
        "landing/in/a.csv",
        csv(1, rows, (id) => id),
      );
      const first = (await sluice(["run", "--json"], dir)).json<{ runs: Run[] }>().runs[0]!;
      expect(first.status).toBe("succeeded");
      const afterFirst = await query("SELECT id, amount::text AS amount FROM k ORDER BY id");
      // Four files, each changing its own quarter of the rows and adding new ones, each followed by a run
      // killed at a random point (before, during or after its publish), then a run that finishes.
      for (let i = 0; i < 4; i++) {
        const from = i * 5_000 + 1;
        const changed = csv(from, from + 4_999, (id) => id + 0.5)
          .split("\n")
          .slice(1)
          .join("\n");
        addFile(
          dir,
          `landing/in/b${i}.csv`,
          `${csv(rows + i * 1_000 + 1, rows + (i + 1) * 1_000, (id) => id)}${changed}`,
        );
        const child = spawn(process.execPath, [cliPath, "run", "--json"], { cwd: dir, stdio: "ignore" });
        const done = new Promise((resolve) => child.on("close", resolve));
        setTimeout(() => child.kill("SIGKILL"), 100 + Math.floor(Math.random() * 1100));
        await done;
      }
      const last = await sluice(["run", "--json"], dir, { timeoutMs: 120_000 });
      expect(last.code).toBe(0);

      const loads = await query("SELECT run_id, saved::int AS saved FROM sluice.loads ORDER BY seq");
      expect(loads.length).toBeGreaterThanOrEqual(2);
      // Every row changed once: one before-image each, under the load that changed it — none doubled.
      expect(loads.slice(1).reduce((n, l) => n + l.saved, 0)).toBe(rows);
      for (const load of loads) {
        const images = await query(
          `SELECT count(*)::int AS n FROM sluice.undo__public__k WHERE _sluice_undo_run = '${load.run_id}'`,
        );
        expect(images[0].n).toBe(load.saved);
      }
      const content = await query("SELECT count(*)::int AS n, sum(amount)::text AS s FROM k");
      const expectedSum =
        (rows * (rows + 1)) / 2 +
        rows * 0.5 +
        ((rows + 4_000) * (rows + 4_001)) / 2 -
        (rows * (rows + 1)) / 2;
      expect(content[0]).toEqual({ n: rows + 4_000, s: expectedSum.toFixed(2) });
      const rollback = await sluice(["rollback", "k", "--to", first.run_id, "--json"], dir);
      expect(rollback.code).toBe(0);
      expect(await query("SELECT id, amount::text AS amount FROM k ORDER BY id")).toEqual(afterFirst);
    } finally {
      await client.end();
    }
  }, 120_000);
});

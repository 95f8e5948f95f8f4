import { rmSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

type LoadJson = {
  runs: (RunJson["runs"][number] & {
    started_at: string;
    load: { inserted: number; deleted: number } | null;
    reconciliation: { ok: boolean } | null;
  })[];
};

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

// PostgreSQL append and replace copy the batch straight into the target inside the publish transaction:
// the rows cross once (no temporary stage and INSERT ... SELECT), beside the ledger and the run record.
describe.skipIf(!available)("postgres append and replace copy straight into the target", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let client: pg.Client;
  const dirs: string[] = [];
  const query = async (sql: string) => (await client.query(sql)).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    // Every statement that writes a watched table, as the session sent it (the top-level statement).
    await client.query(`CREATE TABLE statements (tbl text, op text, query text, at serial)`);
    await client.query(`CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO public.statements (tbl, op, query) VALUES (TG_TABLE_NAME, TG_OP, current_query()); RETURN NULL; END $$`);
  });
  afterAll(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await client?.end();
    await db?.cleanup();
  });

  const project = (table: string, mode: string) => {
    const dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  ${table}:\n    source: { path: "in/${table}/*.csv" }\n    target: { table: ${table}, mode: ${mode} }\n`,
    );
    dirs.push(dir);
    return dir;
  };
  const run = async (dir: string) => {
    const result = await sluice(["run", "--json"], dir);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    return result.json<LoadJson>().runs[0]!;
  };
  const watch = (table: string) =>
    client.query(
      `CREATE TRIGGER ${table}_log AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION log_statement()`,
    );
  const writes = async (table: string) =>
    (await query(`SELECT op, query FROM statements WHERE tbl = '${table}' ORDER BY at`)).map(
      (r) => `${r.op} ${String(r.query).trim().split(/\s+/)[0]!.toUpperCase()}`,
    );

  it("append: a new table gets the rows and their run's metadata, and keeps no column default", async () => {
    const dir = project("events", "append");
    addFile(dir, "landing/in/events/a.csv", "id,name\n1,one\n2,two\n3,three\n");
    const first = await run(dir);
    expect(first.status).toBe("succeeded");
    expect(first.reconciliation?.ok).toBe(true);
    const rows = await query(
      "SELECT _sluice_run_id AS r, _sluice_source_file AS f, count(*)::int AS n FROM events GROUP BY 1, 2",
    );
    expect(rows).toEqual([{ r: first.run_id, f: "in/events/a.csv", n: 3 }]);
    const loadedAt = await query("SELECT DISTINCT _sluice_loaded_at AS t FROM events");
    expect(loadedAt).toHaveLength(1);
    expect(new Date(loadedAt[0]!.t as string).toISOString()).toBe(first.started_at);
    // The batch's constants served as defaults during the copy only.
    const defaults = await query(
      "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'events' AND column_default IS NOT NULL",
    );
    expect(defaults).toEqual([{ n: 0 }]);

    // Into the existing table: one COPY, no INSERT from a stage.
    await watch("events");
    addFile(dir, "landing/in/events/b.csv", "id,name\n4,four\n5,five\n");
    const second = await run(dir);
    expect(second.load?.inserted).toBe(2);
    expect(second.reconciliation?.ok).toBe(true);
    expect(await writes("events")).toEqual(["INSERT COPY"]);
    expect(
      await query("SELECT count(*)::int AS n FROM events WHERE _sluice_run_id = '" + second.run_id + "'"),
    ).toEqual([{ n: 2 }]);
  });

  it("replace: before-images, delete, then one COPY; rollback restores the earlier content", async () => {
    const dir = project("prices", "replace");
    addFile(dir, "landing/in/prices/a.csv", "sku,price\nA,1.5\nB,2.5\n");
    const first = await run(dir);
    await watch("prices");
    addFile(dir, "landing/in/prices/b.csv", "sku,price\nC,3.5\n");
    const second = await run(dir);
    expect(second.load).toMatchObject({ inserted: 1, deleted: 2 });
    expect(await writes("prices")).toEqual(["DELETE DELETE", "INSERT COPY"]);
    expect(await query("SELECT sku FROM prices ORDER BY sku")).toEqual([{ sku: "C" }]);
    const rollback = await sluice(["rollback", "prices", "--to", first.run_id], dir);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect(await query("SELECT sku, price FROM prices ORDER BY sku")).toEqual([
      { sku: "A", price: 1.5 },
      { sku: "B", price: 2.5 },
    ]);
  });
});

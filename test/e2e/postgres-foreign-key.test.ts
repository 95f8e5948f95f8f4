import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!available)("foreign_key checks on a PostgreSQL warehouse", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const onDb = async (sql: string) => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it("checks against a table of another schema on the server; a missing table is a configuration error", async () => {
    const yaml = (table: string) => `warehouse: "${db.url}"
pipelines:
  orders:
    source: { path: "in/*.csv" }
    max_failure_rate: 1
    checks:
      - { rule: foreign_key, column: customer_id, references: { table: ${table}, column: Id } }
    target: { table: orders }
`;
    const dir = makeProject(yaml("crm.customers"), { "landing/in/a.csv": "id,customer_id\n1,7\n2,8\n3,\n" });
    const missing = await sluice(["validate"], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      "pipelines.orders.checks[0].references.table: table crm.customers does not exist in the warehouse and no pipeline loads it",
    );
    const failed = await sluice(["run"], dir);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(
      "pipelines.orders.checks[0].references.table: table crm.customers does not exist in the warehouse",
    );

    // A table no pipeline loads, in its own schema, with a mixed-case column name.
    await onDb(`CREATE SCHEMA crm; CREATE TABLE crm.customers ("Id" bigint, name text);
      INSERT INTO crm.customers VALUES (7, 'a'), (7, 'a again'), (NULL, 'b')`);
    expect((await sluice(["validate"], dir)).code).toBe(0);
    const run = await sluice(["run", "--json"], dir);
    expect(run.code, run.stderr).toBe(0);
    const report = run.json<RunJson>().runs[0]!;
    expect(report.rows).toMatchObject({ read: 3, loaded: 2, quarantined: 1 });
    expect(report.checks).toEqual([{ name: "foreign_key(customer_id)", severity: "error", failed: 1 }]);
    const quarantine = await onDb("SELECT line, reasons FROM sluice.quarantine");
    expect(quarantine.rows).toEqual([
      { line: "3", reasons: ["customer_id = 8 has no match in crm.customers.Id"] },
    ]);
    const loaded = await onDb("SELECT id FROM orders ORDER BY id");
    expect(loaded.rows.map((r) => Number(r.id))).toEqual([1, 3]);

    // A key added on the server counts from the next run on.
    await onDb("INSERT INTO crm.customers VALUES (8, 'c')");
    addFile(dir, "landing/in/b.csv", "id,customer_id\n4,8\n");
    const next = await sluice(["run", "--json"], dir);
    expect(next.json<RunJson>().runs[0]!.rows).toMatchObject({ loaded: 1, quarantined: 0 });
  }, 60_000);
});

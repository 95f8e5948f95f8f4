import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const postgresAvailable = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

/** A CSV loaded as text, then read by a query source declaring types its values do not all fit. */
function badValueProject(warehouse: string, sql: string): string {
  return makeProject(
    `warehouse: ${warehouse}
landing: landing
pipelines:
  raw:
    source: { path: "in/*.csv" }
    columns:
      amount: { type: varchar }
      pin: { type: varchar }
    target: { table: raw_orders, mode: append }
  typed:
    source: { sql: "${sql}" }
    columns:
      amount: { type: "decimal(12,2)" }
      pin: { type: integer, mask: "null" }
    depends_on: [raw]
    max_failure_rate: 0.9
    target: { table: typed_orders }
`,
    { "landing/in/a.csv": "id,amount,pin\n1,10.50,1234\n2,not-a-number,5678\n3,7.25,12x4\n" },
  );
}

interface QuarantineJson {
  file: string;
  line: number | null;
  rules: string[];
  reasons: string[];
  raw: string | null;
}

async function expectBadValuesQuarantined(dir: string): Promise<void> {
  const run = await sluice(["run", "--json"], dir);
  expect(run.code).toBe(0);
  const typed = run.json<RunJson>().runs.find((r) => r.pipeline === "typed")!;
  expect(typed.status).toBe("succeeded");
  expect(typed.rows).toEqual({ read: 3, loaded: 1, quarantined: 2, malformed: 2, duplicates: 0 });
  const q = (await sluice(["quarantine", "typed", "--json"], dir)).json<QuarantineJson[]>();
  const reasons = q.map((x) => x.reasons.join(" | ")).sort();
  expect(q.every((x) => x.rules.join() === "malformed")).toBe(true);
  expect(reasons[0]).toMatch(/column amount: 'not-a-number' is not a valid decimal\(12,2\)/);
  // The masked column's value is never quoted.
  expect(reasons[1]).toMatch(/column pin: a value does not convert .*withheld/);
  expect(JSON.stringify(q)).not.toContain("12x4");
  const loaded = await sluice(
    ["query", "SELECT id::INT AS id, amount::VARCHAR AS amount FROM typed_orders", "--json"],
    dir,
  );
  expect(loaded.json()).toEqual([{ id: 1, amount: "10.50" }]);
}

function project(sql: string): string {
  return makeProject(
    `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/*.csv" }
    target: { table: orders, mode: append }
  big:
    source:
      sql: |
${sql
  .split("\n")
  .map((l) => `        ${l}`)
  .join("\n")}
    depends_on: [orders]
    target: { table: big }
`,
    { "landing/in/a.csv": "id,amount\n1,10\n2,20\n3,30\n" },
  );
}

describe("source.sql", () => {
  it.each([
    ["a trailing -- comment", "select * from orders where amount > 15 -- the big ones"],
    ["a comment after the semicolon", "select * from orders where amount > 15; -- the big ones"],
    [
      "comments inside",
      "-- big orders\nselect * /* all columns */ from orders\nwhere amount > 15 -- over 15",
    ],
  ])("with %s runs", async (_name, sql) => {
    const dir = project(sql);
    expect((await sluice(["validate"], dir)).code).toBe(0);
    const run = await sluice(["run", "--json"], dir);
    expect(run.stderr).toBe("");
    const big = run.json<RunJson>().runs.find((r) => r.pipeline === "big")!;
    expect([big.status, big.rows.loaded]).toEqual(["succeeded", 2]);
  });

  it("holding several statements is a configuration error naming the key", async () => {
    const dir = project("select * from orders; delete from orders");
    const validate = await sluice(["validate"], dir);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(
      "pipelines.big.source.sql: holds several statements; write one query (a SELECT), without ';' inside",
    );
  });

  it("quarantines a value that does not fit a declared type (DuckDB warehouse)", async () => {
    await expectBadValuesQuarantined(badValueProject("duckdb:warehouse.duckdb", "select * from raw_orders"));
  });

  it("names the pipeline and key of a query error it cannot quarantine", async () => {
    const dir = badValueProject(
      "duckdb:warehouse.duckdb",
      "select cast(amount as decimal(12,2)) as amount from raw_orders",
    );
    const run = await sluice(["run", "--json"], dir);
    expect(run.code).toBe(1);
    const typed = run.json<RunJson>().runs.find((r) => r.pipeline === "typed")!;
    expect(typed.error).toMatch(/^pipelines\.typed\.source\.sql: source query failed: .*not-a-number/);
  });
});

describe.skipIf(!postgresAvailable)("source.sql on a PostgreSQL warehouse", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it("quarantines a value that does not fit a declared type", async () => {
    await expectBadValuesQuarantined(badValueProject(db.url, "select * from raw_orders"));
  });
});

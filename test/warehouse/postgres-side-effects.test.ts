import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

type ErrorJson = { error: { code: string; message: string } };

// A READ ONLY transaction does not stop large objects, server files, settings or notifications:
// `sluice query` and a pipeline's `source.sql` refuse the functions that have such effects.
describe.skipIf(!available)("read-only SQL on a PostgreSQL warehouse has no side effects", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  const largeObjects = async (): Promise<number> => {
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    try {
      return Number((await w.query("SELECT count(*) AS n FROM pg_largeobject_metadata"))[0]!.n);
    } finally {
      await w.close();
    }
  };
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  ro:\n    source: { path: "in/*.csv" }\n    target: { table: ro, mode: append }\n`,
    );
    addFile(dir, "landing/in/a.csv", "id\n1\n2\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.cleanup();
  });

  it.each([
    ["select lo_from_bytea(0, 'x')", "lo_from_bytea"],
    ["select lo_create(0)", "lo_create"],
    ["select pg_catalog.lo_import('/etc/hostname')", "lo_import"],
    ["select set_config('transaction_read_only', 'off', true)", "set_config"],
    ["select query_to_xml('select lo_from_bytea(0, ''x'')', true, true, '')", "query_to_xml"],
    ["select pg_read_file('/etc/hostname')", "pg_read_file"],
    ["select pg_notify('sluice', 'x')", "pg_notify"],
  ])("sluice query %s is refused and changes nothing", async (sql, name) => {
    const result = await sluice(["query", sql, "--json"], dir);
    expect(result.code).toBe(1);
    const { error } = result.json<ErrorJson>();
    expect(error.code).toBe("QUERY_FAILED");
    expect(error.message).toContain(`query failed: calls ${name}(): `);
    expect(await largeObjects()).toBe(0);
  });

  it("lo_export writes no server file; a DO block is not a query", async () => {
    const target = join(tmpdir(), `sluice-lo-export-${process.pid}`);
    const exported = await sluice(["query", `select lo_export(lo_from_bytea(0, 'x'), '${target}')`], dir);
    expect(exported.code).toBe(1);
    expect(existsSync(target)).toBe(false);
    const block = await sluice(["query", "do $$ begin perform lo_from_bytea(0, 'x'); end $$"], dir);
    expect(block.code).toBe(1);
    expect(block.stderr).toContain("DO is not a query");
    expect(await largeObjects()).toBe(0);
  });

  it("plain queries still run, with comments and a trailing semicolon", async () => {
    const result = await sluice(["query", "select count(*)::int as n from ro -- all rows\n;", "--json"], dir);
    expect(result.stderr).toBe("");
    expect(result.json()).toEqual([{ n: 2 }]);
  });

  it("a source.sql with side effects fails validate, and a run that skips validation refuses it", async () => {
    const project = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  leak:\n    source: { sql: "select lo_from_bytea(0, 'x') as oid" }\n    target: { table: leak }\n`,
    );
    const validate = await sluice(["validate"], project);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(
      "pipelines.leak.source.sql: calls lo_from_bytea(): large objects outlive the query",
    );
    const [report] = await runProject(createProjectContext(await loadProject({ cwd: project })));
    expect(report!.status).toBe("failed");
    expect(report!.error).toContain("source.sql: calls lo_from_bytea()");
    expect(await largeObjects()).toBe(0);
    rmSync(project, { recursive: true, force: true });
  });

  it("a source.sql ending in a -- comment runs", async () => {
    const project = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  copy:\n    source:\n      sql: |\n        select id from ro -- every row\n    target: { table: ro_copy }\n`,
    );
    const run = await sluice(["run", "--json"], project);
    expect(run.stderr).toBe("");
    expect(run.json<RunJson>().runs[0]!.rows.loaded).toBe(2);
    rmSync(project, { recursive: true, force: true });
  });
});

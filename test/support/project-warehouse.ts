import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { makeProject } from "./cli.js";
import { createTestDatabase } from "./postgres.js";

/** A project's warehouse opened through the project context, on an embedded DuckDB or a fresh PostgreSQL database. */
export interface ProjectWarehouse {
  readonly warehouse: Warehouse;
  /** The warehouse's URL (a `postgres://` one can be reached by other clients). */
  readonly url: string;
  /** Statements run as one multi-statement script, on the warehouse's own engine. */
  exec(sql: string): Promise<void>;
  /** Closes the warehouse and drops the PostgreSQL database. */
  close(): Promise<void>;
}

/**
 * Opens a one-pipeline project's warehouse, as the CLI would: for catalog tests that run the same
 * cases on both warehouses.
 *
 * @example
 * const pw = await openProjectWarehouse("postgres");
 * await pw.exec("CREATE TABLE t AS SELECT 1 AS id");
 */
export async function openProjectWarehouse(kind: "duckdb" | "postgres"): Promise<ProjectWarehouse> {
  let url = "duckdb:warehouse.duckdb";
  let drop: (() => Promise<void>) | undefined;
  if (kind === "postgres") {
    const db = await createTestDatabase();
    url = db.url;
    drop = db.cleanup;
  }
  const dir = makeProject(
    `warehouse: ${url}\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: t }\n`,
  );
  const warehouse = await createProjectContext(await loadProject({ cwd: dir })).openWarehouse();
  return {
    warehouse,
    url,
    exec: (sql) =>
      kind === "postgres" ? postgresExec(url, sql) : warehouse.engine.run(sql).then(() => undefined),
    async close() {
      await warehouse.close();
      await drop?.();
    },
  };
}

async function postgresExec(url: string, sql: string): Promise<void> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

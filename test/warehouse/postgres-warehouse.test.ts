import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { loadProject } from "../../src/project/load-config.js";
import { attemptsOf } from "../../src/resilience/retry.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { pgError } from "../../src/warehouse/postgres-errors.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { addFile, makeProject, sluice } from "../support/cli.js";
import { adminQuery, createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { queryAll } from "./warehouse-suite.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!available)("postgres warehouse: connections, errors, concurrency", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it("an unreachable server fails with a clear, password-free message, then fails fast (circuit open)", async () => {
    const url = "postgres://sluice:s3cr%40t-pw@127.0.0.1:1/nowhere";
    const errors: SluiceError[] = [];
    const retried: string[] = [];
    // The circuit counts operations that failed after their retries: it opens after the fifth.
    for (let i = 0; i < 6; i++) {
      const error = await openPostgresWarehouse({
        url,
        retries: 1,
        retryBaseMs: 5,
        onRetry: (m) => retried.push(m),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SluiceError);
      errors.push(error as SluiceError);
    }
    expect(errors[0]!.message).toMatch(/PostgreSQL sluice@127\.0\.0\.1:1\/nowhere: connection refused/);
    expect(errors.slice(0, 5).map((e) => e.code)).toEqual(Array(5).fill("WAREHOUSE_ERROR"));
    // Each of the first five was retried once (quietly); the sixth fails fast, without an attempt.
    expect(errors.map((e) => attemptsOf(e))).toEqual([...Array(5).fill(2), undefined]);
    // A server never reached is most likely a wrong URL: its retries print nothing, the error says it once.
    expect(retried).toHaveLength(0);
    expect(errors[5]!.code).toBe("CIRCUIT_OPEN");
    for (const e of errors) expect(`${e.message} ${String(e.cause)}`).not.toMatch(/s3cr|%40t-pw/);
  });

  it("read-only commands on a database Sluice has not written to report nothing yet, user queries work", async () => {
    const fresh = await createTestDatabase();
    try {
      const dir = makeProject(
        `warehouse: "${fresh.url}"\npipelines:\n  t:\n    source: { path: "in/*.csv" }\n    target: { table: t, mode: append }\n`,
      );
      const runs = await sluice(["runs", "--json"], dir);
      expect([runs.code, runs.json()]).toEqual([0, { runs: [] }]);
      expect((await sluice(["runs"], dir)).stdout).toContain("no runs yet");
      const quarantine = await sluice(["quarantine", "t", "--json"], dir);
      expect([quarantine.code, quarantine.json()]).toEqual([0, []]);
      const versions = await sluice(["files", "versions", "a.csv"], dir);
      expect([versions.code, versions.stdout.trim()]).toEqual([0, "no versions of a.csv received yet"]);
      // The database itself is queryable before the first run; only the missing catalog reads as empty.
      const query = await sluice(["query", "SELECT 41 + 1 AS answer", "--json"], dir);
      expect([query.code, query.json()]).toEqual([0, [{ answer: 42 }]]);
      const catalog = await sluice(["query", "SELECT * FROM sluice.runs"], dir);
      expect(catalog.code).not.toBe(0);
      expect(catalog.stderr).toContain("no warehouse yet (run `sluice run` first)");
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await fresh.cleanup();
    }
  });

  it("authentication failures say what to check, without the password", () => {
    // The test server uses trust authentication, so a wrong password cannot be provoked; classify the
    // server's error as it arrives.
    const error = pgError(
      Object.assign(new Error('password authentication failed for user "sluice"'), { code: "28P01" }),
      "sluice@db:5432/w",
      "hunter2",
      "connect",
    );
    expect(error.transient).toBe(false);
    expect(error.message).toMatch(/authentication failed.*check the user and password/);
  });

  it("connects with a URL whose password and database name need encoding; the password is in no record", async () => {
    const name = `sluice test ${Math.random().toString(36).slice(2, 8)}`;
    await adminQuery(`CREATE DATABASE "${name}"`);
    try {
      const password = "p@ss/w:rd#?%";
      const url = `${pgServer.replace("postgres://postgres@", `postgres://postgres:${encodeURIComponent(password)}@`)}/${encodeURIComponent(name)}`;
      const dir = makeProject(
        `warehouse: "${url}"\npipelines:\n  t:\n    source: { path: "in/*.csv" }\n    target: { table: t, mode: append }\n`,
      );
      addFile(dir, "landing/in/a.csv", "id\n1\n");
      const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
      const [report] = await runProject(ctx);
      expect(report!.status).toBe("succeeded");
      const w = await ctx.openWarehouse({ readOnly: true });
      const runs = await w.query("SELECT report::text AS r FROM sluice.runs");
      await w.close();
      expect(runs).toHaveLength(1);
      expect(String(runs[0]!.r)).not.toContain("p@ss");
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  });

  it("concurrent runs against one catalog never load the same content twice", async () => {
    const yaml = `warehouse: "${db.url}"\npipelines:\n  c:\n    source: { path: "in/*.csv" }\n    target: { table: c, mode: append }\n`;
    const content = `id\n${Array.from({ length: 5000 }, (_, i) => i).join("\n")}\n`;
    const dirs = [0, 1, 2].map(() => makeProject(yaml, { "landing/in/same.csv": content }));
    const reports = await Promise.all(
      dirs.map(async (dir) =>
        runProject(createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }))),
      ),
    );
    const statuses = reports.map((r) => r[0]!.files[0]!.status).sort();
    expect(statuses).toEqual(["loaded", "skipped_duplicate", "skipped_duplicate"]);
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    const rows = await w.query("SELECT count(*) AS n FROM c");
    const ledger = await w.query("SELECT count(*) AS n FROM sluice.files WHERE status = 'loaded'");
    await w.close();
    expect(Number(rows[0]!.n)).toBe(5000);
    expect(Number(ledger[0]!.n)).toBe(1);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("sluice query runs read-only on PostgreSQL", async () => {
    const w = await openPostgresWarehouse({ url: db.url });
    await expect(queryAll(w, "CREATE TABLE nope (x int)")).rejects.toThrow(/CREATE is not a query/);
    // A query that writes gets past the statement check; the READ ONLY transaction stops it.
    await expect(
      queryAll(w, "WITH gone AS (DELETE FROM sluice.runs RETURNING 1) SELECT * FROM gone"),
    ).rejects.toThrow(/read-only transaction/);
    const { columns, rows } = await queryAll(w, "SELECT 1::bigint AS n, 'x' AS s");
    await w.close();
    expect(columns).toEqual(["n", "s"]);
    expect(rows).toEqual([{ n: 1, s: "x" }]);
  });

  it("sluice query cannot end its read-only transaction to write: several statements are refused, nothing changes", async () => {
    const dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  ro:\n    source: { path: "in/*.csv" }\n    target: { table: ro, mode: append }\n`,
    );
    addFile(dir, "landing/in/a.csv", "id\n1\n2\n");
    expect((await sluice(["run"], dir)).code).toBe(0);
    for (const sql of [
      "commit; delete from ro",
      "COMMIT; CREATE TABLE pwned (x int)",
      "select 1; select 2",
    ]) {
      const refused = await sluice(["query", sql, "--json"], dir);
      expect(refused.code).toBe(1);
      const { error } = refused.json<{ error: { code: string; message: string } }>();
      expect(error.code).toBe("QUERY_FAILED");
      expect(error.message).toMatch(/holds several statements; sluice query runs one statement at a time/);
      expect(error.message).not.toMatch(/Cannot read properties/);
    }
    const commit = await sluice(["query", "commit"], dir);
    expect(commit.code).toBe(1);
    expect(commit.stderr).toMatch(/COMMIT is not a query/);
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    const rows = await w.query("SELECT count(*) AS n, to_regclass('pwned') IS NULL AS clean FROM ro");
    await w.close();
    expect(rows).toEqual([{ n: 2, clean: true }]);
    rmSync(dir, { recursive: true, force: true });
  });
});

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliPath, makeProject, sluice } from "../support/cli.js";
import { adminQuery, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

// A worker that starts while PostgreSQL refuses it for a passing reason (here its role at its connection
// limit, SQLSTATE 53300, as a busy server's max_connections would) waits and starts, instead of exiting 1
// the way it did: the same error a moment later, once running, was already retried.
describe.skipIf(!available)("sluice worker: starting while PostgreSQL turns it away", () => {
  const name = `sluice_test_${randomBytes(5).toString("hex")}`;
  const url = new URL(pgServer);
  url.username = name;
  url.pathname = `/${name}`;
  let dir: string;
  beforeAll(async () => {
    // Superusers ignore connection limits: a plain role that owns its database.
    await adminQuery(`CREATE ROLE ${name} LOGIN CONNECTION LIMIT 1`);
    await adminQuery(`CREATE DATABASE ${name} OWNER ${name}`);
    dir = makeProject(
      `warehouse: "${url.href}"\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: p, mode: append }\n`,
      { "landing/in/a.csv": "id,name\n1,a\n2,b\n" },
    );
  });
  afterAll(async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await adminQuery(`DROP ROLE IF EXISTS ${name}`).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a transient refusal at start is waited out; the worker then loads and exits 0", async () => {
    const holder = new pg.Client({ connectionString: url.href });
    await holder.connect(); // the role's only connection: the worker's are refused
    const child = spawn(process.execPath, [cliPath, "worker", "--exit-when-idle", "2s"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((done) => child.on("close", done));
    try {
      // Refused at least once, and still running.
      const deadline = Date.now() + 30_000;
      while (!/cannot start yet/.test(stderr) && child.exitCode === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(child.exitCode, stderr).toBeNull();
      expect(stderr).toMatch(/too many connections for role/);
      await adminQuery(`ALTER ROLE ${name} CONNECTION LIMIT -1`);
    } finally {
      await holder.end();
    }
    const code = await Promise.race([
      exited,
      new Promise<never>((_, fail) =>
        setTimeout(() => fail(new Error(`worker did not finish: ${stderr}`)), 60_000),
      ),
    ]);
    expect(code, stderr).toBe(0);
    const client = new pg.Client({ connectionString: url.href });
    await client.connect();
    try {
      expect((await client.query("SELECT count(*)::int AS n FROM p")).rows[0].n).toBe(2);
    } finally {
      await client.end();
    }
  }, 120_000);

  it("a lasting refusal (a database that does not exist) still fails at once", async () => {
    const missing = new URL(url.href);
    missing.pathname = `/${name}_missing`;
    const other = makeProject(
      `warehouse: "${missing.href}"\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: p, mode: append }\n`,
    );
    try {
      const result = await sluice(["worker", "--exit-when-idle", "2s"], other);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/does not exist/);
      expect(result.stderr).not.toMatch(/cannot start yet/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);
});

import { execSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { cliPath, makeProject, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);
// Restarting the server disturbs every other test using it, so that part runs only when asked for.
const restartCommand = process.env.SLUICE_TEST_PG_RESTART
  ? "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
  : undefined;

const FILES = 6;
const ROWS = 30_000;

function startRun(dir: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [cliPath, "run", "--json"], {
    cwd: dir,
    stdio: "ignore",
    env: { ...process.env, ...env },
  });
  const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, done };
}

// append and merge are published in a single pass (DuckDB's read of each file streamed into COPY inside
// the publish transaction: into the target, or into the stage the upsert joins); "merge staged" takes the
// staged way (read into DuckDB first), as runs the single pass cannot take do.
describe.skipIf(!available).each(["merge", "append", "merge staged"] as const)(
  "postgres warehouse: crash safety (%s)",
  (variant) => {
    const mode = variant === "append" ? "append" : "merge";
    const env = variant === "merge staged" ? { SLUICE_SINGLE_PASS: "0" } : {};
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let dir: string;
    beforeAll(async () => {
      db = await createTestDatabase();
      const files: Record<string, string> = {};
      for (let f = 0; f < FILES; f++) {
        const lines = Array.from({ length: ROWS }, (_, i) => `${f * ROWS + i},item ${i},${(i % 97) / 4}`);
        files[`landing/in/part-${f}.csv`] = `id,name,amount\n${lines.join("\n")}\n`;
      }
      dir = makeProject(
        `warehouse: "${db.url}"\npipelines:\n  crash:\n    source: { path: "in/*.csv" }\n    target: { table: crash, mode: ${mode === "merge" ? "merge, keys: [id]" : "append"} }\n`,
        files,
      );
    });
    afterAll(async () => {
      await db?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("SIGKILL at random points (and a server restart) still ends with every file loaded exactly once", async () => {
      for (let i = 0; i < 5; i++) {
        const { child, done } = startRun(dir, env);
        setTimeout(() => child.kill("SIGKILL"), 300 + Math.floor(Math.random() * 2500));
        await done;
      }
      if (restartCommand && mode === "merge") {
        const { done } = startRun(dir, env);
        await new Promise((r) => setTimeout(r, 1200));
        execSync(restartCommand, { stdio: "ignore" });
        await done;
      }
      for (let i = 0; i < 3; i++) {
        const result = await sluice(["run", "--json"], dir, { timeoutMs: 120_000, env });
        if (result.code === 0 && readdirSync(join(dir, "landing/in")).length === 0) break;
      }
      expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
      const archived = readdirSync(join(dir, "landing/archive/crash"), { recursive: true }).filter((f) =>
        String(f).endsWith(".csv"),
      );
      expect(archived).toHaveLength(FILES);
      const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
      const perFile = await w.query(
        "SELECT _sluice_source_file AS f, count(*) AS n, count(DISTINCT id) AS d FROM crash GROUP BY 1 ORDER BY 1",
      );
      const ledger = await w.query(
        "SELECT sha256, count(*) AS n FROM sluice.files WHERE status = 'loaded' GROUP BY 1",
      );
      await w.close();
      expect(perFile).toEqual(
        Array.from({ length: FILES }, (_, f) => ({ f: `in/part-${f}.csv`, n: ROWS, d: ROWS })),
      );
      expect(ledger).toHaveLength(FILES);
      expect(ledger.every((l) => Number(l.n) === 1)).toBe(true);
      expect(readFileSync(join(dir, "sluice.yaml"), "utf8")).not.toContain("password");
    }, 300_000);
  },
);

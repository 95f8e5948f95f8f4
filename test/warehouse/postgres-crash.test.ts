import { execSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { addFile, cliPath, makeProject, sluice } from "../support/cli.js";
import { waveKeys, waveRow } from "../support/merge-waves.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);
// Restarting the server disturbs every other test using it, so that part runs only when asked for.
const restartCommand = process.env.SLUICE_TEST_PG_RESTART
  ? "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
  : undefined;

const FILES = 6;
const ROWS = 30_000;
/** A merge lands its files in three waves of two; each wave is killed this many times, then run clean. */
const MERGE_WAVES = [2, 2, 1];

function startRun(dir: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [cliPath, "run", "--json"], {
    cwd: dir,
    stdio: "ignore",
    env: { ...process.env, ...env },
  });
  const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, done };
}

function logMessages(dir: string, runId: string): string[] {
  const logs = join(dir, "landing", "logs");
  const file = readdirSync(logs, { recursive: true, encoding: "utf8" }).find((f) =>
    f.endsWith(`${runId}.jsonl`),
  );
  return readFileSync(join(logs, file!), "utf8")
    .trim()
    .split("\n")
    .map((l) => String((JSON.parse(l) as { msg: string }).msg));
}

/** Runs killed at random points, then clean runs until the landing folder is empty. */
async function killThenFinish(dir: string, env: NodeJS.ProcessEnv, kills: number, restart: boolean) {
  for (let i = 0; i < kills; i++) {
    const { child, done } = startRun(dir, env);
    setTimeout(() => child.kill("SIGKILL"), 300 + Math.floor(Math.random() * 2500));
    await done;
  }
  if (restartCommand && restart) {
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
}

// The merge files: see test/support/merge-waves.ts.
const mergeKeys = (f: number) => waveKeys(ROWS, f);
const mergeRow = waveRow;

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
      if (mode === "append") {
        for (let f = 0; f < FILES; f++) {
          const lines = Array.from({ length: ROWS }, (_, i) => `${f * ROWS + i},item ${i},${(i % 97) / 4}`);
          files[`landing/in/part-${f}.csv`] = `id,name,amount\n${lines.join("\n")}\n`;
        }
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

    async function archivedAndLedger(): Promise<void> {
      const archived = readdirSync(join(dir, "landing/archive/crash"), { recursive: true }).filter((f) =>
        String(f).endsWith(".csv"),
      );
      expect(archived).toHaveLength(FILES);
      const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
      const ledger = await w.query(
        "SELECT sha256, count(*) AS n FROM sluice.files WHERE status = 'loaded' GROUP BY 1",
      );
      await w.close();
      expect(ledger).toHaveLength(FILES);
      expect(ledger.every((l) => Number(l.n) === 1)).toBe(true);
      expect(readFileSync(join(dir, "sluice.yaml"), "utf8")).not.toContain("password");
    }

    async function appendCase(): Promise<void> {
      await killThenFinish(dir, env, 5, false);
      await archivedAndLedger();
      const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
      const perFile = await w.query(
        "SELECT _sluice_source_file AS f, count(*) AS n, count(DISTINCT id) AS d FROM crash GROUP BY 1 ORDER BY 1",
      );
      await w.close();
      expect(perFile).toEqual(
        Array.from({ length: FILES }, (_, f) => ({ f: `in/part-${f}.csv`, n: ROWS, d: ROWS })),
      );
    }

    async function mergeCase(): Promise<void> {
      const state = new Map<number, ReturnType<typeof mergeRow>>();
      const expected = { inserted: 0, updated: 0 };
      let kept = 0;
      let afterFirstWave: { run: string; rows: string[] } | undefined;
      const query = async (sql: string) => {
        const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
        try {
          return await w.query(sql);
        } finally {
          await w.close();
        }
      };
      for (const [wave, kills] of MERGE_WAVES.entries()) {
        for (const f of [2 * wave, 2 * wave + 1]) {
          const rows = mergeKeys(f).map((id) => mergeRow(f, id));
          addFile(
            dir,
            `landing/in/part-${f}.csv`,
            `id,name,amount\n${rows.map((r) => `${r.id},${r.name},${r.amount}`).join("\n")}\n`,
          );
          for (const row of rows) {
            const was = state.get(row.id);
            if (!was) expected.inserted++;
            else if (was.name !== row.name || was.amount !== row.amount) expected.updated++;
            else kept++;
            state.set(row.id, row);
          }
        }
        await killThenFinish(dir, env, kills, wave === 1);
        if (wave === 0) {
          const [last] = await query("SELECT run_id FROM sluice.loads ORDER BY seq DESC LIMIT 1");
          const rows = await query("SELECT t::text AS r FROM crash AS t ORDER BY id");
          afterFirstWave = { run: String(last?.run_id), rows: rows.map((r) => String(r.r)) };
        }
      }
      // The data implies updates and matched rows left unchanged, not only inserts.
      expect(expected.updated).toBeGreaterThan(0);
      expect(kept).toBeGreaterThan(0);
      await archivedAndLedger();

      const final = await query("SELECT id, name, amount FROM crash ORDER BY id");
      expect(final).toHaveLength(state.size);
      const wrong = final.filter((r) => {
        const want = state.get(Number(r.id));
        return !want || want.name !== r.name || want.amount !== Number(r.amount);
      });
      expect(wrong.slice(0, 5)).toEqual([]);
      const loads = await query(
        "SELECT run_id, inserted::int AS inserted, updated::int AS updated FROM sluice.loads WHERE pipeline = 'crash'",
      );
      const sum = (key: "inserted" | "updated") => loads.reduce((n, l) => n + Number(l[key]), 0);
      expect({ inserted: sum("inserted"), updated: sum("updated") }).toEqual(expected);
      // Each load took the way its variant names (a single pass undone would be staged after all).
      for (const load of loads.filter((l) => Number(l.inserted) + Number(l.updated) > 0)) {
        const messages = logMessages(dir, String(load.run_id));
        expect(messages.includes("staged")).toBe(variant === "merge staged");
        expect(messages).not.toContain("single pass undone; reading the files again, staged");
      }

      // Back to the table as the first wave left it: the before-images written by runs under kill.
      const back = await sluice(["rollback", "crash", "--to", afterFirstWave!.run, "--json"], dir, {
        timeoutMs: 120_000,
      });
      expect(back.code, back.stderr).toBe(0);
      const restored = await query("SELECT t::text AS r FROM crash AS t ORDER BY id");
      expect(restored.length).toBe(afterFirstWave!.rows.length);
      const differing = restored.filter((r, i) => String(r.r) !== afterFirstWave!.rows[i]);
      expect(differing.slice(0, 5)).toEqual([]);
    }

    it(
      mode === "append"
        ? "SIGKILL at random points (and a server restart) still ends with every file loaded exactly once"
        : "SIGKILL at random points (and a server restart) while updating: last file wins, counts exact, rollback --to exact",
      () => (mode === "append" ? appendCase() : mergeCase()),
      300_000,
    );
  },
);

import { spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, cliPath, makeProject, sluice } from "../support/cli.js";

const ROWS = 20_000;
/** Files land in three waves of two; each wave is killed this many times, then run clean. */
const WAVES = [2, 2, 1];

// Wave w holds files 2w and 2w+1, keys [w*ROWS/2 + j*ROWS, +ROWS): files of one run never share a key,
// later waves update keys of earlier ones and add new ones. `name` changes with the file only for keys
// divisible by 3, `amount` except for keys divisible by 5, `region` never: rows change in different
// columns, some matched rows not at all, and one column in none (the update leaves it out).
const keysOf = (f: number) => {
  const from = Math.floor(f / 2) * (ROWS / 2) + (f % 2) * ROWS;
  return Array.from({ length: ROWS }, (_, i) => from + i);
};
const rowOf = (f: number, id: number) => ({
  id,
  name: id % 3 === 0 ? `item ${id} v${f}` : `item ${id}`,
  amount: (id % 97) / 4 + (id % 5 === 0 ? 0 : f),
  region: `r${id % 7}`,
});

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(join(dir, "warehouse.duckdb"));
  const con = await instance.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

/** Runs killed at random points, then clean runs until the landing folder is empty. */
async function killThenFinish(dir: string, kills: number): Promise<void> {
  for (let i = 0; i < kills; i++) {
    const child = spawn(process.execPath, [cliPath, "run", "--json"], { cwd: dir, stdio: "ignore" });
    const done = new Promise((resolve) => child.on("close", resolve));
    setTimeout(() => child.kill("SIGKILL"), 300 + Math.floor(Math.random() * 2500));
    await done;
  }
  for (let i = 0; i < 3; i++) {
    const result = await sluice(["run", "--json"], dir, { timeoutMs: 120_000 });
    if (result.code === 0 && readdirSync(join(dir, "landing/in")).length === 0) break;
  }
  expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
}

describe("duckdb warehouse: merge under SIGKILL", () => {
  let dir: string;
  beforeAll(() => {
    dir = makeProject(
      `warehouse: duckdb:warehouse.duckdb\npipelines:\n  crash:\n    source: { path: "in/*.csv" }\n    target: { table: crash, mode: merge, keys: [id] }\n`,
    );
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("killed at random points while updating: last file wins, counts exact, rollback --to exact", async () => {
    const state = new Map<number, ReturnType<typeof rowOf>>();
    const expected = { inserted: 0, updated: 0 };
    let kept = 0;
    let afterFirstWave: { run: string; rows: string[] } | undefined;
    for (const [wave, kills] of WAVES.entries()) {
      for (const f of [2 * wave, 2 * wave + 1]) {
        const rows = keysOf(f).map((id) => rowOf(f, id));
        addFile(
          dir,
          `landing/in/part-${f}.csv`,
          `id,name,amount,region\n${rows.map((r) => `${r.id},${r.name},${r.amount},${r.region}`).join("\n")}\n`,
        );
        for (const row of rows) {
          const was = state.get(row.id);
          if (!was) expected.inserted++;
          else if (was.name !== row.name || was.amount !== row.amount) expected.updated++;
          else kept++;
          state.set(row.id, row);
        }
      }
      await killThenFinish(dir, kills);
      if (wave === 0) {
        const [last] = await query(dir, "SELECT run_id FROM sluice.loads ORDER BY seq DESC LIMIT 1");
        const rows = await query(dir, "SELECT CAST(t AS VARCHAR) AS r FROM crash AS t ORDER BY id");
        afterFirstWave = { run: String(last?.run_id), rows: rows.map((r) => String(r.r)) };
      }
    }
    expect(expected.updated).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);

    const ledger = await query(
      dir,
      "SELECT sha256, count(*)::INT AS n FROM sluice.files WHERE status = 'loaded' GROUP BY 1",
    );
    expect(ledger).toHaveLength(2 * WAVES.length);
    expect(ledger.every((l) => l.n === 1)).toBe(true);
    const final = await query(dir, "SELECT id::INT AS id, name, amount::DOUBLE AS amount, region FROM crash");
    expect(final).toHaveLength(state.size);
    const wrong = final.filter((r) => {
      const want = state.get(Number(r.id));
      return !want || want.name !== r.name || want.amount !== r.amount || want.region !== r.region;
    });
    expect(wrong.slice(0, 5)).toEqual([]);
    const loads = await query(
      dir,
      "SELECT sum(inserted)::INT AS inserted, sum(updated)::INT AS updated FROM sluice.loads WHERE pipeline = 'crash'",
    );
    expect(loads).toEqual([expected]);

    // Back to the table as the first wave left it, through the before-images of runs killed meanwhile.
    const back = await sluice(["rollback", "crash", "--to", afterFirstWave!.run, "--json"], dir, {
      timeoutMs: 120_000,
    });
    expect(back.code, back.stderr).toBe(0);
    const restored = await query(dir, "SELECT CAST(t AS VARCHAR) AS r FROM crash AS t ORDER BY id");
    expect(restored.map((r) => String(r.r))).toEqual(afterFirstWave!.rows);
  }, 600_000);
});

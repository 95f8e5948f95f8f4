import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { addFile, cliPath, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

const pipeline = `orders:
  source: { path: "in/*.csv" }
  columns:
    order_id: { type: bigint }
    order_date: { type: date }
  derive:
    order_year: "year(order_date)"
  target:
    table: orders
    lake: { table: orders, partition_by: [order_year] }`;

/** A CSV of `rows` orders with ids starting at `first`. */
function csv(first: number, rows: number): string {
  const lines = ["order_id,amount,order_date"];
  for (let i = first; i < first + rows; i++)
    lines.push(`${i},${i % 997}.25,202${i % 3}-0${1 + (i % 9)}-1${i % 9}`);
  return `${lines.join("\n")}\n`;
}

/** Runs `sluice run` and SIGKILLs it after `afterMs` (if still running). */
function runAndKill(dir: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, "run", "--json"], { cwd: dir, stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), afterMs);
    child.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function expectExactlyOnce(dir: string, files: ReadonlyMap<string, number>): Promise<void> {
  // run to completion (a crash may have left a run half settled: the next one finishes it)
  for (let i = 0; i < 3; i++) {
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    if (r.json<RunJson>().runs.every((run) => run.status === "skipped")) break;
  }
  const total = [...files.values()].reduce((a, b) => a + b, 0);
  for (const target of ["orders", "lake.orders"]) {
    const q = await sluice(
      [
        "query",
        `SELECT _sluice_source_file AS f, count(*)::INT AS n, count(DISTINCT order_id)::INT AS ids FROM ${target} GROUP BY 1 ORDER BY 1`,
        "--json",
      ],
      dir,
    );
    expect(q.code, q.stderr).toBe(0);
    const rows = q.json<{ f: string; n: number; ids: number }[]>();
    expect(Object.fromEntries(rows.map((r) => [r.f, r.n])), target).toEqual(Object.fromEntries(files));
    for (const r of rows) expect(r.ids, `${target} ${r.f}`).toBe(r.n);
    expect(rows.reduce((s, r) => s + r.n, 0)).toBe(total);
  }
  expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
  const archived = readdirSync(join(dir, "landing/archive/orders"), { recursive: true }).filter((f) =>
    String(f).endsWith(".csv"),
  );
  expect(archived).toHaveLength(files.size);
}

describe("lake target: exactly once across lake and warehouse under kill -9", () => {
  it("a crash between the lake commit and the warehouse commit never duplicates rows", async () => {
    const files = new Map([
      ["in/a.csv", 300],
      ["in/b.csv", 200],
    ]);
    const dir = makeProject(pipelineYaml(pipeline), {
      "landing/in/a.csv": csv(0, 300),
      "landing/in/b.csv": csv(1000, 200),
    });
    const crashed = await sluice(["run"], dir, { env: { SLUICE_FAILPOINT: "after-lake-commit" } });
    expect(crashed.signal).toBe("SIGKILL");
    expect(existsSync(join(dir, "lake/orders/_delta_log/00000000000000000000.json"))).toBe(true);
    // a new file arrives before the next run: it must be written, the crashed run's files must not be again
    addFile(dir, "landing/in/c.csv", csv(2000, 100));
    files.set("in/c.csv", 100);
    const again = await sluice(["run", "--json"], dir, { env: { SLUICE_FAILPOINT: "after-lake-commit" } });
    expect(again.signal).toBe("SIGKILL");
    await expectExactlyOnce(dir, files);
    const seq = await sluice(["query", "SELECT max(seq)::INT AS s FROM sluice.runs", "--json"], dir);
    expect(seq.json()).toEqual([{ s: 3 }]);
  });

  it("random kill -9 while publishing several files, repeatedly, then a full run", async () => {
    const files = new Map<string, number>();
    const dir = makeProject(pipelineYaml(pipeline));
    let next = 0;
    const add = (rows: number) => {
      const name = `in/f${files.size}.csv`;
      addFile(dir, `landing/${name}`, csv(next, rows));
      next += rows + 1000;
      files.set(name, rows);
    };
    for (let i = 0; i < 4; i++) add(2000 + i * 500);
    for (let round = 0; round < 8; round++) {
      if (round % 3 === 2) add(1500);
      await runAndKill(dir, 300 + Math.floor(Math.random() * 3000));
      await sleep(20);
    }
    await expectExactlyOnce(dir, files);
  }, 180_000);
});

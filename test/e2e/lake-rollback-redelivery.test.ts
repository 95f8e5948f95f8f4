import { renameSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

const pipeline = `orders:
  source: { path: "in/*.csv" }
  target:
    table: orders
    lake: { table: orders }`;

function csv(first: number, rows: number): string {
  const lines = ["id,v"];
  for (let i = first; i < first + rows; i++) lines.push(`${i},${i * 2}`);
  return `${lines.join("\n")}\n`;
}

async function counts(dir: string): Promise<{ w: number; l: number }> {
  const q = await sluice(
    [
      "query",
      "SELECT (SELECT count(*) FROM orders)::INT AS w, (SELECT count(*) FROM lake.orders)::INT AS l",
      "--json",
    ],
    dir,
  );
  expect(q.code, q.stderr).toBe(0);
  return q.json<{ w: number; l: number }[]>()[0]!;
}

describe("lake: a load rolled back and restored away is written again when its file comes back", () => {
  it("rollback + lake restore + files restore + run: warehouse and lake both hold every row once", async () => {
    const dir = makeProject(pipelineYaml(pipeline), { "landing/in/a.csv": csv(0, 1000) });
    const first = await sluice(["run", "--json"], dir);
    expect(first.code, first.stderr).toBe(0);
    const runA = first.json<RunJson>().runs[0]!.run_id;
    addFile(dir, "landing/in/b.csv", csv(1000, 1000));
    expect((await sluice(["run"], dir)).code).toBe(0);
    expect(await counts(dir)).toEqual({ w: 2000, l: 2000 });

    const rollback = await sluice(["rollback", "orders", "--to", runA], dir);
    expect(rollback.code, rollback.stderr).toBe(0);
    const restore = await sluice(["lake", "restore", "orders", "--to-version", "0"], dir);
    expect(restore.code, restore.stderr).toBe(0);
    expect(await counts(dir)).toEqual({ w: 1000, l: 1000 });

    const back = await sluice(["files", "restore", "b.csv", "--version", "1"], dir);
    expect(back.code, back.stderr).toBe(0);
    // Its load was rolled back: the content is not loaded, and the next run loads it.
    expect(back.stdout).toContain("the next `sluice run orders` loads it");
    const again = await sluice(["run", "--json"], dir);
    expect(again.code, again.stderr).toBe(0);
    const run = again.json<RunJson>().runs[0]!;
    expect(run.status).toBe("succeeded");
    expect(run.rows.loaded).toBe(1000);
    expect(await counts(dir)).toEqual({ w: 2000, l: 2000 });
    const perFile = await sluice(
      [
        "query",
        "SELECT _sluice_source_file AS f, count(*)::INT AS n, count(DISTINCT id)::INT AS d FROM lake.orders GROUP BY 1 ORDER BY 1",
        "--json",
      ],
      dir,
    );
    expect(perFile.json()).toEqual([
      { f: "in/a.csv", n: 1000, d: 1000 },
      { f: "in/b.csv", n: 1000, d: 1000 },
    ]);
  }, 60_000);

  it("a rolled back load whose rows stay in the lake is not written there twice", async () => {
    const dir = makeProject(pipelineYaml(pipeline), { "landing/in/a.csv": csv(0, 500) });
    const first = await sluice(["run", "--json"], dir);
    const runA = first.json<RunJson>().runs[0]!.run_id;
    addFile(dir, "landing/in/b.csv", csv(1000, 300));
    expect((await sluice(["run"], dir)).code).toBe(0);
    expect((await sluice(["rollback", "orders", "--to", runA], dir)).code).toBe(0);
    // The lake keeps b's rows (no lake restore): b delivered again is loaded into the warehouse only.
    const archived = await sluice(["files", "versions", "b.csv", "--json"], dir);
    const archivedTo = archived.json<{ versions: { archived_to: string }[] }>().versions[0]!.archived_to;
    renameSync(join(dir, "landing", archivedTo), join(dir, "landing/in/b.csv"));
    const again = await sluice(["run"], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(await counts(dir)).toEqual({ w: 800, l: 800 });
  }, 60_000);
});

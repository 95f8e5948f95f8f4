import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, sluice } from "../support/cli.js";
import { filesUnder, runAndKill } from "../support/kill-run.js";

function csvFile(index: number, rows: number): string {
  const lines = ["id,file_no,amount,note"];
  for (let i = 0; i < rows; i++)
    lines.push(`${index * 1_000_000 + i},${index},${(i % 1000) / 10},"row ${i} of file ${index}"`);
  return `${lines.join("\n")}\n`;
}

describe("crash safety", () => {
  it("SIGKILL at random points during loads: every file's rows exactly once, every file archived", async () => {
    const rowsPerFile = 30_000;
    const files = 12;
    const dir = makeProject(
      pipelineYaml(`orders:\n  source: { path: "in/*.csv" }\n  target: { table: orders, mode: append }`),
    );
    let nextFile = 0;
    const drop = (count: number) => {
      for (let i = 0; i < count && nextFile < files; i++, nextFile++) {
        addFile(dir, `landing/in/part-${nextFile}.csv`, csvFile(nextFile, rowsPerFile));
      }
    };
    drop(3);
    let kills = 0;
    // Deterministic "random" delays spread over the whole run: start-up, staging, publish, archive.
    // Runs are killed until five kills have landed (a run that finishes first is not a crash), with new
    // files dropped as the landing zone empties, so the test does not depend on how fast a run is.
    const delays = [120, 900, 350, 1600, 60, 700, 1200, 450, 2000, 250];
    for (let attempt = 0; attempt < 40 && kills < 5; attempt++) {
      const pending = filesUnder(join(dir, "landing", "in")).length;
      if (pending === 0 && nextFile >= files) break;
      if (pending === 0 || attempt % 2 === 1) drop(2);
      const { killed } = await runAndKill(dir, delays[attempt % delays.length]!);
      if (killed) kills++;
    }
    drop(files);
    const final = await sluice(["run", "--json"], dir, { timeoutMs: 120_000 });
    expect(final.code).toBe(0);
    expect(kills).toBeGreaterThan(3);

    const counts = await sluice(
      [
        "query",
        "SELECT _sluice_source_file AS f, count(*)::INT AS n, count(DISTINCT id)::INT AS ids FROM orders GROUP BY 1 ORDER BY 1",
        "--json",
      ],
      dir,
    );
    expect(counts.code).toBe(0);
    const expected = Array.from({ length: files }, (_, i) => ({
      f: `in/part-${i}.csv`,
      n: rowsPerFile,
      ids: rowsPerFile,
    }));
    expect(counts.json()).toEqual(expected.sort((a, b) => (a.f < b.f ? -1 : 1)));
    expect(filesUnder(join(dir, "landing", "in"))).toEqual([]);
    const archived = filesUnder(join(dir, "landing", "archive"));
    for (let i = 0; i < files; i++) {
      expect(archived.filter((name) => name.startsWith(`part-${i}_`))).toHaveLength(1);
    }
    // The ledger agrees: each content loaded exactly once.
    const ledger = await sluice(
      [
        "query",
        "SELECT sha256, count(*)::INT AS loads FROM sluice.files WHERE status = 'loaded' GROUP BY 1 HAVING count(*) > 1",
        "--json",
      ],
      dir,
    );
    expect(ledger.json()).toEqual([]);
  }, 240_000);
});

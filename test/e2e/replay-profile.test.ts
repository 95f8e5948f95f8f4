import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

async function ids(dir: string): Promise<number[]> {
  const r = await sluice(["query", "SELECT id FROM orders ORDER BY id", "--json"], dir);
  return r.json<{ id: number }[]>().map((x) => x.id);
}

describe("sluice replay", () => {
  it("publishes quarantined rows that pass under the new config, each exactly once however often replayed", async () => {
    const yaml = (max: number) =>
      pipelineYaml(`orders:
  source: { path: "in/*.csv" }
  columns:
    email: { type: varchar, mask: email }
  checks:
    - { rule: range, column: amount, min: 0, max: ${max} }
  max_failure_rate: 0.9
  target: { table: orders }`);
    const dir = makeProject(yaml(100), {
      "landing/in/a.csv": "id,email,amount\n1,a@x.com,10\n2,b@x.com,150\n3,c@x.com,200\n4,d@x.com,-1\n",
    });
    const first = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(first.rows.quarantined).toBe(3);
    writeFileSync(join(dir, "sluice.yaml"), yaml(160));
    const r1 = await sluice(["replay", first.run_id, "--json"], dir);
    expect(r1.code).toBe(0);
    expect(r1.json<RunJson>().runs[0]!.rows).toMatchObject({ read: 3, loaded: 1, quarantined: 2 });
    expect(await ids(dir)).toEqual([1, 2]);
    // Replaying again without a config change publishes nothing new.
    expect((await sluice(["replay", first.run_id, "--json"], dir)).json<RunJson>().runs[0]!.rows.loaded).toBe(
      0,
    );
    writeFileSync(join(dir, "sluice.yaml"), yaml(1000));
    await sluice(["replay", first.run_id], dir);
    await sluice(["replay", first.run_id], dir);
    expect(await ids(dir)).toEqual([1, 2, 3]);
    const rows = await sluice(
      ["query", "SELECT email, _sluice_source_file AS f FROM orders WHERE id = 3", "--json"],
      dir,
    );
    expect(rows.json()).toEqual([{ email: "c***@x.com", f: "in/a.csv" }]);
  });

  it("re-processes a failed run's files from unprocessed/ once the cause is fixed", async () => {
    const yaml = (rate: number) =>
      pipelineYaml(
        `orders:\n  source: { path: "in/*.csv" }\n  max_failure_rate: ${rate}\n  target: { table: orders }`,
      );
    const dir = makeProject(yaml(0.1), { "landing/in/a.csv": "id,amount\n1,1\n2,2,2\n" });
    const failed = await sluice(["run", "--json"], dir);
    expect(failed.code).toBe(1);
    const run = failed.json<RunJson>().runs[0]!;
    writeFileSync(join(dir, "sluice.yaml"), yaml(0.6));
    const replay = await sluice(["replay", run.run_id, "--json"], dir);
    expect(replay.code).toBe(0);
    const again = replay.json<RunJson>().runs[0]!;
    expect(again.files[0]!.status).toBe("loaded");
    expect(again.files[0]!.archived_to).toMatch(/^archive\/orders\//);
    expect(await ids(dir)).toEqual([1]);
    const unknown = await sluice(["replay", "nope"], dir);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, "error: run nope: not found"]);
  });
});

describe("profiles and anomalies", () => {
  it("stores a profile per run, shows it with its change, and flags a deviating run", async () => {
    const yaml = (fail: boolean) =>
      pipelineYaml(
        `orders:\n  source: { path: "in/*.csv" }\n  anomalies: { z_score: 3, fail: ${fail} }\n  target: { table: orders }`,
      );
    const dir = makeProject(yaml(false));
    const file = (n: number, base: number, rows: number) => {
      const lines = ["id,amount"];
      for (let i = 0; i < rows; i++) lines.push(`${n * 1000 + i},${base + (i % 7)}`);
      addFile(dir, `landing/in/f${n}.csv`, `${lines.join("\n")}\n`);
    };
    for (let n = 1; n <= 4; n++) {
      file(n, 10 + n, 100);
      const run = (await sluice(["run", "--json"], dir)).json<RunJson & { runs: { anomalies: string[] }[] }>()
        .runs[0]!;
      expect(run.anomalies).toEqual([]);
    }
    const profile = await sluice(["profile", "orders", "--json"], dir);
    expect(profile.code).toBe(0);
    const p = profile.json<{
      rows: number;
      columns: { column: string; nulls: number; min: string; max: string; mean: number; change: string }[];
    }>();
    expect(p.rows).toBe(100);
    const amount = p.columns.find((c) => c.column === "amount")!;
    expect(amount).toMatchObject({ nulls: 0, min: "14", max: "20" });
    expect(amount.mean).toBeCloseTo(14 + 2.94, 1);
    expect(amount.change).toMatch(/^mean \+/);

    file(5, 500, 10);
    const odd = (await sluice(["run", "--json"], dir)).json<RunJson & { runs: { anomalies: string[] }[] }>()
      .runs[0]!;
    expect(odd.status).toBe("succeeded");
    expect(odd.anomalies.some((a) => a.startsWith("row count is 10"))).toBe(true);
    expect(odd.anomalies.some((a) => a.startsWith("amount mean is"))).toBe(true);

    writeFileSync(join(dir, "sluice.yaml"), yaml(true));
    file(6, 900, 10);
    const blocked = await sluice(["run", "--json"], dir);
    expect(blocked.code).toBe(1);
    const b = blocked.json<RunJson>().runs[0]!;
    expect(b.files[0]!.error).toMatch(/^anomalies \(anomalies\.fail: true\): .*nothing published$/);
    expect(b.files[0]!.archived_to).toMatch(/^unprocessed\//);
    const count = await sluice(
      ["query", "SELECT count(*)::INT AS n FROM orders WHERE id >= 6000", "--json"],
      dir,
    );
    expect(count.json()).toEqual([{ n: 0 }]);
    expect(readFileSync(join(dir, "sluice.yaml"), "utf8")).toContain("fail: true");
    // The blocked run published nothing: the latest profile is still the odd run's.
    const latest = () =>
      sluice(["profile", "orders", "--json"], dir).then((r) => r.json<{ run_id: string; rows: number }>());
    expect(await latest()).toMatchObject({ run_id: odd.run_id, rows: 10 });

    // A run that failed one file (too many malformed rows) but published another: its profile is the latest.
    writeFileSync(join(dir, "sluice.yaml"), yaml(false));
    rmSync(join(dir, "landing/in/f6.csv"), { force: true });
    file(7, 15, 100);
    // Rows of ragged widths (a header missing one delimiter over rows of one width would be repaired).
    addFile(dir, "landing/in/f8.csv", "id,amount\n1,2,3\n4\n");
    const partial = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(partial.status).toBe("failed");
    expect(partial.rows.loaded).toBe(100);
    expect(await latest()).toMatchObject({ run_id: partial.run_id, rows: 100 });
  });
});

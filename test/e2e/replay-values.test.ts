import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

const orders = (max: number, dateColumn = '{ type: date, format: "%d/%m/%Y" }') =>
  pipelineYaml(`orders:
  source: { path: "in/*.csv" }
  columns:
    order_id: { type: bigint }
    amount: { type: "decimal(12,2)" }
    order_date: ${dateColumn}
  checks:
    - { rule: range, column: amount, min: 0, max: ${max} }
  max_failure_rate: 0.9
  target: { table: orders }`);

const csv =
  "order_id,amount,order_date\n1,10,15/03/2024\n2,500.5,16/03/2024\n3,20,17/03/2024\n4,700.5,18/03/2024\n";

async function loaded(dir: string): Promise<{ order_id: number; order_date: string }[]> {
  const q = await sluice(
    ["query", "SELECT order_id, order_date::VARCHAR AS order_date FROM orders ORDER BY order_id", "--json"],
    dir,
  );
  expect(q.code, q.stderr).toBe(0);
  return q.json();
}

describe("sluice replay of quarantined values", () => {
  it("replays rows of a date column with a format: (values are stored as ISO dates)", async () => {
    const dir = makeProject(orders(100), { "landing/in/a.csv": csv });
    const first = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(first.rows.quarantined).toBe(2);
    writeFileSync(join(dir, "sluice.yaml"), orders(1000));
    const replay = await sluice(["replay", first.run_id, "--json"], dir);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.json<RunJson>().runs[0]!.rows).toMatchObject({ read: 2, loaded: 2, malformed: 0 });
    expect(await loaded(dir)).toEqual([
      { order_id: 1, order_date: "2024-03-15" },
      { order_id: 2, order_date: "2024-03-16" },
      { order_id: 3, order_date: "2024-03-17" },
      { order_id: 4, order_date: "2024-03-18" },
    ]);
  }, 60_000);

  it("values that no longer parse stay quarantined with their values, are reported, and replay later", async () => {
    const dir = makeProject(orders(100), { "landing/in/a.csv": csv });
    const first = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    // 2024-03-16 is no integer: under this config the replayed rows do not parse.
    writeFileSync(join(dir, "sluice.yaml"), orders(1000, "{ type: integer }"));
    const bad = await sluice(["replay", first.run_id], dir);
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stdout).toMatch(/2 of 2 replayed rows do not parse under the current config/);
    const held = await sluice(["quarantine", "orders", "--json"], dir);
    const newest = held
      .json<{ run_id: string; rules: string[]; values: unknown }[]>()
      .filter((r) => r.run_id !== first.run_id);
    expect(newest).toHaveLength(2);
    for (const row of newest) {
      expect(row.rules).toEqual(["malformed"]);
      expect(row.values).toMatchObject({ order_date: expect.stringMatching(/^2024-03-1[68]$/) });
    }
    // Nothing was stranded: with the config fixed, the same replay command loads them.
    writeFileSync(join(dir, "sluice.yaml"), orders(1000));
    const good = await sluice(["replay", first.run_id, "--json"], dir);
    expect(good.code, good.stderr).toBe(0);
    expect(good.json<RunJson>().runs[0]!.rows).toMatchObject({ read: 2, loaded: 2 });
    expect((await loaded(dir)).map((r) => r.order_id)).toEqual([1, 2, 3, 4]);
  }, 60_000);

  it("a failed file replayed from unprocessed/ is hashed as configured, and its rows are read once", async () => {
    const users = (rate: number) =>
      pipelineYaml(`users:
  source: { path: "in/*.csv" }
  columns:
    email: { type: varchar, mask: hash }
  checks:
    - { rule: range, column: age, min: 0, max: 100 }
  max_failure_rate: ${rate}
  target: { table: users }`);
    const env = { SLUICE_MASK_SALT: "pepper" };
    const dir = makeProject(users(0.1), {
      "landing/in/a.csv": "id,email,age\n1,a@x.com,10\n2,b@x.com,500\n3,c@x.com,30\n",
    });
    const failed = await sluice(["run", "--json"], dir, { env });
    expect(failed.code).toBe(1);
    const run = failed.json<RunJson>().runs[0]!;
    writeFileSync(join(dir, "sluice.yaml"), users(0.5));
    const replay = await sluice(["replay", run.run_id, "--json"], dir, { env });
    expect(replay.code, replay.stderr).toBe(0);
    // The file alone: its quarantined row is in it, and is not replayed a second time beside it.
    expect(replay.json<RunJson>().runs[0]!.rows).toMatchObject({ read: 3, loaded: 2, quarantined: 1 });
    const q = await sluice(["query", "SELECT id, email FROM users ORDER BY id", "--json"], dir);
    const rows = q.json<{ id: number; email: string }[]>();
    expect(rows.map((r) => r.id)).toEqual([1, 3]);
    for (const r of rows) expect(r.email).toMatch(/^[0-9a-f]{64}$/);
    expect(q.stdout).not.toContain("@x.com");
  }, 60_000);
});

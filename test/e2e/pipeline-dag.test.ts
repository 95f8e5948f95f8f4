import { describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";

const project = `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  daily:
    depends_on: [clean]
    source: { sql: "select order_date, sum(amount) as total, count(*) as n from clean_orders group by order_date" }
    target: { table: daily_totals, mode: replace }
  raw:
    source: { path: "in/orders/*.csv" }
    target: { table: raw_orders }
  clean:
    depends_on: [raw]
    source: { table: raw_orders }
    incremental: { cursor: updated_at }
    checks: [{ rule: not_null, columns: [amount] }]
    max_failure_rate: 0.5
    target: { table: clean_orders }
  other:
    source: { path: "in/other/*.csv" }
    target: { table: other }
`;

async function query(dir: string, sql: string): Promise<unknown> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code).toBe(0);
  return r.json();
}

describe("pipelines over the warehouse and depends_on", () => {
  it("runs upstreams first, reads tables incrementally, and --downstream follows the graph", async () => {
    const dir = makeProject(project, {
      "landing/in/orders/a.csv":
        "order_id,amount,order_date,updated_at\n1,10,2026-01-01,2026-01-01 10:00:00\n2,5,2026-01-02,2026-01-02 10:00:00\n",
    });
    const first = await sluice(["run", "--json"], dir);
    expect(first.code).toBe(0);
    const order = first.json<RunJson>().runs.map((r) => [r.pipeline, r.status]);
    expect(order).toEqual([
      ["raw", "succeeded"],
      ["clean", "succeeded"],
      ["daily", "succeeded"],
      ["other", "skipped"],
    ]);
    expect(await query(dir, "select count(*) as n from clean_orders")).toEqual([{ n: 2 }]);

    addFile(
      dir,
      "landing/in/orders/b.csv",
      "order_id,amount,order_date,updated_at\n3,7,2026-01-02,2026-01-03 09:00:00\n4,,2026-01-02,2026-01-03 09:30:00\n",
    );
    const second = await sluice(["run", "raw", "--downstream", "--json"], dir);
    expect(second.code).toBe(0);
    const runs = second.json<RunJson>().runs;
    expect(runs.map((r) => r.pipeline)).toEqual(["raw", "clean", "daily"]);
    // Incremental: only the new rows were read from raw_orders; checks quarantine as for files.
    expect(runs[1]!.rows).toMatchObject({ read: 2, loaded: 1, quarantined: 1 });
    const quarantined = await sluice(["quarantine", "clean", "--json"], dir);
    expect(quarantined.json<{ rules: string[] }[]>().map((q) => q.rules)).toEqual([["not_null(amount)"]]);
    expect(await query(dir, "select count(*) as n from clean_orders")).toEqual([{ n: 3 }]);
    expect(
      await query(dir, "select order_date::VARCHAR as d, total::INT as total from daily_totals order by 1"),
    ).toEqual([
      { d: "2026-01-01", total: 10 },
      { d: "2026-01-02", total: 12 },
    ]);
    // Nothing new: clean reads no rows.
    const third = await sluice(["run", "clean", "--json"], dir);
    expect(third.json<RunJson>().runs[0]!.rows.read).toBe(0);
    expect(await query(dir, "select count(*) as n from clean_orders")).toEqual([{ n: 3 }]);
  });

  it("late_data_window re-publishes the recent partitions late rows touch, and warns about older ones", async () => {
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
    const [recent, yesterday, old] = [day(2), day(1), day(40)];
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/*.csv" }
    target: { table: orders }
  daily:
    depends_on: [orders]
    source: { sql: "select order_date, sum(amount) as total, max(updated_at) as updated_at from orders group by order_date" }
    incremental: { cursor: updated_at }
    late_data_window: 3d
    target: { table: daily, mode: delete_insert, keys: [order_date], partition_by: [order_date] }
`);
    addFile(
      dir,
      "landing/in/a.csv",
      `order_id,amount,order_date,updated_at\n1,10,${old},${old} 10:00:00\n2,5,${recent},${recent} 10:00:00\n3,7,${yesterday},${yesterday} 10:00:00\n`,
    );
    expect((await sluice(["run", "--json"], dir)).code).toBe(0);
    // Late rows: one for a recent day (re-published), one for a day older than the window (not).
    addFile(
      dir,
      "landing/in/b.csv",
      `order_id,amount,order_date,updated_at\n4,100,${recent},${yesterday} 23:00:00\n5,1000,${old},${yesterday} 23:30:00\n`,
    );
    const second = await sluice(["run", "--json"], dir);
    expect(second.code).toBe(0);
    const daily = second.json<RunJson>().runs.find((r) => r.pipeline === "daily")!;
    expect(daily.status).toBe("succeeded");
    expect(daily.files.flatMap((f) => f.warnings).join(" ")).toMatch(/older than late_data_window/);
    expect(
      await query(dir, "select order_date::VARCHAR as d, total::INT as total from daily order by 1"),
    ).toEqual([
      { d: old, total: 10 },
      { d: recent, total: 105 },
      { d: yesterday, total: 7 },
    ]);
    // Exactly once: running again changes nothing.
    expect((await sluice(["run", "--json"], dir)).code).toBe(0);
    expect(await query(dir, "select count(*) as n, sum(total)::INT as t from daily")).toEqual([
      { n: 3, t: 122 },
    ]);
  });

  it("rejects cycles, unknown upstreams and bad cron expressions in validate", async () => {
    const dir = makeProject(`pipelines:
  a:
    depends_on: [b]
    schedule: "61 * * * *"
    source: { path: "in/a/*.csv" }
    target: { table: a }
  b:
    depends_on: [a, ghost]
    source: { path: "in/b/*.csv" }
    target: { table: b }
`);
    const r = await sluice(["validate"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/pipelines\.a\.schedule: invalid cron expression "61 \* \* \* \*"/);
    expect(r.stderr).toMatch(/pipelines\.b\.depends_on: unknown pipeline ghost/);
    expect(r.stderr).toMatch(/dependency cycle: a -> b -> a/);
    const run = await sluice(["run"], dir);
    expect(run.code).toBe(2);
  });
});

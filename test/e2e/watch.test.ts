import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, sluice } from "../support/cli.js";
import { queryRows, startDaemon, waitFor } from "../support/daemon.js";

const project = `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv", stable_for: 300ms }
    target: { table: orders }
  counts:
    depends_on: [orders]
    source: { sql: "select count(*) as n from orders" }
    target: { table: counts, mode: replace }
`;

const count = async (dir: string, table: string): Promise<number> =>
  Number((await queryRows<{ n: number }>(dir, `select count(*) as n from ${table}`))[0]?.n ?? -1);

describe("sluice watch", () => {
  it("loads arriving files once stable, batches bursts, runs downstreams, stays queryable, stops cleanly", async () => {
    const dir = makeProject(project);
    const daemon = await startDaemon(dir);
    // Rows loaded so far, from the daemon's run lines (printed once a run has committed).
    const loaded = () =>
      [...daemon.stdout().matchAll(/orders: succeeded .*loaded (\d+)/g)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    try {
      addFile(dir, "landing/in/orders/a.csv", "id,v\n1,a\n2,b\n");
      await waitFor(() => loaded() === 2, 15_000, daemon.stderr);
      // Queryable while the daemon is idle: it does not hold the warehouse between runs.
      expect(await count(dir, "orders")).toBe(2);
      // The downstream SQL pipeline ran after its upstream succeeded.
      await waitFor(() => /counts: succeeded/.test(daemon.stdout()), 10_000, daemon.stderr);

      // A burst of small files becomes one run.
      for (let i = 0; i < 25; i++) addFile(dir, `landing/in/orders/burst${i}.csv`, `id,v\n${100 + i},x\n`);
      await waitFor(() => loaded() === 27, 20_000, daemon.stderr);

      // A file written slowly (a chunk every 150 ms for ~1.5 s) is read only once complete.
      const slow = join(dir, "landing/in/orders/slow.csv");
      addFile(dir, "landing/in/orders/slow.csv", "id,v\n");
      for (let i = 0; i < 10; i++) {
        await sleep(150);
        appendFileSync(slow, `${1000 + i},s\n`);
      }
      await waitFor(() => loaded() === 37, 15_000, daemon.stderr);
      await sleep(500);
      expect(loaded()).toBe(37);
    } finally {
      const exit = await daemon.stop("SIGTERM");
      expect(exit.code).toBe(0);
    }
    expect(daemon.stderr()).toMatch(/SIGTERM: stopping/);
    expect(daemon.stderr()).not.toMatch(/error|NodeVersionSupportWarning/i);
    expect(await count(dir, "orders")).toBe(37);
    const burstRuns = await queryRows(
      dir,
      "select run_id from sluice.files where path like 'in/orders/burst%' group by run_id",
    );
    expect(burstRuns.length).toBeLessThanOrEqual(2);
    const slowLoads = await queryRows(dir, "select * from sluice.files where path = 'in/orders/slow.csv'");
    expect(slowLoads).toHaveLength(1);
    // Nothing left behind: the next plain run finds nothing to do.
    const after = await sluice(["run", "--json"], dir);
    expect(after.json<{ runs: { status: string }[] }>().runs[0]!.status).toBe("skipped");
  });

  it("takes a burst of 1,000 tiny files: every row once, every file archived, nothing left", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source: { path: "in/*.csv", stable_for: 300ms }
    target: { table: events }
`);
    const daemon = await startDaemon(dir);
    const loaded = () =>
      [...daemon.stdout().matchAll(/events: succeeded .*loaded (\d+)/g)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    try {
      for (let i = 0; i < 1000; i++) addFile(dir, `landing/in/e${i}.csv`, `id,kind\n${i},a\n`);
      await waitFor(() => loaded() === 1000, 150_000, daemon.stderr);
      await sleep(500);
      expect(loaded()).toBe(1000);
    } finally {
      expect((await daemon.stop("SIGTERM")).code).toBe(0);
    }
    const rows = await queryRows<{ n: number; ids: number }>(
      dir,
      "select count(*) as n, count(distinct id) as ids from events",
    );
    expect(rows[0]).toEqual({ n: 1000, ids: 1000 });
    const files = await queryRows<{ n: number }>(
      dir,
      "select count(*) as n from sluice.files where status = 'loaded' and archived_to like 'archive/events/%'",
    );
    expect(files[0]!.n).toBe(1000);
    const after = await sluice(["run", "--json"], dir);
    expect(after.json<{ runs: { status: string }[] }>().runs[0]!.status).toBe("skipped");
  }, 200_000);

  it("runs cron schedules without overlap, and catches up once after downtime", async () => {
    const dir = makeProject(`pipelines:
  tick:
    schedule: "* * * * * *"
    source: { sql: "select now() as at" }
    target: { table: ticks }
  nightly:
    schedule: "0 3 1 1 *"
    timezone: Europe/Paris
    source: { sql: "select 1 as one" }
    target: { table: nightly }
`);
    const ticks = (out: string) => (out.match(/tick: succeeded/g) ?? []).length;
    let daemon = await startDaemon(dir);
    await waitFor(() => ticks(daemon.stdout()) >= 2, 10_000, daemon.stderr);
    expect((await daemon.stop()).code).toBe(0);
    const before = await count(dir, "ticks");
    const stored = await queryRows<{ pipeline: string }>(
      dir,
      "select pipeline from sluice.schedules order by 1",
    );
    expect(stored.map((r) => r.pipeline)).toEqual(["nightly", "tick"]);
    await sleep(2500); // downtime: two or more fire times missed

    daemon = await startDaemon(dir);
    await waitFor(
      () => /catching up the run of/.test(daemon.stderr()) && ticks(daemon.stdout()) >= 1,
      5000,
      daemon.stderr,
    );
    expect((await daemon.stop()).code).toBe(0);
    expect(daemon.stderr().match(/catching up/g)).toHaveLength(1); // once, not once per missed time
    expect(await count(dir, "ticks")).toBeGreaterThan(before);
    expect(await count(dir, "nightly")).toBe(-1); // never fired, never caught up
    const overlaps = await queryRows<{ n: number }>(
      dir,
      `select count(*) as n from sluice.runs a join sluice.runs b on a.pipeline = b.pipeline and a.run_id < b.run_id
        and a.started_at < b.finished_at and b.started_at < a.finished_at`,
    );
    expect(overlaps[0]!.n).toBe(0);
  });

  it("SIGTERM during a run: the run completes (or is left re-runnable) and nothing loads twice", async () => {
    const dir = makeProject(project);
    const daemon = await startDaemon(dir, ["orders"]);
    const lines = Array.from({ length: 150_000 }, (_, i) => `${i},value-${i}`).join("\n");
    addFile(dir, "landing/in/orders/big.csv", `id,v\n${lines}\n`);
    await waitFor(() => /orders: running/.test(daemon.stderr()), 15_000, daemon.stderr);
    const exit = await daemon.stop("SIGTERM");
    expect(exit.code).toBe(0);
    const again = await sluice(["run", "orders", "--json"], dir);
    expect(again.code).toBe(0);
    expect(await count(dir, "orders")).toBe(150_000);
    const loads = await queryRows(
      dir,
      "select * from sluice.files where path = 'in/orders/big.csv' and status = 'loaded'",
    );
    expect(loads).toHaveLength(1);
  });

  it("a daemon and a `sluice run` side by side load every file exactly once", async () => {
    const dir = makeProject(project);
    const daemon = await startDaemon(dir, ["orders"]);
    try {
      for (let i = 0; i < 10; i++) addFile(dir, `landing/in/orders/f${i}.csv`, `id,v\n${i},x\n`);
      await sleep(350); // some files become stable for the daemon while the run starts
      const run = await sluice(["run", "orders", "--json"], dir, { env: { SLUICE_LOCK_WAIT: "30s" } });
      expect(run.code).toBe(0);
      await waitFor(
        () => !/orders: running/.test(daemon.stderr()) || /succeeded|skipped/.test(daemon.stdout()),
        10_000,
      );
      await sleep(1000);
    } finally {
      expect((await daemon.stop()).code).toBe(0);
    }
    expect(await count(dir, "orders")).toBe(10);
    const loads = await queryRows<{ n: number }>(
      dir,
      "select count(*) as n from sluice.files where status = 'loaded' and path like 'in/orders/f%'",
    );
    expect(loads[0]!.n).toBe(10);
  });
});

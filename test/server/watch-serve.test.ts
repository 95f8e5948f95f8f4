import { mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addFile, makeProject } from "../support/cli.js";
import { waitFor } from "../support/daemon.js";
import { startServed } from "../support/dashboard.js";

describe("sluice watch --serve", () => {
  it("serves the dashboard while the daemon loads arriving files", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv", stable_for: 300ms }
    target: { table: orders }
`);
    const served = await startServed(dir, ["watch", "--serve", "--port", "0", "--poll", "1s"]);
    const runs = async () =>
      (
        (await (await fetch(`${served.url}/api/runs`)).json()) as {
          runs: { status: string; rows: { loaded: number } }[];
        }
      ).runs;
    try {
      expect(await runs()).toEqual([]);
      expect(await (await fetch(`${served.url}/api/live`)).json()).toEqual({ runs: [] });
      addFile(dir, "landing/in/orders/a.csv", "id,v\n1,a\n2,b\n");
      await waitFor(async () => (await runs()).length === 1, 20_000, served.stderr);
      addFile(dir, "landing/in/orders/b.csv", "id,v\n3,c\n");
      await waitFor(async () => (await runs()).length === 2, 20_000, served.stderr);
      expect((await runs()).map((r) => [r.status, r.rows.loaded])).toEqual([
        ["succeeded", 1],
        ["succeeded", 2],
      ]);
      const page = await fetch(`${served.url}/runs`);
      expect(page.status).toBe(200);
      const metrics = await (await fetch(`${served.url}/metrics`)).text();
      expect(metrics).toContain('sluice_runs_total{pipeline="orders",status="succeeded"} 2');
    } finally {
      expect((await served.stop()).code).toBe(0);
    }
  });

  it("shows a run in flight: /api/live, the runs page's In flight table and sluice_runs_in_flight", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv", stable_for: 300ms }
    target: { table: orders }
`);
    const served = await startServed(dir, ["watch", "--serve", "--port", "0", "--poll", "1s"]);
    try {
      // Three files big enough that the run lasts a while; each lands whole (written aside, renamed in).
      // Different contents of one size (a file whose bytes were loaded before is not loaded again).
      const lines = (n: string) =>
        Array.from({ length: 300_000 }, (_, i) => `${i},${n}-name-${i},${i * 1.5}`).join("\n");
      const names = ["a", "b", "c"];
      const aside = names.map((n) => addFile(dir, `incoming/${n}.csv`, `id,name,amount\n${lines(n)}\n`));
      const fileBytes = statSync(aside[0]!).size;
      mkdirSync(join(dir, "landing/in/orders"), { recursive: true });
      for (const [i, n] of names.entries()) renameSync(aside[i]!, join(dir, `landing/in/orders/${n}.csv`));
      const seen = { api: [] as Record<string, unknown>[], page: "", metrics: "" };
      await waitFor(
        async () => {
          const [live, page, metrics] = await Promise.all([
            fetch(`${served.url}/api/live`).then(
              (r) => r.json() as Promise<{ runs: Record<string, unknown>[] }>,
            ),
            fetch(`${served.url}/runs`).then((r) => r.text()),
            fetch(`${served.url}/metrics`).then((r) => r.text()),
          ]);
          if (live.runs.length > 0) seen.api.push(live.runs[0]!);
          if (page.includes('id="live"')) seen.page ||= page;
          if (/^sluice_runs_in_flight 1$/m.test(metrics)) seen.metrics ||= metrics;
          return seen.api.length > 0 && seen.page !== "" && seen.metrics !== "";
        },
        60_000,
        () => `live: ${JSON.stringify(seen.api)}\n${served.stderr()}`,
      );
      expect(seen.api[0]).toMatchObject({ pipeline: "orders" });
      expect(Date.parse(String(seen.api[0]!.since))).toBeGreaterThan(0);
      // The daemon may take the files in one run or several: each run's totals are its files'.
      for (const snapshot of seen.api) {
        const files = snapshot.filesTotal as number;
        expect(files).toBeGreaterThanOrEqual(1);
        expect(files).toBeLessThanOrEqual(3);
        expect(snapshot.bytesTotal).toBe(files * fileBytes);
        expect(snapshot.filesDone as number).toBeLessThanOrEqual(files);
        expect(snapshot.bytesDone as number).toBeLessThanOrEqual(files * fileBytes);
      }
      const row = /<table id="live">.*?<\/table>/s.exec(seen.page)?.[0] ?? "";
      expect(row).toContain('<td class="status-running">orders</td>');
      expect(row).toMatch(/<td class="num">\d \/ [123]<\/td><td class="num">\d+ \/ \d+<\/td>/);
      await waitFor(
        async () =>
          (
            (await (await fetch(`${served.url}/api/runs`)).json()) as { runs: { rows: { loaded: number } }[] }
          ).runs.reduce((n, r) => n + r.rows.loaded, 0) === 900_000,
        60_000,
        served.stderr,
      );
      // A run is recorded at its commit, and leaves the live list once its files are archived.
      await waitFor(
        async () =>
          ((await (await fetch(`${served.url}/api/live`)).json()) as { runs: [] }).runs.length === 0,
        20_000,
        served.stderr,
      );
      expect(await (await fetch(`${served.url}/metrics`)).text()).toMatch(/^sluice_runs_in_flight 0$/m);
      expect(await (await fetch(`${served.url}/runs`)).text()).not.toContain('id="live"');
    } finally {
      expect((await served.stop()).code).toBe(0);
    }
  }, 120_000);
});

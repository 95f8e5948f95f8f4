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
});

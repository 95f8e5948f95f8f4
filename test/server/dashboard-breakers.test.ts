import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createCircuitBreaker } from "../../src/resilience/circuit-breaker.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { type Dashboard, startDashboard } from "../../src/server/start-dashboard.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { makeProject } from "../support/cli.js";

/** A TCP port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const gauge = (text: string, kind: string, name: string): number | undefined => {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`sluice_circuit_breaker_state{kind="${kind}",name="${name}"}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
};

describe("/metrics: circuit breaker states", () => {
  let dashboard: Dashboard;
  let url: string;
  let label: string;

  beforeAll(async () => {
    const port = await closedPort();
    url = `postgres://postgres@127.0.0.1:${port}/test`;
    label = `PostgreSQL postgres@127.0.0.1:${port}/test`;
    const dir = makeProject(`warehouse: ${url}
pipelines:
  orders:
    source: { path: "in/*.csv" }
    target: { table: orders }
`);
    dashboard = await startDashboard(createProjectContext(await loadProject({ cwd: dir })), {
      host: "127.0.0.1",
      port: 0,
    });
  });
  afterAll(async () => {
    await dashboard?.close();
  });

  it("the warehouse breaker of a PostgreSQL server that is down reads 2 (open); /metrics still answers", async () => {
    // Five operations failing (no retries, to stay fast) open the breaker this process holds for that server.
    for (let i = 0; i < 5; i++) {
      await expect(openPostgresWarehouse({ url, retries: 0 })).rejects.toThrow();
    }
    const r = await fetch(`${dashboard.url}/metrics`);
    expect(r.status).toBe(200);
    const text = await r.text();
    expect(text, text.slice(0, 2000)).toMatch(
      /^sluice_circuit_breaker_state\{kind="warehouse",name="PostgreSQL /m,
    );
    expect(gauge(text, "warehouse", label)).toBe(2);
    expect(text).toMatch(/^sluice_catalog_up 0$/m);
  });

  it("a storage breaker reads 0 closed, 2 open, 1 half-open as its state changes", async () => {
    let now = 1_000_000;
    const name = "S3 s3://bucket-of-the-breaker-test/landing";
    const breaker = createCircuitBreaker({ name, failureThreshold: 2, openMs: 10_000, now: () => now });
    const read = async () => gauge(await (await fetch(`${dashboard.url}/metrics`)).text(), "storage", name);
    expect(await read()).toBe(0);
    for (let i = 0; i < 2; i++) {
      await expect(breaker.run(() => Promise.reject(new Error("connection reset")))).rejects.toThrow();
    }
    expect(await read()).toBe(2);
    now += 10_000;
    expect(await read()).toBe(1);
    await breaker.run(() => Promise.resolve());
    expect(await read()).toBe(0);
  });
});

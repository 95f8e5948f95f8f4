import { rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWorkers } from "../../src/scale/read-workers.js";
import type { WorkerStatus } from "../../src/scale/worker-registry.js";
import { makeProject, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";
import { startWorker } from "../support/stream-worker.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const LARGE_ROWS = 600_000;

describe.skipIf(!available)("sluice workers --json and sluice runs on a postgres:// warehouse", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    const large = ["id,name", ...Array.from({ length: LARGE_ROWS }, (_, i) => `${i},name-${i}`)].join("\n");
    dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  items:\n    source: { path: "in/*.csv" }\n    target: { table: items, mode: append }\n`,
      { "landing/in/large.csv": `${large}\n`, "landing/in/small.csv": "id,name\n-1,small\n" },
    );
  });
  afterAll(async () => {
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists a running worker with its claim and heartbeat, then stopped with its counts; runs name it", async () => {
    const worker = startWorker(dir, ["--exit-when-idle", "2s", "--lease", "2s", "--discover-every", "500ms"]);
    // A claim shows while the large file loads (the heartbeat, every quarter lease, records it).
    let seen: WorkerStatus | undefined;
    const until = Date.now() + 90_000;
    while (!seen && Date.now() < until) {
      const running = (await readWorkers(db.url, 2)).filter((w) => w.state === "running");
      seen = running.find((w) => w.claims.some((c) => c.files.includes("in/large.csv")));
      if (!seen) await sleep(100);
    }
    expect(seen, worker.stderr()).toBeDefined();
    expect(seen!.claims.find((c) => c.files.includes("in/large.csv"))).toMatchObject({ pipeline: "items" });
    expect(await worker.exited, worker.stderr()).toBe(0);

    const listed = await sluice(["workers", "--json", "--lease", "2s"], dir);
    expect(listed.code, listed.stderr).toBe(0);
    const { workers } = listed.json<{ workers: Record<string, unknown>[] }>();
    expect(workers).toHaveLength(1);
    const [w] = workers;
    expect(Object.keys(w!).sort()).toEqual(
      [
        "worker_id",
        "host",
        "pid",
        "concurrency",
        "started_at",
        "heartbeat_at",
        "state",
        "claims",
        "units",
        "files",
        "bytes",
        "rows_loaded",
        "files_per_second",
      ].sort(),
    );
    expect(w).toMatchObject({
      worker_id: seen!.worker_id,
      pid: worker.child.pid,
      concurrency: 1,
      state: "stopped",
      claims: [],
      files: 2,
      rows_loaded: LARGE_ROWS + 1,
    });
    expect(Date.parse(String(w!.heartbeat_at))).toBeGreaterThanOrEqual(Date.parse(String(w!.started_at)));
    expect(Number(w!.files_per_second)).toBeGreaterThan(0);

    // `sluice runs` has a worker column naming it on every run.
    const runs = await sluice(["runs"], dir);
    expect(runs.code, runs.stderr).toBe(0);
    const [header, , ...rows] = runs.stdout.trim().split("\n");
    expect(header).toMatch(/\bworker\b/);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toContain(seen!.worker_id);
  }, 150_000);
});

import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { makeProject } from "../support/cli.js";
import { startDaemon, waitFor } from "../support/daemon.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!available)("sluice watch on a PostgreSQL warehouse", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it("runs schedules: the last fire times live in the PostgreSQL catalog and catch-up works after downtime", async () => {
    const dir = makeProject(`warehouse: "${db.url}"
pipelines:
  tick:
    schedule: "* * * * * *"
    source: { sql: "select now() as at" }
    target: { table: ticks }
`);
    const ticks = (out: string) => (out.match(/tick: succeeded/g) ?? []).length;
    let daemon = await startDaemon(dir);
    try {
      await waitFor(() => ticks(daemon.stdout()) >= 2, 15_000, daemon.stderr);
    } finally {
      expect((await daemon.stop()).code).toBe(0);
    }
    expect(daemon.stderr()).not.toMatch(/Catalog Error|error:/);
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    try {
      const stored = await w.query("SELECT pipeline, last_fire <= now() AS past FROM sluice.schedules");
      expect(stored).toEqual([{ pipeline: "tick", past: true }]);
    } finally {
      await w.close();
    }
    await sleep(2500); // downtime: fire times missed
    daemon = await startDaemon(dir);
    try {
      await waitFor(() => /catching up the run of/.test(daemon.stderr()), 10_000, daemon.stderr);
    } finally {
      expect((await daemon.stop()).code).toBe(0);
    }
  }, 90_000);
});

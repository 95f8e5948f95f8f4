import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { LedgerEntry, PublishBatch, RunRecord } from "../../src/warehouse/warehouse.js";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-postgres.js";
import { serviceAvailable } from "../support/require-service.js";

// A server of this test's own: restarting the shared one would disturb every other test.
let server: PrivatePostgres | undefined;
const available = await serviceAvailable("a private PostgreSQL (initdb/pg_ctl)", async () => {
  server = await startPrivatePostgres();
});

/** A one-file batch of 1000 rows for run `runId`; `during` runs inside the transaction, after the write. */
function batch(runId: string, during: () => Promise<void>): PublishBatch {
  const startedAt = new Date("2026-01-01T00:00:00Z");
  const run: RunRecord = {
    runId,
    pipeline: "p",
    status: "succeeded",
    startedAt,
    finishedAt: startedAt,
    report: { run_id: runId, started_at: startedAt.toISOString() },
  };
  const ledger: LedgerEntry[] = [
    {
      runId,
      pipeline: "p",
      path: `in/${runId}.csv`,
      sha256: runId.padEnd(64, "0"),
      size: 10,
      status: "loaded",
      rowsRead: 1000,
      rowsLoaded: 1000,
      archivedTo: null,
      error: null,
    },
  ];
  return {
    run,
    target: { table: "restarted", mode: "append" } as PublishBatch["target"],
    rowsSql: `SELECT range AS id, '${runId}' AS _sluice_run_id, 'in/${runId}.csv' AS _sluice_source_file, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS _sluice_loaded_at FROM range(1000)`,
    replaces: [],
    ledger,
    checks: [],
    // Runs inside the transaction, its connection idle between two statements.
    completeAfterWrite: async () => {
      await during();
      return { run, ledger };
    },
  };
}

/** Publishes `batch` and checks it landed once; fails on an 'error' event nobody heard. */
async function publishOnce(runId: string, during: () => Promise<void>): Promise<void> {
  // An 'error' event nobody hears is thrown out of the socket callback: it would kill the CLI.
  const uncaught: unknown[] = [];
  const record = (error: unknown) => uncaught.push(error);
  process.on("uncaughtException", record);
  const warehouse = await openPostgresWarehouse({ url: server!.url });
  try {
    const result = await warehouse.publish(batch(runId, during));
    expect(result.inserted).toBe(1000);
    const rows = await warehouse.query(
      `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM restarted WHERE _sluice_run_id = '${runId}'`,
    );
    expect(rows).toEqual([{ n: 1000, d: 1000 }]);
    const runs = await warehouse.query(
      `SELECT count(*)::int AS n FROM sluice.runs WHERE run_id = '${runId}'`,
    );
    expect(runs).toEqual([{ n: 1 }]);
    expect(uncaught.map(String)).toEqual([]);
  } finally {
    process.off("uncaughtException", record);
    await warehouse.close();
  }
}

describe.skipIf(!available)("postgres warehouse: a server restart mid-publish", () => {
  beforeAll(() => {
    expect(server).toBeDefined();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("a connection held between two statements of the publish survives a restart: retried, published once", async () => {
    let calls = 0;
    await publishOnce("20260101T000000Z-restart", async () => {
      if (calls++ === 0) await server!.restart();
    });
    expect(calls).toBe(2);
  }, 120_000);

  it("a server down for 4 s (a slow restart) is waited out, not cut short by the circuit breaker", async () => {
    let outage: Promise<void> | undefined;
    await publishOnce("20260101T000000Z-outage", async () => {
      outage ??= (await server!.outage(4_000)).over;
    });
    await outage;
  }, 120_000);
});

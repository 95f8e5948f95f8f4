import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import type { LedgerEntry, PublishBatch, RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

// A PostgreSQL append writes its rows before it takes the pipeline's and the table's locks (see
// postgres-publish.ts, locksLate): two workers of one pipeline copy at once and queue only for the ledger
// and the commit. These tests hold the pipeline's lock from a session of their own to stop publishes
// exactly there.

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);
const PIPELINE = "p";
const pipelineLock = `pg_advisory_lock(hashtext('sluice:pipeline:${PIPELINE}'))`;

/** An append of 1000 rows of content `sha` from `path` (extra: one more column). */
function appendBatch(runId: string, path: string, sha: string, extra = false): PublishBatch {
  const startedAt = new Date("2026-01-01T00:00:00Z");
  const run: RunRecord = {
    runId,
    pipeline: PIPELINE,
    status: "succeeded",
    startedAt,
    finishedAt: startedAt,
    report: { run_id: runId, started_at: startedAt.toISOString() },
  };
  const ledger: LedgerEntry[] = [
    {
      runId,
      pipeline: PIPELINE,
      path,
      sha256: sha.padEnd(64, "0"),
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
    target: { table: "events", mode: "append" } as PublishBatch["target"],
    rowsSql: `SELECT range AS id${extra ? ", 'x' AS extra" : ""}, '${runId}' AS _sluice_run_id, '${path}' AS _sluice_source_file, TIMESTAMPTZ '2026-01-01 00:00:00+00' AS _sluice_loaded_at FROM range(1000)`,
    replaces: [],
    ledger,
    checks: [],
    // As publishRun does: the files another publish loaded first become skipped_duplicate.
    resolveDuplicates: (paths) => ({
      run,
      ledger: ledger.map((e) =>
        paths.includes(e.path) ? { ...e, status: "skipped_duplicate" as const, rowsLoaded: 0 } : e,
      ),
    }),
  };
}

describe.skipIf(!available)("postgres append: rows written before the publish's locks", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let holder: pg.Client;
  let timingDir: string;
  const open: Warehouse[] = [];
  const query = async (sql: string) => (await holder.query(sql)).rows;
  const warehouse = async () => {
    const w = await openPostgresWarehouse({ url: db.url, retries: 0 });
    open.push(w);
    return w;
  };
  /** Waits until `n` sessions other than the holder wait for an advisory lock. */
  const waiters = async (n: number) => {
    for (let i = 0; i < 600; i++) {
      const [row] = await query(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
      );
      if (row.n >= n) return;
      await sleep(50);
    }
    throw new Error(`fewer than ${n} publishes ever waited for the pipeline's lock`);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    timingDir = mkdtempSync(join(tmpdir(), "sluice-late-lock-"));
    process.env.SLUICE_LOCK_TIMING = join(timingDir, "locks.jsonl");
    // The target and the catalog exist (a first publish creates them under the locks).
    await (await warehouse()).publish(appendBatch("r0", "in/r0.csv", "r0"));
  });
  afterAll(async () => {
    delete process.env.SLUICE_LOCK_TIMING;
    for (const w of open) await w.close().catch(() => undefined);
    await holder?.end();
    await db?.cleanup();
    rmSync(timingDir, { recursive: true, force: true });
  });

  it("an append has copied its rows into the target when it waits for the pipeline's lock", async () => {
    const w = await warehouse();
    await query(`SELECT ${pipelineLock}`);
    const publish = w.publish(appendBatch("r1", "in/r1.csv", "r1"));
    try {
      await waiters(1);
      // The waiting publish holds the lock its COPY took on the target: its rows are written.
      const [waiting] = await query(
        `SELECT l.pid, (SELECT count(*)::int FROM pg_locks t WHERE t.pid = l.pid AND t.relation = 'events'::regclass AND t.mode = 'RowExclusiveLock') AS wrote
           FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted`,
      );
      expect(waiting.wrote).toBe(1);
    } finally {
      await query(`SELECT pg_advisory_unlock_all()`);
    }
    expect((await publish).inserted).toBe(1000);
    const [row] = await query(`SELECT count(*)::int AS n FROM events WHERE _sluice_run_id = 'r1'`);
    expect(row.n).toBe(1000);
  });

  it("two appends of one content written at once: one loads it, the other reports it a duplicate", async () => {
    const [a, b] = [await warehouse(), await warehouse()];
    await query(`SELECT ${pipelineLock}`);
    const publishes = [
      a.publish(appendBatch("r2a", "in/r2a.csv", "same")),
      b.publish(appendBatch("r2b", "in/r2b.csv", "same")),
    ];
    try {
      // Both wrote the content and wait: whichever commits second finds it loaded under the lock.
      await waiters(2);
    } finally {
      await query(`SELECT pg_advisory_unlock_all()`);
    }
    const results = await Promise.all(publishes);
    expect(results.map((r) => r.inserted).sort()).toEqual([0, 1000]);
    expect(results.flatMap((r) => r.skippedDuplicates).length).toBe(1);
    const rows = await query(`SELECT count(*)::int AS n FROM events WHERE _sluice_run_id IN ('r2a', 'r2b')`);
    expect(rows[0].n).toBe(1000);
    const ledger = await query(
      `SELECT status, count(*)::int AS n FROM sluice.files WHERE run_id IN ('r2a', 'r2b') GROUP BY 1 ORDER BY 1`,
    );
    expect(ledger).toEqual([
      { status: "loaded", n: 1 },
      { status: "skipped_duplicate", n: 1 },
    ]);
    // The second was rolled back once (its rows written before the lock) and published again.
    const times = readFileSync(process.env.SLUICE_LOCK_TIMING!, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { committed: boolean });
    expect(times.filter((t) => !t.committed)).toHaveLength(1);
  });

  it("two single passes of one content written at once: the second finds it loaded under the lock and is undone", async () => {
    const [a, b] = [await warehouse(), await warehouse()];
    // A single pass knows its files' digests only after its write: its ledger look comes then.
    const single = (runId: string) => {
      const batch = appendBatch(runId, `in/${runId}.csv`, "single");
      const hashed = batch.ledger;
      const looked: boolean[] = [];
      return {
        looked,
        batch: {
          ...batch,
          ledger: hashed.map((e) => ({ ...e, sha256: "" })),
          completeAfterWrite: async (_written, _byFile, loadedAnyOf) => {
            const loaded = await loadedAnyOf(hashed.map((e) => e.sha256));
            looked.push(loaded);
            if (loaded) throw new Error(`${runId}: undone, read again the staged way`);
            return { run: batch.run, ledger: hashed };
          },
        } satisfies PublishBatch,
      };
    };
    const [first, second] = [single("r4a"), single("r4b")];
    await query(`SELECT ${pipelineLock}`);
    const publishes = [a.publish(first.batch), b.publish(second.batch)].map((p) =>
      p.then(
        (r) => r.inserted,
        (error: Error) => error.message,
      ),
    );
    try {
      await waiters(2);
    } finally {
      await query(`SELECT pg_advisory_unlock_all()`);
    }
    const outcomes = await Promise.all(publishes);
    expect(outcomes).toContain(1000);
    expect(outcomes.find((o) => typeof o === "string")).toMatch(/undone, read again the staged way/);
    // Both looked before the lock (nothing loaded yet); the one published again looked under it.
    expect([...first.looked, ...second.looked].sort()).toEqual([false, false, true]);
    const rows = await query(`SELECT count(*)::int AS n FROM events WHERE _sluice_run_id IN ('r4a', 'r4b')`);
    expect(rows[0].n).toBe(1000);
  });

  it("two appends adding the same column: the second reads the table again once it holds the locks", async () => {
    const [a, b] = [await warehouse(), await warehouse()];
    await query(`SELECT ${pipelineLock}`);
    const publishes = [
      a.publish(appendBatch("r3a", "in/r3a.csv", "r3a", true)),
      b.publish(appendBatch("r3b", "in/r3b.csv", "r3b", true)),
    ];
    try {
      // Both saw the table without the column and wait for the locks before adding it.
      await waiters(2);
    } finally {
      await query(`SELECT pg_advisory_unlock_all()`);
    }
    const results = await Promise.all(publishes);
    expect(results.map((r) => r.inserted)).toEqual([1000, 1000]);
    const rows = await query(`SELECT count(*)::int AS n FROM events WHERE extra = 'x'`);
    expect(rows[0].n).toBe(2000);
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDbWarehouse } from "../../src/warehouse/duckdb-warehouse.js";
import { positionRanges } from "../../src/warehouse/position-ranges.js";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { publishedPositionsSql } from "../../src/warehouse/stream-positions-sql.js";
import type { PositionClaim, RunRecord, Warehouse } from "../../src/warehouse/warehouse.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

// A stream batch's positions are claimed in its publish transaction, each once per pipeline: the path
// workers sharing one consumer rely on (see claim-positions.ts). recordRun is the transaction used here
// (a batch with no rows to write); the publish of rows claims the same way, first in its transaction.

const PIPELINE = "events";

function runOf(runId: string): RunRecord {
  return {
    runId,
    pipeline: PIPELINE,
    status: "succeeded",
    startedAt: new Date("2026-02-01T00:00:00Z"),
    finishedAt: new Date("2026-02-01T00:00:01Z"),
    report: { sequence: 1, rows: { read: 0 } },
  };
}

/**
 * Records run `runId` as one loaded stream batch holding `positions` (claimed as ranges, see
 * positionRanges; a position written `a<b` is said by the broker to follow `a`).
 */
function publishBatch(
  warehouse: Warehouse,
  runId: string,
  positions: readonly string[],
  afterClaim?: () => Promise<void>,
): Promise<void> {
  const batch = `stream:${PIPELINE}/${runId}`;
  const ranged = positions.map((p) => {
    const [position, follows] = p.split("<").reverse() as [string, string | undefined];
    return { position, follows };
  });
  const claim: PositionClaim = { batches: [{ batch, positions: positionRanges(ranged) }], afterClaim };
  return warehouse.recordRun(
    runOf(runId),
    [
      {
        runId,
        pipeline: PIPELINE,
        path: batch,
        sha256: `digest-${runId}`,
        size: 1,
        status: "loaded",
        rowsRead: positions.length,
        rowsLoaded: positions.length,
        archivedTo: null,
        error: null,
      },
    ],
    undefined,
    claim,
  );
}

async function published(warehouse: Warehouse, positions: readonly string[]): Promise<string[]> {
  const rows = await warehouse.query(publishedPositionsSql(PIPELINE, positions));
  return rows.map((r) => String(r.position)).sort();
}

/** The claimed ranges, `first..last`, in position order. */
async function ranges(warehouse: Warehouse): Promise<string[]> {
  const rows = await warehouse.query(
    `SELECT first_position, last_position FROM sluice.stream_claims WHERE pipeline = '${PIPELINE}' ORDER BY last_key`,
  );
  return rows.map((r) => `${r.first_position}..${r.last_position}`);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

/** Whether a publish is refused as a conflict (and only so). */
async function refused(publish: Promise<void>): Promise<boolean> {
  return publish.then(
    () => false,
    (error: unknown) => {
      if ((error as { code?: string }).code !== "STREAM_CONFLICT") throw error;
      return true;
    },
  );
}

async function runsRecorded(warehouse: Warehouse): Promise<string[]> {
  const rows = await warehouse.query("SELECT run_id FROM sluice.runs ORDER BY run_id");
  return rows.map((r) => String(r.run_id));
}

/** The cases both warehouses must pass; `open(true)` opens the warehouse opened last again. */
function claimCases(open: (again?: boolean) => Promise<Warehouse>): void {
  it("publishes a position once: an overlapping claim fails whole, before what follows it runs", async () => {
    const warehouse = await open();
    try {
      const followed: string[] = [];
      await publishBatch(warehouse, "r1", ["1", "2", "3"], async () => void followed.push("r1"));
      const conflict = await publishBatch(
        warehouse,
        "r2",
        ["3", "4"],
        async () => void followed.push("r2"),
      ).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(conflict).toMatchObject({ code: "STREAM_CONFLICT" });
      expect(String((conflict as Error).message)).toMatch(
        /1 of its 1 range\(s\) of stream positions \(2 position\(s\) in all\) were published meanwhile/,
      );
      // Nothing of the refused batch: its free position, its run, what follows the claim (the lake commit).
      expect(followed).toEqual(["r1"]);
      expect(await published(warehouse, ["1", "2", "3", "4"])).toEqual(["1", "2", "3"]);
      expect(await runsRecorded(warehouse)).toEqual(["r1"]);
      // Its retry without the published position goes through.
      await publishBatch(warehouse, "r3", ["4"]);
      expect(await published(warehouse, ["1", "2", "3", "4"])).toEqual(["1", "2", "3", "4"]);
    } finally {
      await warehouse.close();
    }
  });

  it("claims a run of positions as one range and refuses any claim overlapping it, whichever way", async () => {
    const warehouse = await open();
    try {
      await publishBatch(warehouse, "r1", range(100, 199));
      expect(await ranges(warehouse)).toEqual(["100..199"]);
      const overlapping: [string, string[]][] = [
        ["inside", ["150"]],
        ["left", range(90, 100)],
        ["right", range(199, 210)],
        ["around", range(50, 250)],
        ["one of several", ["95", "150", "300"]],
      ];
      for (const [runId, positions] of overlapping) {
        expect(await refused(publishBatch(warehouse, runId, positions)), runId).toBe(true);
      }
      expect(await published(warehouse, range(40, 310))).toEqual(range(100, 199).sort());
      expect(await runsRecorded(warehouse)).toEqual(["r1"]);
      // Right beside it on either side, and around it in gaps: free.
      await publishBatch(warehouse, "r2", [...range(90, 99), ...range(200, 210)]);
      expect(await ranges(warehouse)).toEqual(["90..99", "100..199", "200..210"]);
      expect(await published(warehouse, range(80, 220))).toEqual(range(90, 210).sort());
    } finally {
      await warehouse.close();
    }
  });

  it("Redis ids: a range joins ids of one ms in sequence, or ids the broker says follow each other", async () => {
    const warehouse = await open();
    try {
      const ms = 1_700_000_000_000;
      // 5 and 6 of one ms; then entries of the next ms (and of ms + 3) that one `>` reply delivered after it.
      await publishBatch(warehouse, "r1", [
        `${ms}-5`,
        `${ms}-6`,
        `${ms}-6<${ms + 1}-0`,
        `${ms + 1}-0<${ms + 3}-7`,
        `${ms + 5}-0`,
      ]);
      expect(await ranges(warehouse)).toEqual([`${ms}-5..${ms + 3}-7`, `${ms + 5}-0..${ms + 5}-0`]);
      expect(
        await published(warehouse, [`${ms}-4`, `${ms}-5`, `${ms + 1}-0`, `${ms + 3}-7`, `${ms + 3}-8`]),
      ).toEqual([`${ms}-5`, `${ms + 1}-0`, `${ms + 3}-7`].sort());
      // An id inside the range (as no Redis stream could hold one) is taken; beside it, free.
      expect(await refused(publishBatch(warehouse, "r2", [`${ms + 2}-0`]))).toBe(true);
      expect(await refused(publishBatch(warehouse, "r3", [`${ms}-4`, `${ms}-5`]))).toBe(true);
      await publishBatch(warehouse, "r4", [`${ms}-4`, `${ms + 3}-8`]);
      expect(await ranges(warehouse)).toHaveLength(4);
    } finally {
      await warehouse.close();
    }
  });

  it("a catalog of an earlier build: its positions (sluice.stream_published) are moved into ranges at open, refused to a claim, pruned", async () => {
    const file = await open();
    try {
      // The catalog as the earlier build left it: no stream_claims, a position per row.
      await file.query("DROP TABLE sluice.stream_claims");
      await file.query(
        `INSERT INTO sluice.stream_published (pipeline, position, batch) VALUES ('${PIPELINE}', '500', 'stream:${PIPELINE}/old'), ('${PIPELINE}', '501', 'stream:${PIPELINE}/old'), ('${PIPELINE}', '503', 'stream:${PIPELINE}/old')`,
      );
      await file.query(
        "INSERT INTO sluice.stream_published (pipeline, position, batch) VALUES ('other', '1700000000000-3', 'stream:other/old'), ('other', 'x,1', 'stream:other/old')",
      );
    } finally {
      await file.close();
    }
    let warehouse = await open(true);
    try {
      expect(await ranges(warehouse)).toEqual(["500..500", "501..501", "503..503"]);
      expect(await warehouse.query("SELECT * FROM sluice.stream_published")).toEqual([]);
      // Keyed in SQL as claimKey keys them: a Redis id, a string that is no position.
      const other = await warehouse.query(
        publishedPositionsSql("other", ["1700000000000-3", "1700000000000-4", "x,1", "x"]),
      );
      expect(other.map((r) => String(r.position)).sort()).toEqual(["1700000000000-3", "x,1"]);
      expect(await published(warehouse, range(499, 505))).toEqual(["500", "501", "503"]);
      expect(await refused(publishBatch(warehouse, "r1", range(502, 504)))).toBe(true);
      expect(await refused(publishBatch(warehouse, "r2", ["499", "500"]))).toBe(true);
      await publishBatch(warehouse, "r3", ["499", "502", "504"]);
      expect(await ranges(warehouse)).toEqual([
        "499..499",
        "500..500",
        "501..501",
        "502..502",
        "503..503",
        "504..504",
      ]);
      // Opened again, nothing moves twice.
      await warehouse.close();
      warehouse = await open(true);
      expect(await ranges(warehouse)).toHaveLength(6);
      expect(await warehouse.recordStreamFloor(PIPELINE, "502")).toBe(4);
      expect(await ranges(warehouse)).toEqual(["503..503", "504..504"]);
      expect(await published(warehouse, range(499, 505))).toEqual(range(499, 504));
    } finally {
      await warehouse.close();
    }
  });

  it("still reads positions an earlier build recorded before the publish (sluice.stream_positions)", async () => {
    const warehouse = await open();
    try {
      // The earlier build: positions recorded first, published when their batch's ledger row is loaded.
      await publishBatch(warehouse, "old-loaded", []);
      for (const [position, batch] of [
        ["7", `stream:${PIPELINE}/old-loaded`],
        ["8", `stream:${PIPELINE}/old-failed`],
      ]) {
        await warehouse.query(
          `INSERT INTO sluice.stream_positions (pipeline, position, batch) VALUES ('${PIPELINE}', '${position}', '${batch}')`,
        );
      }
      expect(await published(warehouse, ["7", "8"])).toEqual(["7"]);
    } finally {
      await warehouse.close();
    }
  });

  it("finds published positions among many, and positions holding a comma", async () => {
    const warehouse = await open();
    try {
      const many = Array.from({ length: 5_000 }, (_, i) => String(i + 1_000));
      await publishBatch(warehouse, "many", many.slice(0, 2_500));
      await publishBatch(warehouse, "comma", ["x,1"]);
      expect(await published(warehouse, many)).toEqual(many.slice(0, 2_500).sort());
      const found = await published(warehouse, [...many, "x,1", "x"]);
      expect(found).toHaveLength(2_501);
      expect(found).toContain("x,1");
      expect(found).not.toContain("x");
      expect(found).not.toContain("3500");
    } finally {
      await warehouse.close();
    }
  });
}

describe("stream position claims: DuckDB", () => {
  let dir: string;
  let n = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sluice-claims-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  claimCases((again) => openDuckDbWarehouse({ file: join(dir, `w${again ? n - 1 : n++}.duckdb`) }));
});

const pgUp = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

describe.skipIf(!pgUp)("stream position claims: PostgreSQL", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  let last = "";
  const open = async (again?: boolean) => {
    if (!again) {
      const db = await createTestDatabase();
      cleanups.push(db.cleanup);
      last = db.url;
    }
    return openPostgresWarehouse({ url: last, retries: 0 });
  };
  claimCases(open);

  it("a claim in flight is waited for: the second claimant fails once the first commits, never reaching what follows its claim", async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    const first = await openPostgresWarehouse({ url: db.url, retries: 0 });
    const second = await openPostgresWarehouse({ url: db.url, retries: 0 });
    try {
      let release!: () => void;
      const held = new Promise<void>((done) => {
        release = done;
      });
      let firstClaimed!: () => void;
      const claimedByFirst = new Promise<void>((done) => {
        firstClaimed = done;
      });
      const followed: string[] = [];
      // The first worker has claimed 10..12 and is committing to the lake (held here).
      const a = publishBatch(first, "a", ["10", "11", "12"], async () => {
        followed.push("a");
        firstClaimed();
        await held;
      });
      await claimedByFirst;
      // The second worker got 12 again (its ack wait ran out) and claims 12..13 meanwhile.
      let settled = false;
      const b = publishBatch(second, "b", ["12", "13"], async () => void followed.push("b")).then(
        () => {
          settled = true;
          return undefined;
        },
        (error: unknown) => {
          settled = true;
          return error;
        },
      );
      await sleep(500);
      expect(settled).toBe(false);
      release();
      await a;
      expect(await b).toMatchObject({ code: "STREAM_CONFLICT" });
      expect(followed).toEqual(["a"]);
      expect(await published(first, ["10", "11", "12", "13"])).toEqual(["10", "11", "12"]);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it("workers racing: overlapping ranges claimed at once from two warehouses, each position once", async () => {
    const db = await createTestDatabase();
    cleanups.push(db.cleanup);
    const workers = [
      await openPostgresWarehouse({ url: db.url, retries: 0 }),
      await openPostgresWarehouse({ url: db.url, retries: 0 }),
    ];
    try {
      // 40 batches, each overlapping the next by half, all started at once, half from each worker; a
      // claim held a moment (its lake commit) so that the others queue behind it.
      const outcomes = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          refused(
            publishBatch(workers[i % 2]!, `race${i}`, range(1_000 + i * 50, 1_099 + i * 50), () => sleep(20)),
          ).then((lost) => ({ i, lost })),
        ),
      );
      const won = outcomes.filter((o) => !o.lost).map((o) => o.i);
      expect(won.length).toBeGreaterThan(0);
      expect(won.length).toBeLessThan(40);
      // No two winners overlap, and what is published is exactly their positions.
      for (let k = 1; k < won.length; k++) expect(won[k]! - won[k - 1]!).toBeGreaterThanOrEqual(2);
      const expected = won.flatMap((i) => range(1_000 + i * 50, 1_099 + i * 50)).sort();
      expect(await published(workers[0]!, range(1_000, 3_100))).toEqual(expected);
      expect(await runsRecorded(workers[1]!)).toEqual(won.map((i) => `race${i}`).sort());
    } finally {
      for (const w of workers) await w.close();
    }
  });
});

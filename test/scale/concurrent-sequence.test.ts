import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresWarehouse } from "../../src/warehouse/postgres-warehouse.js";
import { makeProject, sluice } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const RUNS = 5;

describe.skipIf(!available)("run sequence: concurrent runs of one pipeline on PostgreSQL", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    const files: Record<string, string> = {};
    for (let f = 0; f < RUNS; f++) files[`landing/in/f-${f}.csv`] = `id,name\n${f},n${f}\n`;
    dir = makeProject(
      `warehouse: "${db.url}"\npipelines:\n  seqs:\n    source: { path: "in/*.csv" }\n    target: { table: seqs, mode: append }\n`,
      files,
    );
  });
  afterAll(async () => {
    await db?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("taken at once, every sequence number is different", async () => {
    const w = await openPostgresWarehouse({ url: db.url });
    try {
      const taken = await Promise.all(Array.from({ length: 12 }, () => w.nextSequence("other")));
      expect([...taken].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      // A floor (a lake commit the catalog never saw) lifts the counter for every later run.
      expect(await w.nextSequence("other", 40)).toBe(40);
      expect(await w.nextSequence("other")).toBe(41);
    } finally {
      await w.close();
    }
  });

  it(`${RUNS} runs of one pipeline at once: each run has its own sequence`, async () => {
    const results = await Promise.all(
      Array.from({ length: RUNS }, (_, f) =>
        sluice(["run", "--file", `in/f-${f}.csv`], dir, { timeoutMs: 120_000 }),
      ),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const w = await openPostgresWarehouse({ url: db.url, readOnly: true });
    try {
      const rows = await w.query(
        "SELECT seq FROM sluice.runs WHERE pipeline = 'seqs' AND status <> 'failed'",
      );
      const seqs = rows.map((r) => Number(r.seq));
      expect(seqs).toHaveLength(RUNS);
      expect(new Set(seqs).size).toBe(RUNS);
      expect((await w.query("SELECT count(*) AS n FROM seqs")).map((r) => Number(r.n))).toEqual([RUNS]);
    } finally {
      await w.close();
    }
  });
});

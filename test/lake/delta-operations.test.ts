import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import {
  history,
  loadSnapshot,
  optimize,
  registerDeltaView,
  restore,
  vacuum,
  writeDelta,
} from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { useMemoryDuckdb } from "../support/memory-duckdb.js";

const db = useMemoryDuckdb("sluice-delta-ops-");

async function count(view: string): Promise<bigint> {
  return (await db.con.runAndReadAll(`SELECT count(*) FROM ${view}`)).getRows()[0]![0] as bigint;
}

describe("lake operations", () => {
  it("history lists commits newest first with operation, files and rows", async () => {
    const table = { storage: localStorage(db.dir), path: "hist" };
    await writeDelta(db.con, table, "SELECT range AS id FROM range(10)");
    await writeDelta(db.con, table, "SELECT range AS id FROM range(3)", { mode: "overwrite" });
    const h = await history(table);
    expect(h.map((e) => e.version)).toEqual([1, 0]);
    expect(h[0]).toMatchObject({ operation: "WRITE", filesAdded: 1, filesRemoved: 1, rowsAdded: 3 });
    expect(h[0]!.operationParameters).toMatchObject({ mode: "overwrite" });
    expect(h[1]).toMatchObject({ filesAdded: 1, filesRemoved: 0, rowsAdded: 10 });
  });

  it("restore re-adds the files of an old version in a new commit", async () => {
    const table = { storage: localStorage(db.dir), path: "hist" };
    const r = await restore(db.con, table, 0);
    expect(r).toEqual({ version: 2, filesAdded: 1, filesRemoved: 1 });
    await registerDeltaView(db.con, table, "hist_v");
    expect(await count("hist_v")).toBe(10n);
    expect((await history(table))[0]!.operation).toBe("RESTORE");
  });

  it("optimize compacts small files per partition without changing rows", async () => {
    const table = { storage: localStorage(db.dir), path: "small" };
    for (let i = 0; i < 6; i++)
      await writeDelta(db.con, table, `SELECT ${i} AS id, ${i % 2} AS p`, {
        partitionBy: ["p"],
        checkpointInterval: 0,
      });
    const before = await loadSnapshot(db.con, table);
    expect(before.files.length).toBe(6);
    const r = await optimize(db.con, table);
    expect(r).toMatchObject({ filesRemoved: 6, filesAdded: 2 });
    const after = await loadSnapshot(db.con, table);
    expect(after.files.length).toBe(2);
    await registerDeltaView(db.con, table, "small_v");
    expect((await db.con.runAndReadAll("SELECT sum(id), sum(p) FROM small_v")).getRows()[0]).toEqual([
      15n,
      3n,
    ]);
    const h = await history(table);
    expect(h[0]!.operation).toBe("OPTIMIZE");
    const commit = await readdir(join(db.dir, "small/_delta_log"));
    expect(commit).toContain("00000000000000000006.json");
    expect((await optimize(db.con, table)).version).toBeNull();
  });

  it("vacuum refuses short retention, lists in dry run and never deletes what a retained version needs", async () => {
    const table = { storage: localStorage(db.dir), path: "small" };
    const refused = await vacuum(db.con, table, { retainHours: 1 }).catch((e: unknown) => e);
    expect((refused as SluiceError).code).toBe("USAGE");
    const none = await vacuum(db.con, table, { dryRun: true });
    expect(none.files).toEqual([]);
    // In two weeks, the 6 compacted-away files are past retention; the 2 live ones stay.
    const later = Date.now() + 14 * 24 * 3_600_000;
    const dry = await vacuum(db.con, table, { dryRun: true, now: later });
    expect(dry.files.length).toBe(6);
    expect(dry.deleted).toBe(false);
    const done = await vacuum(db.con, table, { now: later });
    expect(done.files.length).toBe(6);
    await registerDeltaView(db.con, table, "small_v2");
    expect(await count("small_v2")).toBe(6n);
    const err = await restore(db.con, table, 2).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).message).toContain("vacuumed");
  });
});

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { commitActions, loadSnapshot, registerDeltaView, writeDelta } from "../../src/lake/index.js";
import { localStorage } from "../../src/storage/local-storage.js";

let dir: string;
let instance: DuckDBInstance;
const cons: DuckDBConnection[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-delta-conc-"));
  instance = await DuckDBInstance.create(":memory:");
  for (let i = 0; i < 4; i++) cons.push(await instance.connect());
});
afterAll(async () => {
  for (const c of cons) c.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
});

describe("concurrent Delta commits", () => {
  it("two writers racing for the same version: one wins, the other retries on top; no file lost or duplicated", async () => {
    const table = { storage: localStorage(dir), path: "race" };
    await writeDelta(cons[0]!, table, "SELECT 0 AS id");
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        writeDelta(cons[i % 4]!, table, `SELECT range + ${i * 100} AS id FROM range(10)`),
      ),
    );
    const versions = results.map((r) => r.version).sort();
    expect(versions).toEqual([1, 2, 3, 4]);
    const log = (await readdir(join(dir, "race/_delta_log"))).filter((n) => n.endsWith(".json"));
    expect(log.length).toBe(5);
    const snap = await loadSnapshot(cons[0]!, table);
    expect(new Set(snap.files.map((f) => f.path)).size).toBe(5);
    await registerDeltaView(cons[0]!, table, "race_v");
    const rows = (
      await cons[0]!.runAndReadAll("SELECT count(*), count(DISTINCT id) FROM race_v")
    ).getRows()[0];
    expect(rows).toEqual([41n, 41n]);
  });

  it("two writers taking the same txn version: by default the later is skipped as present; with txnSkip off both land", async () => {
    // Two runs of one pipeline each number their txn past the table's; one cut off from its database keeps
    // writing while the other is let in, so both take the same version. That version names neither run:
    // only with txnSkip off do both runs' rows reach the table.
    const table = { storage: localStorage(dir), path: "same-txn" };
    await writeDelta(cons[0]!, table, "SELECT 0 AS id", { appId: "p", txnVersion: 1 });
    const racing = (skip: boolean) =>
      Promise.all(
        [1, 2].map((i) =>
          writeDelta(cons[i]!, table, `SELECT ${i} AS id`, { appId: "p", txnVersion: 2, txnSkip: skip }),
        ),
      );
    const skipped = await racing(true);
    expect(skipped.filter((r) => r.skipped)).toHaveLength(1);
    const landed = await racing(false);
    expect(landed.filter((r) => r.skipped)).toHaveLength(0);
    await registerDeltaView(cons[0]!, table, "same_txn_v");
    const rows = (await cons[0]!.runAndReadAll("SELECT count(*) FROM same_txn_v")).getRows()[0];
    expect(rows).toEqual([4n]);
  });

  it("two commits from the same read version: exactly one gets it, the other retries at the next", async () => {
    const table = { storage: localStorage(dir), path: "race" };
    const snap = await loadSnapshot(cons[0]!, table);
    const add = (name: string) => ({
      add: { path: name, partitionValues: {}, size: 1, modificationTime: Date.now(), dataChange: true },
    });
    const [a, b] = await Promise.all([
      commitActions(cons[0]!, table, snap.version, [add("a.parquet")], { isolation: "append" }),
      commitActions(cons[1]!, table, snap.version, [add("b.parquet")], { isolation: "append" }),
    ]);
    expect([a.version, b.version].sort()).toEqual([snap.version + 1, snap.version + 2]);
    expect([a.retries, b.retries].sort()).toEqual([0, 1]);
    const after = await loadSnapshot(cons[0]!, table);
    expect(
      after.files.filter((f) => f.path.endsWith("a.parquet") || f.path.endsWith("b.parquet")).length,
    ).toBe(2);
    const removes = ["a.parquet", "b.parquet"].map((p) => ({
      remove: { path: p, deletionTimestamp: Date.now(), dataChange: true },
    }));
    await commitActions(cons[0]!, table, after.version, removes, { isolation: "append" });
  });

  it("a losing commit that removed the same file fails with LAKE_CONFLICT", async () => {
    const table = { storage: localStorage(dir), path: "race" };
    const snap = await loadSnapshot(cons[0]!, table);
    const victim = snap.files[0]!;
    const remove = { remove: { path: victim.path, deletionTimestamp: Date.now(), dataChange: true } };
    const a = commitActions(
      cons[0]!,
      table,
      snap.version,
      [{ commitInfo: { operation: "DELETE" } }, remove],
      { isolation: "read-all" },
    );
    const b = commitActions(
      cons[1]!,
      table,
      snap.version,
      [{ commitInfo: { operation: "DELETE" } }, remove],
      { isolation: "read-all" },
    );
    const settled = await Promise.allSettled([a, b]);
    const ok = settled.filter((s) => s.status === "fulfilled");
    const failed = settled.filter((s) => s.status === "rejected") as PromiseRejectedResult[];
    expect(ok.length).toBe(1);
    expect(failed.length).toBe(1);
    expect(failed[0]!.reason).toBeInstanceOf(SluiceError);
    expect((failed[0]!.reason as SluiceError).code).toBe("LAKE_CONFLICT");
  });

  it("an overwrite racing an append conflicts instead of silently dropping the appended rows", async () => {
    const table = { storage: localStorage(dir), path: "race2" };
    await writeDelta(cons[0]!, table, "SELECT 1 AS id");
    const snap = await loadSnapshot(cons[0]!, table);
    await writeDelta(cons[1]!, table, "SELECT 2 AS id");
    const removeAll = snap.files.map((f) => ({
      remove: { path: f.path, deletionTimestamp: Date.now(), dataChange: true },
    }));
    const err = await commitActions(
      cons[0]!,
      table,
      snap.version,
      [{ commitInfo: { operation: "WRITE" } }, ...removeAll],
      {
        isolation: "read-all",
      },
    ).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe("LAKE_CONFLICT");
  });

  it("a re-run racing with the same txn commits once", async () => {
    const table = { storage: localStorage(dir), path: "race3" };
    await writeDelta(cons[0]!, table, "SELECT 0 AS id");
    const [x, y] = await Promise.all([
      writeDelta(cons[0]!, table, "SELECT 1 AS id", { appId: "p", txnVersion: 7 }),
      writeDelta(cons[1]!, table, "SELECT 1 AS id", { appId: "p", txnVersion: 7 }),
    ]);
    expect([x.skipped, y.skipped].sort()).toEqual([false, true]);
    await registerDeltaView(cons[0]!, table, "race3_v");
    expect((await cons[0]!.runAndReadAll("SELECT count(*) FROM race3_v")).getRows()[0]![0]).toBe(2n);
  });
});

import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkParquet, recoverParquet } from "../../src/lake/index.js";

let dir: string;
let instance: DuckDBInstance;
let con: DuckDBConnection;
let good: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-parquet-health-"));
  instance = await DuckDBInstance.create(":memory:");
  con = await instance.connect();
  good = join(dir, "good.parquet");
  await con.run(
    `COPY (SELECT range AS id, md5(range::VARCHAR) AS s, NULL::INTEGER AS empty FROM range(30000)) TO '${good}' (FORMAT parquet, ROW_GROUP_SIZE 10000, COMPRESSION uncompressed)`,
  );
});
afterAll(async () => {
  con.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
});

async function rowGroupOffsets(path: string): Promise<number[]> {
  const r = await con.runAndReadAll(
    `SELECT row_group_id, min(coalesce(dictionary_page_offset, data_page_offset))::BIGINT FROM parquet_metadata('${path}') GROUP BY ALL ORDER BY 1`,
  );
  return r.getRows().map((row) => Number(row[1]));
}

describe("parquet health", () => {
  it("reports a healthy file with its row groups and warns about an all-NULL column", async () => {
    const [report] = await checkParquet(con, [good]);
    expect(report).toMatchObject({ ok: true, rows: 30000, rowGroups: 3, problems: [] });
    expect(report!.warnings).toContain("column empty is entirely NULL");
  });

  it("flags a truncated file and cannot salvage it", async () => {
    const bytes = await readFile(good);
    const truncated = join(dir, "truncated.parquet");
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const [report] = await checkParquet(con, [truncated]);
    expect(report!.ok).toBe(false);
    expect(report!.problems[0]).toContain("truncated");
    const r = await recoverParquet(con, truncated, join(dir, "truncated.recovered.parquet"));
    expect(r).toMatchObject({ rowsRecovered: 0, rowsLost: null, outPath: null });
    expect(r.message).toContain("nothing can be salvaged");
  });

  it("flags a corrupt footer length", async () => {
    const bytes = Buffer.from(await readFile(good));
    bytes.writeUInt32LE(0x7fffffff, bytes.length - 8);
    const bad = join(dir, "footer.parquet");
    await writeFile(bad, bytes);
    const [report] = await checkParquet(con, [bad]);
    expect(report!.ok).toBe(false);
    expect(report!.problems[0]).toContain("corrupt footer");
  });

  it("finds a damaged row group and recovers the others", async () => {
    const bytes = Buffer.from(await readFile(good));
    const offsets = await rowGroupOffsets(good);
    // Scribble over the pages of the middle row group.
    bytes.fill(0xab, offsets[1]!, offsets[2]!);
    const damaged = join(dir, "damaged.parquet");
    await writeFile(damaged, bytes);
    const [report] = await checkParquet(con, [damaged]);
    expect(report!.ok).toBe(false);
    expect(report!.badRowGroups).toEqual([1]);
    const out = join(dir, "damaged.recovered.parquet");
    const r = await recoverParquet(con, damaged, out);
    // DuckDB rounds row groups to multiples of 2048 rows: 10240 + 10240 + 9520.
    expect(r).toMatchObject({ rowGroups: 3, rowGroupsRecovered: 2, rowsRecovered: 19760, rowsLost: 10240 });
    const check = await con.runAndReadAll(`SELECT count(*), min(id), max(id) FROM '${out}'`);
    expect(check.getRows()[0]).toEqual([19760n, 0n, 29999n]);
  });
});

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import { decompress } from "fzstd";
import { x as untar } from "tar";
import { beforeAll, describe, expect, it } from "vitest";
import { goldenFixtures } from "../lake/golden-fixtures.js";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

const pipeline = `orders:
  source: { path: "in/*.csv" }
  columns:
    order_id: { type: bigint }
    order_date: { type: date }
  derive:
    order_year: "year(order_date)"
  target:
    table: orders
    lake: { table: orders, format: delta, partition_by: [order_year], target_file_size: 64MB, row_group_size: 5000 }`;

function csv(ids: readonly number[], year: number): string {
  return `order_id,amount,order_date\n${ids.map((i) => `${i},${i}.5,${year}-0${1 + (i % 9)}-1${i % 10}`).join("\n")}\n`;
}

async function query<T = Record<string, unknown>>(
  dir: string,
  sql: string,
  extra: string[] = [],
): Promise<T[]> {
  const r = await sluice(["query", sql, "--json", ...extra], dir);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.json<T[]>();
}

describe("lake target: partitioned Delta table loaded over several runs", () => {
  let dir: string;
  const commitTimes: string[] = [];

  beforeAll(async () => {
    dir = makeProject(pipelineYaml(pipeline), { "landing/in/a.csv": csv([1, 2, 3], 2024) });
    for (const [name, ids, year] of [
      ["a.csv", [1, 2, 3], 2024],
      ["b.csv", [4, 5], 2025],
      ["c.csv", [6, 7, 8, 9], 2025],
    ] as const) {
      if (name !== "a.csv") addFile(dir, `landing/in/${name}`, csv(ids, year));
      const r = await sluice(["run", "--json"], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json<RunJson>().runs[0]!.status).toBe("succeeded");
      commitTimes.push(new Date().toISOString());
      await sleep(30);
    }
  }, 60_000);

  it("writes a Delta table partitioned by the derived column, readable as lake.orders", async () => {
    expect(existsSync(join(dir, "lake/orders/_delta_log/00000000000000000002.json"))).toBe(true);
    expect(
      readdirSync(join(dir, "lake/orders"))
        .filter((f) => f.startsWith("order_year="))
        .sort(),
    ).toEqual(["order_year=2024", "order_year=2025"]);
    const rows = await query<{ order_year: number; n: number }>(
      dir,
      "SELECT order_year, count(*)::INT AS n FROM lake.orders GROUP BY 1 ORDER BY 1",
    );
    expect(rows).toEqual([
      { order_year: 2024, n: 3 },
      { order_year: 2025, n: 6 },
    ]);
    // warehouse table and lake table hold the same rows; plain names still resolve to the warehouse
    const same = await query<{ n: number }>(
      dir,
      "SELECT count(*)::INT AS n FROM (SELECT order_id, _sluice_run_id FROM orders EXCEPT SELECT order_id, _sluice_run_id FROM lake.orders)",
    );
    expect(same).toEqual([{ n: 0 }]);
    // the commit records the pipeline's txn (appId = pipeline, version = run sequence)
    const log = readFileSync(join(dir, "lake/orders/_delta_log/00000000000000000002.json"), "utf8");
    expect(log).toContain('"txn":{"appId":"orders","version":3');
    const runs = await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM sluice.runs");
    expect(runs).toEqual([{ n: 3 }]);
  });

  it("pins versions and timestamps", async () => {
    const v0 = await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM lake.orders", [
      "--version",
      "orders=0",
    ]);
    expect(v0).toEqual([{ n: 3 }]);
    const v1 = await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM lake.orders", [
      "--timestamp",
      `orders=${commitTimes[1]}`,
    ]);
    expect(v1).toEqual([{ n: 5 }]);

    const missing = await sluice(["query", "SELECT 1", "--version", "orders=99"], dir);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^error: .*version 99 does not exist \(latest is 2\)$/);
    const unknown = await sluice(["query", "SELECT 1", "--version", "nope=1"], dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe(
      "error: --version nope=…: no lake table nope in this project (known: orders)",
    );
    const early = await sluice(["query", "SELECT 1", "--timestamp", "orders=2001-01-01T00:00:00Z"], dir);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/no version at or before 2001-01-01T00:00:00.000Z/);
    const bad = await sluice(["query", "SELECT 1", "--timestamp", "orders=yesterday"], dir);
    expect(bad.code).toBe(2);
  });

  it("history, optimize, restore and vacuum through the CLI", async () => {
    const h = await sluice(["lake", "history", "orders", "--json"], dir);
    expect(h.code).toBe(0);
    const history = h.json<{ history: { version: number; operation: string; files_added: number }[] }>()
      .history;
    expect(history.map((e) => [e.version, e.operation])).toEqual([
      [2, "WRITE"],
      [1, "WRITE"],
      [0, "WRITE"],
    ]);
    expect(history[2]!.files_added).toBe(1);

    const badWhere = await sluice(["lake", "optimize", "orders", "--where", "amount > 1"], dir);
    expect(badWhere.code).toBe(2);
    expect(badWhere.stderr).toMatch(/amount is not a partition column of orders/);
    const opt = await sluice(["lake", "optimize", "orders", "--where", "order_year = 2025", "--json"], dir);
    expect(opt.code, opt.stderr).toBe(0);
    expect(opt.json()).toMatchObject({ table: "orders", version: 3, files_removed: 2, files_added: 1 });
    expect(await query(dir, "SELECT count(*)::INT AS n FROM lake.orders")).toEqual([{ n: 9 }]);

    const restored = await sluice(["lake", "restore", "orders", "--to-version", "1", "--json"], dir);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json()).toMatchObject({ version: 4, restored_version: 1 });
    expect(await query(dir, "SELECT count(*)::INT AS n FROM lake.orders")).toEqual([{ n: 5 }]);

    const refused = await sluice(["lake", "vacuum", "orders", "--retain", "0h"], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--force-short-retention/);
    const dry = await sluice(
      ["lake", "vacuum", "orders", "--retain", "0h", "--force-short-retention", "--dry-run", "--json"],
      dir,
    );
    expect(dry.code, dry.stderr).toBe(0);
    const doomed = dry.json<{ files: string[] }>().files;
    expect(doomed.length).toBeGreaterThan(0);
    for (const f of doomed) expect(existsSync(join(dir, "lake/orders", f))).toBe(true);
    const real = await sluice(["lake", "vacuum", "orders", "--retain", "0h", "--force-short-retention"], dir);
    expect(real.code, real.stderr).toBe(0);
    for (const f of doomed) expect(existsSync(join(dir, "lake/orders", f))).toBe(false);
    expect(await query(dir, "SELECT count(*)::INT AS n FROM lake.orders")).toEqual([{ n: 5 }]);
  });

  it("parquet check and recover through the CLI", async () => {
    const folder = join(dir, "lake/orders/order_year=2024");
    const file = join(folder, readdirSync(folder).find((f) => f.endsWith(".parquet"))!);
    const ok = await sluice(["parquet", "check", file, "--json"], dir);
    expect(ok.code).toBe(0);
    expect(ok.json<{ ok: boolean; files: { rows: number }[] }>()).toMatchObject({
      ok: true,
      files: [{ rows: 3 }],
    });

    const bytes = await readFile(file);
    const broken = join(dir, "broken.parquet");
    await writeFile(broken, bytes.subarray(0, bytes.length - 20));
    const bad = await sluice(["parquet", "check", broken, "--json"], dir);
    expect(bad.code).toBe(1);
    expect(bad.json<{ ok: boolean }>().ok).toBe(false);
    const none = await sluice(["parquet", "check", broken, "--recover", join(dir, "out.parquet")], dir);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/nothing can be salvaged/);

    const copy = join(dir, "copy.parquet");
    writeFileSync(copy, bytes);
    const rec = await sluice(
      ["parquet", "check", copy, "--recover", join(dir, "rec.parquet"), "--json"],
      dir,
    );
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.json()).toMatchObject({ rows_recovered: 3, rows_lost: 0 });
  });

  it("reports a missing partition column by name before reading any file", async () => {
    const d = makeProject(
      pipelineYaml(`p:
  source: { path: "in/*.csv" }
  target:
    lake: { table: t, partition_by: [region] }`),
      { "landing/in/a.csv": "id,name\n1,x\n" },
    );
    // Checked against the pending file's header: a config error, nothing read or moved.
    const r = await sluice(["run", "--json"], d);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'sluice.yaml: pipelines.p.target.lake.partition_by[0]: unknown column "region" (columns: id, name)',
    );
    expect(existsSync(join(d, "landing/in/a.csv"))).toBe(true);
    const v = await sluice(
      ["validate"],
      makeProject(
        pipelineYaml(`p:
  source: { path: "in/*.csv" }
  target: { mode: merge, lake: { table: t, format: parquet } }`),
      ),
    );
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/parquet lake table supports append or overwrite, not merge/);
  });
});

describe("lake-only pipeline with a plain Parquet table", () => {
  it("publishes through manifests, records ledger and runs, and reads back as lake.<table>", async () => {
    const dir = makeProject(
      pipelineYaml(`events:
  source: { path: "in/*.csv" }
  columns: { order_date: { type: date } }
  derive: { order_year: "year(order_date)" }
  target:
    lake: { table: events, format: parquet, partition_by: [order_year] }`),
      { "landing/in/a.csv": csv([1, 2, 3], 2024) },
    );
    expect((await sluice(["run"], dir)).code).toBe(0);
    addFile(dir, "landing/in/b.csv", csv([4, 5], 2025));
    addFile(dir, "landing/in/c.csv", csv([1, 2, 3], 2024)); // same content as a.csv
    const r = await sluice(["run", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(
      r
        .json<RunJson>()
        .runs[0]!.files.map((f) => f.status)
        .sort(),
    ).toEqual(["loaded", "skipped_duplicate"]);
    expect(existsSync(join(dir, "lake/events/_manifests/00000000000000000001.json"))).toBe(true);
    expect(
      await query(dir, "SELECT order_year, count(*)::INT AS n FROM lake.events GROUP BY 1 ORDER BY 1"),
    ).toEqual([
      { order_year: 2024, n: 3 },
      { order_year: 2025, n: 2 },
    ]);
    expect(await query(dir, "SELECT count(*)::INT AS n FROM sluice.files WHERE status = 'loaded'")).toEqual([
      { n: 2 },
    ]);
    const pinned = await sluice(["query", "SELECT 1", "--version", "events=0"], dir);
    expect(pinned.code).toBe(2);
    expect(pinned.stderr).toMatch(/plain Parquet; time travel needs a Delta table/);
  });
});

describe("lake target with --force", () => {
  it("replaces the earlier rows of reloaded content in the lake, like in the warehouse", async () => {
    const dir = makeProject(pipelineYaml(pipeline), { "landing/in/a.csv": csv([1, 2, 3], 2024) });
    expect((await sluice(["run"], dir)).code).toBe(0);
    addFile(dir, "landing/in/a.csv", csv([1, 2, 3], 2024));
    const forced = await sluice(["run", "--force", "--json"], dir);
    expect(forced.code, forced.stderr).toBe(0);
    const runId = forced.json<{ runs: { run_id: string }[] }>().runs[0]!.run_id;
    for (const table of ["orders", "lake.orders"]) {
      expect(
        await query(
          dir,
          `SELECT count(*)::INT AS n, count(DISTINCT _sluice_run_id)::INT AS runs, any_value(_sluice_run_id) AS run FROM ${table}`,
        ),
      ).toEqual([{ n: 3, runs: 1, run: runId }]);
    }
  });
});

async function parquetRowCount(glob: string): Promise<number> {
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  try {
    const reader = await con.runAndReadAll(`SELECT count(*)::INT FROM read_parquet('${glob}')`);
    return Number(reader.getRows()[0]![0]);
  } finally {
    con.closeSync();
    instance.closeSync();
  }
}

describe("query --delta on a golden table", () => {
  const golden = goldenFixtures();
  it.skipIf(golden.skip)("mounts a Spark-written Delta folder as a view", async () => {
    const fixtures = golden.dir();
    const into = await mkdtemp(join(tmpdir(), "sluice-golden-"));
    for (const name of ["data-reader-primitives", "dv-with-columnmapping"]) {
      const tar = join(into, `${name}.tar`);
      await writeFile(tar, decompress(new Uint8Array(await readFile(join(fixtures, `${name}.tar.zst`)))));
      await untar({ file: tar, cwd: into });
    }
    const dir = makeProject(pipelineYaml(pipeline));
    const rows = await query<{ n: number }>(dir, "SELECT count(*)::INT AS n FROM g", [
      "--delta",
      `g=${join(into, "data-reader-primitives/delta")}`,
    ]);
    // The expected rows sit outside the project and the mounted table: sluice query cannot read them.
    const expected = await parquetRowCount(join(into, "data-reader-primitives/expected/**/*.parquet"));
    expect(rows[0]!.n).toBe(expected);
    expect(expected).toBeGreaterThan(0);
    const notDelta = await sluice(["query", "SELECT 1", "--delta", `g=${into}`], dir);
    expect(notDelta.code).toBe(2);
    expect(notDelta.stderr.trim()).toMatch(/not a Delta table \(no _delta_log folder in it\)$/);
    const unsupported = await sluice(
      ["query", "SELECT 1", "--delta", `g=${join(into, "dv-with-columnmapping/delta")}`],
      dir,
    );
    expect(unsupported.code).toBe(1);
    expect(unsupported.stderr).toMatch(/columnMapping|deletionVectors/);
  });
});

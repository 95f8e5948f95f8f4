import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { writeParquet, writeWithDuckDb } from "../support/files.js";

const ordersPipeline = `orders:
  source: { path: "in/orders/*.csv*" }
  columns:
    order_id: { type: bigint }
    amount: { type: "decimal(12,2)" }
    order_date: { type: date, format: "%d/%m/%Y" }
  derive:
    order_year: "year(order_date)"
  max_failure_rate: 0.6
  target: { table: orders, mode: append }`;

const ordersCsv = [
  "Order ID,E-mail,Amount,Order Date",
  "1,a@example.com,10.50,01/02/2026",
  "2,b@example.com,abc,02/02/2026",
  "3,c@example.com,5.00",
  "4,d@example.com,7.25,03/02/2026",
  "",
].join("\n");

async function query<T = Record<string, unknown>>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.json<T[]>();
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe("sluice run: CSV into the embedded warehouse", () => {
  it("loads, quarantines malformed rows with lines, archives, logs, and prints the contract JSON", async () => {
    const dir = makeProject(pipelineYaml(ordersPipeline), { "landing/in/orders/a b.csv": ordersCsv });
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    const { runs } = r.json<RunJson>();
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run.status).toBe("succeeded");
    expect(run.rows).toEqual({ read: 4, loaded: 2, quarantined: 2, malformed: 2, duplicates: 0 });
    expect(run.files[0]!.status).toBe("loaded");
    expect(run.files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(run.files[0]!.archived_to).toMatch(/^archive\/orders\/\d{4}\/\d{2}\/a b_\d{14}\.csv$/);
    expect(existsSync(join(dir, "landing", run.files[0]!.archived_to!))).toBe(true);
    expect(existsSync(join(dir, "landing/in/orders/a b.csv"))).toBe(false);

    const rows = await query(
      dir,
      "SELECT order_id, e_mail, amount::VARCHAR AS amount, order_date::VARCHAR AS d, order_year, _sluice_run_id, _sluice_source_file FROM orders ORDER BY order_id",
    );
    expect(rows).toEqual([
      {
        order_id: 1,
        e_mail: "a@example.com",
        amount: "10.50",
        d: "2026-02-01",
        order_year: 2026,
        _sluice_run_id: run.run_id,
        _sluice_source_file: "in/orders/a b.csv",
      },
      {
        order_id: 4,
        e_mail: "d@example.com",
        amount: "7.25",
        d: "2026-02-03",
        order_year: 2026,
        _sluice_run_id: run.run_id,
        _sluice_source_file: "in/orders/a b.csv",
      },
    ]);

    const q = await sluice(["quarantine", "orders", "--json"], dir);
    expect(q.code).toBe(0);
    const quarantined =
      q.json<
        { run_id: string; file: string; line: number; rules: string[]; reasons: string[]; raw: string }[]
      >();
    expect(quarantined.map((x) => x.line).sort()).toEqual([3, 4]);
    expect(quarantined.every((x) => x.rules[0] === "malformed" && x.run_id === run.run_id)).toBe(true);
    expect(quarantined.find((x) => x.line === 3)!.reasons[0]).toMatch(/^CAST: .*"abc"/);
    expect(quarantined.find((x) => x.line === 4)!.raw).toBe("3,c@example.com,5.00");

    const landing = walk(join(dir, "landing"));
    expect(landing.some((f) => /^logs\/\d{4}\/\d{2}\/\d{2}\/.+\.jsonl$/.test(f))).toBe(true);
    expect(landing).toContain(`quarantine/orders/${run.run_id}/rows.jsonl`);
    const log = readFileSync(join(dir, "landing", landing.find((f) => f.startsWith("logs/"))!), "utf8");
    expect(
      log
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).msg),
    ).toContain("published");

    const runsJson = (await sluice(["runs", "--json"], dir)).json<RunJson>();
    expect(runsJson.runs[0]!.run_id).toBe(run.run_id);
    expect(runsJson.runs[0]!.rows).toEqual(run.rows);
  });

  it("never loads the same content twice, whatever its name; --force reloads idempotently", async () => {
    const dir = makeProject(pipelineYaml(ordersPipeline), { "landing/in/orders/a.csv": ordersCsv });
    expect((await sluice(["run"], dir)).code).toBe(0);
    addFile(dir, "landing/in/orders/copy-of-a.csv", ordersCsv);
    const second = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(second.files[0]!.status).toBe("skipped_duplicate");
    expect(second.files[0]!.archived_to).toMatch(/^archive\/orders\/.*copy-of-a_\d{14}\.csv$/);
    expect(second.rows.loaded).toBe(0);
    expect((await query(dir, "SELECT count(*)::INT AS n FROM orders"))[0]).toEqual({ n: 2 });

    addFile(dir, "landing/in/orders/a-again.csv", ordersCsv);
    const forced = (await sluice(["run", "--force", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(forced.files[0]!.status).toBe("loaded");
    expect(
      (
        await query(dir, "SELECT count(*)::INT AS n, count(DISTINCT _sluice_run_id)::INT AS runs FROM orders")
      )[0],
    ).toEqual({ n: 2, runs: 1 });
    addFile(dir, "landing/in/orders/a-third.csv", ordersCsv);
    await sluice(["run", "--force"], dir);
    expect((await query(dir, "SELECT count(*)::INT AS n FROM orders"))[0]).toEqual({ n: 2 });
  });

  it("--force loads content that arrives under two names in one run once; the second is a duplicate", async () => {
    const yaml = pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`);
    const dir = makeProject(yaml, { "landing/in/a.csv": "id\n1\n", "landing/in/b.csv": "id\n1\n" });
    const ledger = () =>
      query<{ status: string; n: number }>(
        dir,
        "SELECT status, count(*)::INT AS n FROM sluice.files GROUP BY status ORDER BY status",
      );
    const first = await sluice(["run", "--force", "--json"], dir);
    expect(first.code, first.stderr).toBe(0);
    const files = first.json<RunJson>().runs[0]!.files;
    expect(files.map((f) => [f.path, f.status])).toEqual([
      ["in/a.csv", "loaded"],
      ["in/b.csv", "skipped_duplicate"],
    ]);
    expect(files[1]!.warnings).toContain("same content as another file of this run");
    expect(files[1]!.archived_to).toMatch(/^archive\/t\/\d{4}\/\d{2}\/b_\d{14}\.csv$/);
    expect(existsSync(join(dir, "landing", files[1]!.archived_to!))).toBe(true);
    expect(await query(dir, "SELECT id, _sluice_source_file AS f FROM t")).toEqual([
      { id: 1, f: "in/a.csv" },
    ]);
    expect(await ledger()).toEqual([
      { status: "loaded", n: 1 },
      { status: "skipped_duplicate", n: 1 },
    ]);

    // Content loaded before, arriving twice again: one copy replaces the earlier rows, the other is skipped.
    addFile(dir, "landing/in/c.csv", "id\n1\n");
    addFile(dir, "landing/in/d.csv", "id\n1\n");
    const again = (await sluice(["run", "--force", "--json"], dir)).json<RunJson>().runs[0]!;
    expect(again.files.map((f) => f.status)).toEqual(["loaded", "skipped_duplicate"]);
    expect(await query(dir, "SELECT id, _sluice_source_file AS f FROM t")).toEqual([
      { id: 1, f: "in/c.csv" },
    ]);
  });

  it("nothing to do is success with status skipped", async () => {
    const dir = makeProject(pipelineYaml(ordersPipeline));
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    expect(r.json<RunJson>().runs[0]!.status).toBe("skipped");
  });

  it("replace mode swaps the table content per run", async () => {
    const yaml = pipelineYaml(
      `people:\n  source: { path: "in/*.csv" }\n  target: { table: people, mode: replace }`,
    );
    const dir = makeProject(yaml, { "landing/in/p1.csv": "id,name\n1,a\n2,b\n" });
    await sluice(["run"], dir);
    addFile(dir, "landing/in/p2.csv", "id,name\n3,c\n");
    await sluice(["run"], dir);
    expect(await query(dir, "SELECT id, name FROM people ORDER BY id")).toEqual([{ id: 3, name: "c" }]);
  });

  it("reads JSONL, Parquet, gzip and zstd, with declared types", async () => {
    const yaml = pipelineYaml(
      `events:\n  source: { path: "in/events/*" }\n  columns:\n    at: { type: timestamp }\n  max_failure_rate: 0.9\n  target: { table: events }`,
    );
    const jsonl =
      '{"id": 1, "kind": "click", "at": "2026-01-01 10:00:00", "meta": {"x": 1}}\n\n{"id": 2, "kind": "view", "at": "not a time"}\n{"id": 3,\n[1,2]\n';
    const dir = makeProject(yaml, {
      "landing/in/events/a.jsonl": jsonl,
      "landing/in/events/b.jsonl.gz": gzipSync('{"id": 10, "kind": "gz", "at": "2026-01-02 00:00:00"}\n'),
    });
    const r = await sluice(["run", "--json"], dir);
    const run = r.json<RunJson>().runs[0]!;
    expect(run.rows).toEqual({ read: 5, loaded: 2, quarantined: 3, malformed: 3, duplicates: 0 });
    const q = (await sluice(["quarantine", "events", "--json"], dir)).json<
      { line: number; reasons: string[] }[]
    >();
    expect(q.map((x) => x.line).sort((a, b) => a - b)).toEqual([3, 4, 5]);
    expect(q.find((x) => x.line === 3)!.reasons[0]).toMatch(
      /column at: 'not a time' is not a valid timestamp/i,
    );
    expect(q.find((x) => x.line === 5)!.reasons[0]).toContain("NOT AN OBJECT");
    const rows = await query(dir, 'SELECT id, kind, "at"::VARCHAR AS "at" FROM events ORDER BY id');
    expect(rows).toEqual([
      { id: 1, kind: "click", at: "2026-01-01 10:00:00" },
      { id: 10, kind: "gz", at: "2026-01-02 00:00:00" },
    ]);
  });

  it("reads Parquet and zstd-compressed CSV", async () => {
    const dir = makeProject(pipelineYaml(`p:\n  source: { path: "in/*" }\n  target: { table: p }`), {
      "landing/in/.keep": "",
    });
    await writeWithDuckDb(
      join(dir, "landing/in/x.csv.zst"),
      "SELECT 8 AS id, 'eight' AS word",
      "FORMAT csv, HEADER, COMPRESSION zstd",
    );
    await writeParquet(join(dir, "landing/in/y.parquet"), "SELECT 7::BIGINT AS id, 'seven' AS word");
    const r = await sluice(["run", "--json"], dir);
    expect(r.code).toBe(0);
    expect(r.json<RunJson>().runs[0]!.rows.loaded).toBe(2);
    expect(await query(dir, "SELECT id, word FROM p ORDER BY id")).toEqual([
      { id: 7, word: "seven" },
      { id: 8, word: "eight" },
    ]);
  });
});

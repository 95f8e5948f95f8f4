import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { JsonRow } from "../../src/engine/duckdb-query.js";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { newRunId } from "../../src/run/run-id.js";
import type { RunReport } from "../../src/run/run-report.js";
import { type ProjectRunOptions, runProject } from "../../src/runner/run-project.js";
import type { Warehouse, WarehouseCapabilities } from "../../src/warehouse/warehouse.js";
import { addFile, makeProject } from "../support/cli.js";
import { connectField, decimalBase64, envelopeSchema, flatSchema, wrapped } from "../support/debezium.js";
import { nestedTablesCases } from "./nested-tables-suite.js";

/** A warehouse for one test: its `warehouse:` spec (relative DuckDB path or postgres URL) and cleanup. */
export interface SuiteWarehouse {
  readonly spec: string;
  cleanup(): Promise<void>;
}

/** A project under test with helpers that run it in-process. */
export interface SuiteProject {
  readonly dir: string;
  add(path: string, content: string): void;
  run(options?: ProjectRunOptions): Promise<RunReport>;
  /** Runs every pipeline (upstreams first); one report each. */
  runAll(): Promise<RunReport[]>;
  query(sql: string): Promise<JsonRow[]>;
  history(table: string): Promise<
    readonly {
      run_id: string;
      mode: string;
      inserted: number;
      updated: number;
      deleted: number;
      rolled_back_by: string | null;
    }[]
  >;
  rollback(table: string, to: string): Promise<unknown>;
  watermark(pipeline: string): Promise<string | null>;
  landingFiles(): string[];
  capabilities(): Promise<WarehouseCapabilities>;
}

async function project(warehouse: SuiteWarehouse, pipeline: string): Promise<SuiteProject> {
  const yaml = `warehouse: ${JSON.stringify(warehouse.spec)}\nlanding: landing\npipelines:\n${pipeline
    .trim()
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n")}\n`;
  const dir = makeProject(yaml);
  const open = async (readOnly: boolean) => {
    const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
    return ctx.openWarehouse({ readOnly });
  };
  const withWarehouse = async <T>(
    readOnly: boolean,
    fn: (w: Awaited<ReturnType<typeof open>>) => Promise<T>,
  ) => {
    const w = await open(readOnly);
    try {
      return await fn(w);
    } finally {
      await w.close();
    }
  };
  return {
    dir,
    add: (path, content) => addFile(dir, `landing/${path}`, content),
    async run(options) {
      const ctx = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
      const reports = await runProject(ctx, options);
      expect(reports).toHaveLength(1);
      return reports[0]!;
    },
    async runAll() {
      return runProject(createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") })));
    },
    query: (sql) => withWarehouse(true, async (w) => (await queryAll(w, sql)).rows),
    history: (table) => withWarehouse(true, (w) => w.history(table)),
    rollback: (table, to) => withWarehouse(false, (w) => w.rollback(table, to, newRunId(new Date()))),
    watermark: (p) => withWarehouse(true, (w) => w.watermark(p)),
    capabilities: () => withWarehouse(true, async (w) => w.capabilities),
    landingFiles: () => {
      const inDir = join(dir, "landing/in");
      return existsSync(inDir) ? readdirSync(inDir) : [];
    },
  };
}

/** Declares one test of the suite; `make` gives a project on a fresh warehouse. */
export type SuiteTest = (
  title: string,
  fn: (make: (pipeline: string) => Promise<SuiteProject>) => Promise<void>,
) => void;

/** Tests a suite implementation may skip, each with the reason written down. */
export type SuiteSkips = Readonly<Partial<Record<string, string>>>;

/**
 * The behaviour every warehouse must have (write modes, schema evolution, incremental, history and
 * rollback, reconciliation, bad input), run against one implementation. Hono-style: each
 * implementation's test file calls this with a factory for fresh warehouses.
 *
 * @example
 * runWarehouseSuite("duckdb", async () => ({ spec: "duckdb:warehouse.duckdb", cleanup: async () => {} }));
 */
export function runWarehouseSuite(
  name: string,
  makeWarehouse: () => Promise<SuiteWarehouse>,
  skips: SuiteSkips = {},
): void {
  const test: SuiteTest = (title, fn) => {
    const reason = skips[title];
    if (reason) {
      it.skip(`${title} (skipped on ${name}: ${reason})`, () => undefined);
      return;
    }
    it(title, async () => {
      const warehouses: SuiteWarehouse[] = [];
      const dirs: string[] = [];
      try {
        await fn(async (pipeline) => {
          const w = await makeWarehouse();
          warehouses.push(w);
          const p = await project(w, pipeline);
          dirs.push(p.dir);
          return p;
        });
      } finally {
        for (const w of warehouses) await w.cleanup();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      }
    });
  };
  const ids = (rows: JsonRow[], column = "id") => rows.map((r) => Number(r[column]));

  describe(`warehouse behaviour: ${name}`, () => {
    test("merge upserts by key, touches only changed rows, reconciles, and is idempotent", async (make) => {
      const p = await make(`orders:
  source: { path: "in/*.csv" }
  columns: { amount: { type: "decimal(10,2)" } }
  target: { table: orders, mode: merge, keys: [id] }`);
      p.add("in/a.csv", "id,name,amount\n1,a,1.50\n2,b,2.00\n3,c,\n");
      const first = await p.run();
      expect(first.status).toBe("succeeded");
      expect(first.load).toMatchObject({ inserted: 3, updated: 0, deleted: 0 });
      p.add("in/b.csv", "id,name,amount\n2,B,2.50\n3,c,\n4,d,4.00\n");
      const second = await p.run();
      expect(second.load).toMatchObject({ inserted: 1, updated: 1, deleted: 0 });
      expect(second.reconciliation).toMatchObject({
        ok: true,
        source_rows: 3,
        target_rows: 3,
        sums: { amount: { source: 6.5, target: 6.5 } },
      });
      const rows = await p.query("SELECT id, name, amount, _sluice_run_id AS run FROM orders ORDER BY id");
      expect(rows.map((r) => [Number(r.id), r.name, r.amount === null ? null : Number(r.amount)])).toEqual([
        [1, "a", 1.5],
        [2, "B", 2.5],
        [3, "c", null],
        [4, "d", 4],
      ]);
      expect(rows[2]!.run).toBe(first.run_id); // unchanged (NULL-safe): not rewritten
      p.add("in/b-copy.csv", "id,name,amount\n2,B,2.50\n3,c,\n4,d,4.00\n");
      const again = await p.run();
      expect(again.files[0]!.status).toBe("skipped_duplicate");
      const history = await p.history("orders");
      expect(history.map((h) => [h.mode, h.inserted, h.updated])).toEqual([
        ["merge", 3, 0],
        ["merge", 1, 1],
      ]);
    });

    test("replace with a header-only file empties the table and records the load", async (make) => {
      const p = await make(`snap:
  source: { path: "in/*.csv" }
  target: { table: snap, mode: replace }`);
      p.add("in/a.csv", "id,n\n1,5\n2,6\n");
      const first = await p.run();
      expect(first.status).toBe("succeeded");
      p.add("in/b.csv", "id,n\n");
      const empty = await p.run();
      expect(empty.status).toBe("succeeded");
      expect(empty.files.map((f) => f.status)).toEqual(["loaded"]);
      expect(empty.load).toMatchObject({ inserted: 0, updated: 0, deleted: 2 });
      expect(await p.query("SELECT id FROM snap")).toEqual([]);
      const history = await p.history("snap");
      expect(history.map((h) => [h.run_id, h.mode, h.inserted, h.deleted])).toEqual([
        [first.run_id, "replace", 2, 0],
        [empty.run_id, "replace", 0, 2],
      ]);
      // The emptied table can be rolled back like any other load.
      await p.rollback("snap", first.run_id);
      expect(ids(await p.query("SELECT id FROM snap ORDER BY id"))).toEqual([1, 2]);
    });

    test("delete_insert replaces the partitions present in the batch", async (make) => {
      const p = await make(`sales:
  source: { path: "in/*.csv" }
  target: { table: sales, mode: delete_insert, partition_by: [day] }`);
      p.add("in/a.csv", "day,item,qty\n2026-01-01,x,1\n2026-01-01,y,2\n2026-01-02,x,3\n");
      await p.run();
      p.add("in/b.csv", "day,item,qty\n2026-01-02,z,9\n2026-01-03,x,4\n");
      const second = await p.run();
      expect(second.load).toMatchObject({ inserted: 2, deleted: 1 });
      const rows = await p.query(
        "SELECT CAST(day AS VARCHAR) AS day, item, qty FROM sales ORDER BY day, item",
      );
      expect(rows.map((r) => `${r.day}:${r.item}:${r.qty}`)).toEqual([
        "2026-01-01:x:1",
        "2026-01-01:y:2",
        "2026-01-02:z:9",
        "2026-01-03:x:4",
      ]);
    });

    test("scd2 versions only tracked changes, NULL-safe, and closes deleted keys", async (make) => {
      const p = await make(`customers:
  source: { path: "in/*.csv" }
  columns: { city: { type: varchar } }
  target: { table: customers, mode: scd2, keys: [id], track: [city], close_deleted: true }`);
      p.add("in/a.csv", "id,city,visits\n1,Paris,1\n2,,1\n3,Rome,1\n");
      await p.run();
      p.add("in/b.csv", "id,city,visits\n1,Lyon,5\n2,,7\n");
      const second = await p.run();
      expect(second.load).toMatchObject({ inserted: 0, updated: 1, deleted: 1 });
      const rows = await p.query(
        "SELECT id, city, is_current, valid_to IS NULL AS open FROM customers ORDER BY id, valid_from",
      );
      expect(rows.map((r) => [Number(r.id), r.city, r.is_current, r.open])).toEqual([
        [1, "Paris", false, false],
        [1, "Lyon", true, true],
        [2, null, true, true],
        [3, "Rome", false, false],
      ]);
    });

    test("cdc applies Debezium events: latest per key by LSN, out of order and duplicates", async (make) => {
      const p = await make(`changes:
  source: { path: "in/*.jsonl" }
  target: { table: accounts, mode: cdc, keys: [id] }`);
      const ev = (op: string, lsn: number, before: object | null, after: object | null) =>
        JSON.stringify({ op, before, after, ts_ms: 1000 + lsn, source: { lsn } });
      p.add(
        "in/1.jsonl",
        [
          ev("c", 10, null, { id: 1, balance: 10 }),
          ev("c", 11, null, { id: 2, balance: 20 }),
          ev("u", 13, { id: 1, balance: 10 }, { id: 1, balance: 15 }),
          ev("u", 12, { id: 1, balance: 10 }, { id: 1, balance: 12 }),
          ev("u", 13, { id: 1, balance: 10 }, { id: 1, balance: 15 }),
          ev("c", 14, null, { id: 3, balance: 30 }),
        ].join("\n"),
      );
      await p.run();
      // Kafka Connect's JSON converter wraps each event: { schema, payload }.
      const wrapped = (event: string) =>
        JSON.stringify({ schema: { type: "struct" }, payload: JSON.parse(event) });
      p.add(
        "in/2.jsonl",
        [
          ev("d", 20, { id: 2, balance: 20 }, null),
          ev("u", 12, { id: 3, balance: 30 }, { id: 3, balance: -1 }),
          ev("u", 21, { id: 1, balance: 15 }, { id: 1, balance: 16 }),
        ]
          .map(wrapped)
          .join("\n"),
      );
      const second = await p.run();
      expect(second.load).toMatchObject({ updated: 1, deleted: 1 });
      const rows = await p.query("SELECT id, balance FROM accounts ORDER BY id");
      expect(rows.map((r) => [Number(r.id), Number(r.balance)])).toEqual([
        [1, 16],
        [3, 30],
      ]);
    });

    test("cdc skips Debezium truncate events, however the op is spelled", async (make) => {
      const p = await make(`changes:
  source: { path: "in/*.jsonl" }
  target: { table: accounts, mode: cdc, keys: [id] }`);
      p.add(
        "in/1.jsonl",
        [
          { op: "c", before: null, after: { id: 1, balance: 10 }, ts_ms: 1 },
          { op: "t", before: null, after: null, ts_ms: 2 },
          { op: " T ", before: null, after: null, ts_ms: 3 },
          { op: "u", before: { id: 1, balance: 10 }, after: { id: 1, balance: 11 }, ts_ms: 4 },
        ]
          .map((e) => JSON.stringify(e))
          .join("\n"),
      );
      const run = await p.run();
      expect(run.status).toBe("succeeded");
      const rows = await p.query("SELECT id, balance FROM accounts ORDER BY id");
      expect(rows.map((r) => [Number(r.id), Number(r.balance)])).toEqual([[1, 11]]);
    });

    test("cdc from a flat table with an op column can soft-delete", async (make) => {
      const p = await make(`flat:
  source: { path: "in/*.csv" }
  target: { table: items, mode: cdc, keys: [id], cdc: { format: flat, op_column: op, order_by: seq, soft_delete: true } }`);
      p.add("in/a.csv", "op,seq,id,name\nI,1,1,a\nI,2,2,b\nU,3,1,a2\nD,4,2,b\n");
      await p.run();
      const rows = await p.query("SELECT id, name, _sluice_deleted AS gone FROM items ORDER BY id");
      expect(rows.map((r) => [Number(r.id), r.name, r.gone])).toEqual([
        [1, "a2", false],
        [2, "b", true],
      ]);
      // Spellings are taken whole ("Delete", " insert "); an op none of them matches stops the load.
      p.add("in/b.csv", 'op,seq,id,name\nDelete,5,1,a2\n" insert ",6,3,c\nx,7,4,d\ndelete_me,8,3,c\n');
      const unknown = await p.run();
      expect(unknown.status).toBe("failed");
      expect(unknown.error).toMatch(
        /op that is none of .*'x' in in\/b\.csv, 'delete_me' in in\/b\.csv; nothing was published/,
      );
      expect(await p.query("SELECT id, name, _sluice_deleted AS gone FROM items ORDER BY id")).toEqual(rows);
      p.add("in/b.csv", 'op,seq,id,name\nDelete,5,1,a2\n" insert ",6,3,c\n');
      await p.run();
      const after = await p.query("SELECT id, _sluice_deleted AS gone FROM items ORDER BY id");
      expect(after.map((r) => [Number(r.id), r.gone])).toEqual([
        [1, true],
        [2, true],
        [3, false],
      ]);
    });

    test("cdc decodes the logical types a Debezium event's schema names, exactly", async (make) => {
      const p = await make(`changes:
  source: { path: "in/*.jsonl" }
  target: { table: typed, mode: cdc, keys: [id] }`);
      const f = connectField;
      const schema = envelopeSchema([
        f.int32("id"),
        f.decimal("amount", 2, 30),
        f.variableScale("rate"),
        f.logical("day", "int32", "io.debezium.time.Date"),
        f.logical("cday", "int32", "org.apache.kafka.connect.data.Date"),
        f.logical("t_ms", "int32", "io.debezium.time.Time"),
        f.logical("t_us", "int64", "io.debezium.time.MicroTime"),
        f.logical("t_ns", "int64", "io.debezium.time.NanoTime"),
        f.logical("ts_ms", "int64", "io.debezium.time.Timestamp"),
        f.logical("cts", "int64", "org.apache.kafka.connect.data.Timestamp"),
        f.logical("ts_us", "int64", "io.debezium.time.MicroTimestamp"),
        f.logical("ts_ns", "int64", "io.debezium.time.NanoTimestamp"),
        f.logical("zts", "string", "io.debezium.time.ZonedTimestamp"),
        f.logical("zt", "string", "io.debezium.time.ZonedTime"),
        f.logical("dur", "int64", "io.debezium.time.MicroDuration"),
        f.logical("doc", "string", "io.debezium.data.Json"),
        f.logical("uid", "string", "io.debezium.data.Uuid"),
        f.logical("yr", "int32", "io.debezium.time.Year"),
        f.bytes("raw"),
        f.string("name"),
      ]);
      const image = (id: number, amount: string, rate: [string, number], extra: object = {}) => ({
        id,
        amount: decimalBase64(amount, 2),
        rate: { scale: rate[1], value: decimalBase64(rate[0], rate[1]) },
        day: 19701,
        cday: -1,
        t_ms: 45296789,
        t_us: 45296789012,
        t_ns: 45296789012345,
        ts_ms: 1700000000123,
        cts: -1000,
        ts_us: 1700000000123456,
        ts_ns: 1700000000123456000,
        zts: "2024-01-15T10:30:00.123456Z",
        zt: "10:15:30.5Z",
        dur: 5400000000,
        doc: '{"a": [1, 2]}',
        uid: "550e8400-e29b-41d4-a716-446655440000",
        yr: 2024,
        raw: "AAEC",
        name: `n${id}`,
        ...extra,
      });
      const event = (op: string, lsn: number, before: object | null, after: object | null) =>
        wrapped(schema, { op, before, after, source: { lsn }, ts_ms: lsn });
      const gone = image(9, "1.00", ["1", 0]);
      p.add(
        "in/1.jsonl",
        [
          event("c", 1, null, image(1, "1.00", ["0.5", 1])),
          event("u", 2, image(1, "1.00", ["0.5", 1]), image(1, "30.50", ["-1.25", 2])),
          event("c", 3, null, image(2, "-12345678901234567890.12", ["123456789.123456789", 9])),
          event("c", 4, null, image(3, "0", ["0", 0])),
          event("c", 5, null, image(4, "-0.01", ["-0.001", 3], { doc: null, zts: null, raw: null })),
          event("c", 6, null, gone),
          event("d", 7, gone, null),
        ].join("\n"),
      );
      const run = await p.run();
      expect([run.status, run.error]).toEqual(["succeeded", null]);
      const rows = await p.query(
        `SELECT id, CAST(amount AS VARCHAR) AS amount, CAST(rate AS VARCHAR) AS rate, CAST(day AS VARCHAR) AS day,
          CAST(cday AS VARCHAR) AS cday, CAST(t_ms AS VARCHAR) AS t_ms, CAST(t_us AS VARCHAR) AS t_us,
          CAST(t_ns AS VARCHAR) AS t_ns, CAST(ts_ms AS VARCHAR) AS ts_ms, CAST(cts AS VARCHAR) AS cts,
          CAST(ts_us AS VARCHAR) AS ts_us, CAST(CAST(ts_ns AS TIMESTAMP) AS VARCHAR) AS ts_ns,
          CAST(zts AT TIME ZONE 'UTC' AS VARCHAR) AS zts, CAST(CAST(zt AS TIME) AS VARCHAR) AS zt,
          CAST(dur AS VARCHAR) AS dur, CAST(doc AS VARCHAR) AS doc, CAST(uid AS VARCHAR) AS uid, yr,
          octet_length(raw) AS raw_bytes, name FROM typed ORDER BY id`,
      );
      const common = {
        day: "2023-12-10",
        cday: "1969-12-31",
        t_ms: "12:34:56.789",
        t_us: "12:34:56.789012",
        t_ns: "12:34:56.789012",
        ts_ms: "2023-11-14 22:13:20.123",
        cts: "1969-12-31 23:59:59",
        ts_us: "2023-11-14 22:13:20.123456",
        ts_ns: "2023-11-14 22:13:20.123456",
        zts: "2024-01-15 10:30:00.123456",
        zt: "10:15:30.5",
        dur: "01:30:00",
        uid: "550e8400-e29b-41d4-a716-446655440000",
        yr: 2024,
        raw_bytes: 3,
      };
      const seen = rows.map((r) => ({
        ...r,
        id: Number(r.id),
        yr: Number(r.yr),
        raw_bytes: r.raw_bytes === null ? null : Number(r.raw_bytes),
        doc: r.doc === null ? null : JSON.parse(String(r.doc)),
      }));
      const doc = { a: [1, 2] };
      expect(seen).toEqual([
        { ...common, id: 1, amount: "30.50", rate: "-1.250000000", doc, name: "n1" },
        {
          ...common,
          id: 2,
          amount: "-12345678901234567890.12",
          rate: "123456789.123456789",
          doc,
          name: "n2",
        },
        { ...common, id: 3, amount: "0.00", rate: "0.000000000", doc, name: "n3" },
        {
          ...common,
          id: 4,
          amount: "-0.01",
          rate: "-0.001000000",
          doc: null,
          zts: null,
          raw_bytes: null,
          name: "n4",
        },
      ]);
    });

    test("cdc decodes flat events (ExtractNewRecordState) whose schema changed within the batch", async (make) => {
      const p = await make(`flat:
  source: { path: "in/*.jsonl" }
  target: { table: flat_typed, mode: cdc, keys: [id], cdc: { format: flat, op_column: __op } }`);
      const f = connectField;
      const day = f.logical("day", "int32", "io.debezium.time.Date");
      const before = flatSchema([f.int32("id"), f.decimal("amount", 2, 10), day]);
      const after = flatSchema([f.int32("id"), f.decimal("amount", 4, 12), day, f.string("note")]);
      // NUMERIC(10,2) became NUMERIC(12,4) between the events of one batch.
      p.add(
        "in/1.jsonl",
        [
          wrapped(before, { id: 1, amount: decimalBase64("30.50", 2), day: 0, __op: "c" }),
          wrapped(before, { id: 2, amount: decimalBase64("-0.01", 2), day: -1, __op: "c" }),
          wrapped(after, { id: 1, amount: decimalBase64("30.5025", 4), day: 1, note: "x", __op: "u" }),
          wrapped(after, {
            id: 3,
            amount: decimalBase64("-12345678.1234", 4),
            day: 2,
            note: null,
            __op: "c",
          }),
        ].join("\n"),
      );
      const first = await p.run();
      expect([first.status, first.error]).toEqual(["succeeded", null]);
      p.add("in/2.jsonl", wrapped(before, { id: 4, amount: decimalBase64("1.5", 2), day: 3, __op: "c" }));
      expect((await p.run()).status).toBe("succeeded");
      const rows = await p.query(
        "SELECT id, CAST(amount AS VARCHAR) AS amount, CAST(day AS VARCHAR) AS day, note FROM flat_typed ORDER BY id",
      );
      expect(rows.map((r) => [Number(r.id), r.amount, r.day, r.note])).toEqual([
        [1, "30.5025", "1970-01-02", "x"],
        [2, "-0.0100", "1969-12-31", null],
        [3, "-12345678.1234", "1970-01-03", null],
        [4, "1.5000", "1970-01-04", null],
      ]);
    });

    test("cdc refuses a type it does not decode and a value that does not decode, before anything is written", async (make) => {
      const p = await make(`changes:
  source: { path: "in/*.jsonl" }
  target: { table: guarded, mode: cdc, keys: [id] }`);
      const f = connectField;
      const fields = [
        f.int32("id"),
        f.decimal("amount", 2, 4),
        f.logical("day", "int32", "io.debezium.time.Date"),
      ];
      const create = (schema: Record<string, unknown>, after: object, lsn = 1) =>
        wrapped(schema, { op: "c", before: null, after, source: { lsn }, ts_ms: lsn });
      const good = { id: 1, amount: decimalBase64("12.34", 2), day: 1 };
      p.add("in/0.jsonl", create(envelopeSchema(fields), good));
      expect((await p.run()).status).toBe("succeeded");
      const table = () => p.query("SELECT id, CAST(amount AS VARCHAR) AS amount FROM guarded ORDER BY id");
      const loaded = await table();
      expect(loaded).toEqual([{ id: loaded[0]!.id, amount: "12.34" }]);
      const point = {
        type: "struct",
        optional: true,
        name: "io.debezium.data.geometry.Point",
        fields: [
          { type: "double", field: "x" },
          { type: "double", field: "y" },
        ],
        field: "geom",
      };
      const amounts = { type: "array", items: f.decimal("", 2), optional: true, field: "amounts" };
      const cases: [string, string][] = [
        [
          create(envelopeSchema([...fields, point]), { ...good, id: 2, geom: { x: 1, y: 2 } }, 2),
          'column "geom" is io.debezium.data.geometry.Point in the events\' schema, a type Sluice does not decode',
        ],
        [
          create(envelopeSchema([...fields, amounts]), { ...good, id: 2, amounts: ["AQ=="] }, 2),
          'column "amounts" is array holding org.apache.kafka.connect.data.Decimal',
        ],
        [
          create(envelopeSchema(fields), { ...good, id: 2, day: "soon" }, 2),
          'values that do not decode as their schema says: column "day" (io.debezium.time.Date) in in/1.jsonl',
        ],
        [
          // NUMERIC(4,2) holds at most 99.99.
          create(envelopeSchema(fields), { ...good, id: 2, amount: decimalBase64("123.45", 2) }, 2),
          'column "amount" (org.apache.kafka.connect.data.Decimal) in in/1.jsonl',
        ],
      ];
      for (const [line, message] of cases) {
        p.add("in/1.jsonl", line);
        const run = await p.run();
        expect(run.status).toBe("failed");
        expect(run.error).toContain(message);
        expect(run.error).toContain("nothing was published");
        expect(await table()).toEqual(loaded);
      }
    });

    test("warehouse sources: sql aggregates and incremental tables read the warehouse, values exact", async (make) => {
      const p = await make(`raw:
  source: { path: "in/*.jsonl" }
  columns:
    amount: { type: "decimal(10,2)" }
    day: { type: date }
    updated_at: { type: timestamp }
    ok: { type: boolean }
    note: { type: varchar }
  target: { table: raw }
daily:
  depends_on: [raw]
  source: { sql: "select day, sum(amount) as total, count(*) as n from raw group by day;" }
  target: { table: daily, mode: replace }
by_id:
  depends_on: [raw]
  source: { table: raw }
  incremental: { cursor: id }
  target: { table: by_id }
by_time:
  depends_on: [raw]
  source: { sql: "select id, updated_at from raw" }
  incremental: { cursor: updated_at }
  target: { table: by_time }`);
      const line = (
        id: number,
        note: string | null,
        amount: number | null,
        day: string | null,
        updated_at: string,
        ok: boolean | null,
      ) => JSON.stringify({ id, note, amount, day, updated_at, ok });
      p.add(
        "in/a.jsonl",
        [
          line(1, "plain", 1.5, "2026-01-01", "2026-01-01 10:00:00", true),
          line(2, "", 2, "2026-01-01", "2026-01-01 11:30:00.25", false),
          line(3, null, null, "2026-01-02", "2026-01-02 09:00:00", null),
        ].join("\n"),
      );
      const first = await p.runAll();
      expect(first.map((r) => [r.pipeline, r.status, r.error])).toEqual([
        ["raw", "succeeded", null],
        ["daily", "succeeded", null],
        ["by_id", "succeeded", null],
        ["by_time", "succeeded", null],
      ]);
      expect(first[2]!.files.map((f) => [f.path, f.rows.read])).toEqual([["table:raw", 3]]);
      p.add(
        "in/b.jsonl",
        [
          line(4, 'a, "b"\nc', -0.01, "2026-01-02", "2026-01-03 08:00:00", true),
          line(5, "", 100, null, "2026-01-03 09:00:00", false),
        ].join("\n"),
      );
      const second = await p.runAll();
      expect(second.map((r) => [r.pipeline, r.status, r.error])).toEqual(
        first.map((r) => [r.pipeline, "succeeded", null]),
      );
      // Only the new rows, by an integer and by a timestamp cursor.
      expect(second[2]!.files.map((f) => [f.path, f.rows.read])).toEqual([["table:raw", 2]]);
      expect(second[3]!.files.map((f) => [f.path, f.rows.read])).toEqual([["sql:by_time", 2]]);
      expect(await p.watermark("by_id")).toBe("5");
      expect(await p.watermark("by_time")).toBe("2026-01-03 09:00:00");
      const values = (table: string) =>
        p.query(
          `SELECT id, note, CAST(amount AS VARCHAR) AS amount, CAST(day AS VARCHAR) AS day, CAST(updated_at AS VARCHAR) AS at, ok FROM ${table} ORDER BY id`,
        );
      const raw = await values("raw");
      expect(raw.map((r) => [Number(r.id), r.note, r.amount, r.day, r.ok])).toEqual([
        [1, "plain", "1.50", "2026-01-01", true],
        [2, "", "2.00", "2026-01-01", false],
        [3, null, null, "2026-01-02", null],
        [4, 'a, "b"\nc', "-0.01", "2026-01-02", true],
        [5, "", "100.00", null, false],
      ]);
      // The table read back is the table written: NULLs, empty strings, numbers, dates, times, booleans.
      expect(await values("by_id")).toEqual(raw);
      const types = (table: string) =>
        p.query(
          `SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = '${table}' AND column_name NOT LIKE '\\_sluice%' ESCAPE '\\' ORDER BY ordinal_position`,
        );
      expect(await types("by_id")).toEqual(await types("raw"));
      expect(
        (await p.query("SELECT id, CAST(updated_at AS VARCHAR) AS at FROM by_time ORDER BY id")).map((r) => [
          Number(r.id),
          r.at,
        ]),
      ).toEqual(raw.map((r) => [Number(r.id), r.at]));
      const daily = await p.query(
        "SELECT CAST(day AS VARCHAR) AS day, CAST(total AS VARCHAR) AS total, n FROM daily ORDER BY day NULLS LAST",
      );
      expect(daily.map((r) => [r.day, r.total, Number(r.n)])).toEqual([
        ["2026-01-01", "3.50", 2],
        ["2026-01-02", "-0.01", 2],
        [null, "100.00", 1],
      ]);
    });

    test("warehouse sources: late_data_window re-reads the recent partitions late rows touch", async (make) => {
      const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
      const [recent, yesterday, old] = [day(2), day(1), day(40)];
      const p = await make(`orders:
  source: { path: "in/*.csv" }
  target: { table: orders }
daily:
  depends_on: [orders]
  source: { sql: "select order_date, sum(amount) as total, max(updated_at) as updated_at from orders group by order_date" }
  incremental: { cursor: updated_at }
  late_data_window: 3d
  target: { table: daily, mode: delete_insert, keys: [order_date], partition_by: [order_date] }`);
      p.add(
        "in/a.csv",
        `order_id,amount,order_date,updated_at\n1,10,${old},${old} 10:00:00\n2,5,${recent},${recent} 10:00:00\n3,7,${yesterday},${yesterday} 10:00:00\n`,
      );
      expect((await p.runAll()).map((r) => r.status)).toEqual(["succeeded", "succeeded"]);
      // Late rows: one for a recent day (re-published), one for a day older than the window (not).
      p.add(
        "in/b.csv",
        `order_id,amount,order_date,updated_at\n4,100,${recent},${yesterday} 23:00:00\n5,1000,${old},${yesterday} 23:30:00\n`,
      );
      const daily = (await p.runAll())[1]!;
      expect(daily.status).toBe("succeeded");
      expect(daily.files.flatMap((f) => f.warnings).join(" ")).toMatch(
        /^1 new row\(s\) belong to partitions older than late_data_window/,
      );
      const totals = async () =>
        (
          await p.query(
            "SELECT CAST(order_date AS VARCHAR) AS d, CAST(total AS INTEGER) AS t FROM daily ORDER BY 1",
          )
        ).map((r) => [r.d, Number(r.t)]);
      const expected = [
        [old, 10],
        [recent, 105],
        [yesterday, 7],
      ];
      expect(await totals()).toEqual(expected);
      // Exactly once: running again (no new file) changes nothing.
      expect((await p.runAll()).map((r) => r.status)).toEqual(["skipped", "succeeded"]);
      expect(await totals()).toEqual(expected);
    });

    test("incremental takes only rows newer than the stored mark minus the lag", async (make) => {
      const p = await make(`events:
  source: { path: "in/*.csv" }
  columns: { ts: { type: timestamp } }
  incremental: { cursor: ts, lag: 1h }
  target: { table: events, mode: append }`);
      p.add("in/a.csv", "id,ts\n1,2026-01-01 10:00:00\n2,2026-01-01 12:00:00\n");
      await p.run();
      expect(await p.watermark("events")).toMatch(/^2026-01-01 12:00:00/);
      p.add("in/b.csv", "id,ts\n3,2026-01-01 10:30:00\n4,2026-01-01 11:30:00\n5,2026-01-01 13:00:00\n");
      const second = await p.run();
      expect(second.rows).toMatchObject({ read: 3, loaded: 2, duplicates: 1 });
      expect(ids(await p.query("SELECT id FROM events ORDER BY id"))).toEqual([1, 2, 4, 5]);
      expect(await p.watermark("events")).toMatch(/^2026-01-01 13:00:00/);
    });

    test("schema evolution: evolve adds and widens; freeze and incompatible types fail naming the column", async (make) => {
      const p = await make(`m:
  source: { path: "in/*.csv" }
  target: { table: m, mode: append }`);
      p.add("in/a.csv", "id,v\n1,2\n");
      await p.run();
      p.add("in/b.csv", "id,v,extra\n2,2.5,x\n");
      const widened = await p.run();
      expect(widened.status).toBe("succeeded");
      const rows = await p.query("SELECT id, v, extra FROM m ORDER BY id");
      expect(rows.map((r) => [Number(r.id), Number(r.v), r.extra])).toEqual([
        [1, 2, null],
        [2, 2.5, "x"],
      ]);
      p.add("in/c.csv", "id,v\n3,abc\n");
      const bad = await p.run();
      expect(bad.status).toBe("failed");
      expect(bad.error).toMatch(/column "v".*(DOUBLE|double precision).*non-numeric.*'abc'/);
      expect(p.landingFiles()).toContain("c.csv");

      const f = await make(`f:
  source: { path: "in/*.csv" }
  schema_evolution: freeze
  target: { table: f, mode: append }`);
      f.add("in/a.csv", "id\n1\n");
      await f.run();
      f.add("in/b.csv", "id,extra\n2,x\n");
      const frozen = await f.run();
      expect(frozen.error).toMatch(/new column "extra".*freeze/);

      const d = await make(`d:
  source: { path: "in/*.csv" }
  schema_evolution: discard_columns
  target: { table: d, mode: append }`);
      d.add("in/a.csv", "id\n1\n");
      await d.run();
      d.add("in/b.csv", "id,extra\n2,x\n");
      const discarded = await d.run();
      expect(discarded.status).toBe("succeeded");
      expect(Object.keys((await d.query("SELECT * FROM d ORDER BY id"))[1]!)).not.toContain("extra");
      // The profile describes the rows published: without the discarded column, as run and as stored.
      expect(Object.keys(discarded.profile!.columns)).toEqual(["id"]);
      const stored = await d.query(
        `SELECT CAST(report AS VARCHAR) AS r FROM sluice.runs WHERE run_id = '${discarded.run_id}'`,
      );
      expect(Object.keys(JSON.parse(String(stored[0]!.r)).profile.columns)).toEqual(["id"]);
    });

    test("rollback restores the exact content after any run, for merge and scd2", async (make) => {
      for (const mode of ["merge", "scd2"]) {
        const p = await make(`r:
  source: { path: "in/*.csv" }
  target: { table: r, mode: ${mode}, keys: [id] }`);
        const snapshot = async () =>
          JSON.stringify(
            await p.query(
              `SELECT id, name, _sluice_run_id${mode === "scd2" ? ", is_current, CAST(valid_to AS VARCHAR) AS vt" : ""} FROM r ORDER BY 1, 2, 3`,
            ),
          );
        p.add("in/a.csv", "id,name\n1,a\n2,b\n");
        const r1 = await p.run();
        const after1 = await snapshot();
        p.add("in/b.csv", "id,name\n2,B\n3,c\n");
        const r2 = await p.run();
        const after2 = await snapshot();
        p.add("in/c.csv", "id,name\n1,A\n3,C\n4,d\n");
        await p.run();
        await p.rollback("r", r2.run_id);
        expect(await snapshot()).toBe(after2);
        await p.rollback("r", r1.run_id);
        expect(await snapshot()).toBe(after1);
        const history = await p.history("r");
        expect(history.filter((h) => h.mode === "rollback")).toHaveLength(2);
        expect(history.filter((h) => h.rolled_back_by !== null)).toHaveLength(2);
        await expect(p.rollback("r", "no-such-run")).rejects.toThrow(/did not load this table/);
      }
    });

    test("merge with dedupe takes one row per key across the files of a batch", async (make) => {
      for (const [dedupe, expected] of [
        [
          "{ keys: [id] }",
          [
            [1, "b"],
            [2, "x"],
          ],
        ],
        [
          "{ keys: [id], keep: first }",
          [
            [1, "a"],
            [2, "x"],
          ],
        ],
        [
          "{ keys: [id], keep: last, order_by: ts }",
          [
            [1, "a"],
            [2, "x"],
          ],
        ],
        ["{ keys: [id], keep: none }", [[2, "x"]]],
      ] as const) {
        const p = await make(`m:
  source: { path: "in/*.csv" }
  dedupe: ${dedupe}
  target: { table: m, mode: merge, keys: [id] }`);
        p.add("in/a.csv", "id,v,ts\n1,a,9\n2,x,1\n");
        p.add("in/b.csv", "id,v,ts\n1,b,5\n");
        const r = await p.run();
        expect(r.status, `${dedupe}: ${r.error}`).toBe("succeeded");
        const rows = await p.query("SELECT id, v FROM m ORDER BY id");
        expect(
          rows.map((x) => [Number(x.id), x.v]),
          dedupe,
        ).toEqual(expected);
        expect(r.rows.loaded + r.rows.duplicates, dedupe).toBe(3);
        expect(r.rows.loaded, dedupe).toBe(expected.length);
      }
    });

    test("bad keys fail with a clear message and lose nothing", async (make) => {
      const p = await make(`k:
  source: { path: "in/*.csv" }
  target: { table: k, mode: merge, keys: [id] }`);
      p.add("in/nulls.csv", "id,name\n1,a\n,b\n");
      const nulls = await p.run();
      expect(nulls.status).toBe("failed");
      expect(nulls.error).toMatch(/1 row has a NULL key \(id\)/);
      // Nothing was published: the run and its file say so (rows read, none loaded).
      expect(nulls.rows).toMatchObject({ read: 2, loaded: 0 });
      expect(nulls.files[0]!.rows).toMatchObject({ read: 2, loaded: 0 });
      rmSync(join(p.dir, "landing/in/nulls.csv"));
      p.add("in/dupes.csv", "id,name\n1,a\n1,b\n2,c\n");
      const dupes = await p.run();
      expect(dupes.error).toMatch(/id=1 \(2 rows\).*dedupe/);
      expect(dupes.rows).toMatchObject({ read: 3, loaded: 0 });
      rmSync(join(p.dir, "landing/in/dupes.csv"));
      p.add("in/nokey.csv", "ident,name\n1,a\n");
      const missing = await p.run();
      expect(missing.error).toMatch(/key column id not in the data/);
      expect(p.landingFiles()).toEqual(["nokey.csv"]);
      await expect(p.query("SELECT count(*) AS n FROM k")).rejects.toThrow();
    });

    test("a NUL byte in text is stored where the warehouse can hold one, else its row is quarantined; nothing is lost", async (make) => {
      const p = await make(`t:
  source: { path: "in/*.csv" }
  max_failure_rate: 0.5
  target: { table: t, mode: append }`);
      // Row 2 holds a NUL byte; row 4 is ragged (malformed) and holds one too.
      p.add("in/a.csv", "id,name\n1,a\n2,b\u0000c\n3,d\n4,e\u0000,extra\n5,f\n");
      const report = await p.run();
      expect(report.error ?? report.status).toBe("succeeded");
      const names = await p.query("SELECT id, name FROM t ORDER BY id");
      const quarantine = await p.query("SELECT line, rules, raw FROM sluice.quarantine ORDER BY line");
      // The malformed row's raw line is kept; a text column that cannot hold NUL shows it as U+2400.
      const nul = (await p.capabilities()).textHoldsNul ? "\u0000" : "\u2400";
      expect(quarantine.at(-1)).toMatchObject({ rules: ["malformed"], raw: `4,e${nul},extra` });
      if ((await p.capabilities()).textHoldsNul) {
        expect(report.rows).toMatchObject({ read: 5, loaded: 4, malformed: 1, quarantined: 1 });
        expect(names.map((r) => [Number(r.id), r.name])).toEqual([
          [1, "a"],
          [2, "b\u0000c"],
          [3, "d"],
          [5, "f"],
        ]);
      } else {
        expect(report.rows).toMatchObject({ read: 5, loaded: 3, malformed: 1, quarantined: 2 });
        expect(names.map((r) => Number(r.id))).toEqual([1, 3, 5]);
        expect(quarantine[0]).toMatchObject({ rules: ["no_nul_bytes"] });
        expect(Number(quarantine[0]!.line)).toBe(3);
        expect(report.checks).toContainEqual({ name: "no_nul_bytes", severity: "error", failed: 1 });
      }
    });

    test("foreign_key checks compare with the warehouse's table: another schema, hashed keys", async (make) => {
      const p = await make(`customers:
  source: { path: "in/customers/*.csv" }
  columns: { email: { mask: hash } }
  target: { table: crm.customers }
orders:
  source: { path: "in/orders/*.csv" }
  columns: { email: { mask: hash } }
  max_failure_rate: 1
  checks:
    - { rule: foreign_key, column: customer_id, references: { table: crm.customers, column: id } }
    - { rule: foreign_key, column: email, references: { table: crm.customers, column: email }, severity: warn }
  target: { table: orders }`);
      p.add("in/customers/c.csv", "id,email\n1,a@x.org\n2,b@x.org\n");
      p.add("in/orders/o.csv", "id,customer_id,email\n10,1,a@x.org\n11,3,b@x.org\n12,2,c@x.org\n13,,\n");
      const [customers, orders] = await p.runAll();
      expect(customers!.status).toBe("succeeded");
      expect(orders!.status, orders!.error ?? "").toBe("succeeded");
      expect(orders!.rows).toMatchObject({ read: 4, loaded: 3, quarantined: 1 });
      expect(orders!.checks).toEqual([
        { name: "foreign_key(customer_id)", severity: "error", failed: 1 },
        { name: "foreign_key(email)", severity: "warn", failed: 1 },
      ]);
      const quarantine = await p.query("SELECT line, reasons FROM sluice.quarantine ORDER BY line");
      expect(quarantine.map((q) => [Number(q.line), q.reasons])).toEqual([
        [3, ["customer_id = 3 has no match in crm.customers.id"]],
      ]);
      // The hashed keys the check accepted join as stored.
      const joined = await p.query(
        "SELECT o.id FROM orders o JOIN crm.customers c ON o.email = c.email ORDER BY o.id",
      );
      expect(ids(joined)).toEqual([10]);
    });

    test("a foreign_key check naming a table that does not exist is a configuration error", async (make) => {
      const p = await make(`orders:
  source: { path: "in/*.csv" }
  checks:
    - { rule: foreign_key, column: region, references: { table: regions, column: id } }
  target: { table: orders }`);
      p.add("in/a.csv", "id,region\n1,7\n");
      const report = await p.run();
      expect(report.status).toBe("failed");
      expect(report.error).toBe(
        "pipelines.orders.checks[0].references.table: table regions does not exist in the warehouse",
      );
      expect(p.landingFiles()).toEqual(["a.csv"]);
    });

    test("table and column names that need quoting", async (make) => {
      const p = await make(`q:
  source: { path: "in/*.csv" }
  naming: keep
  target: { table: "sales.Order Items", mode: merge, keys: ["Order ID"] }`);
      p.add("in/a.csv", 'Order ID,"select",We"ird\n1,x,y\n2,z,w\n');
      await p.run();
      p.add("in/b.csv", 'Order ID,"select",We"ird\n2,Z,w\n');
      const second = await p.run();
      expect(second.load).toMatchObject({ inserted: 0, updated: 1 });
      const rows = await p.query(
        'SELECT "Order ID" AS id, "select" AS s FROM sales."Order Items" ORDER BY 1',
      );
      expect(rows.map((r) => [Number(r.id), r.s])).toEqual([
        [1, "x"],
        [2, "Z"],
      ]);
    });
    nestedTablesCases(test, name);
  });
}

/** Every batch of a streamed user query, gathered: its columns and all its rows. */
export async function queryAll(
  w: Warehouse,
  sql: string,
): Promise<{ columns: readonly string[]; rows: Record<string, unknown>[] }> {
  let columns: readonly string[] = [];
  const rows: Record<string, unknown>[] = [];
  for await (const batch of w.streamQuery(sql)) {
    columns = batch.columns;
    rows.push(...batch.rows);
  }
  return { columns, rows };
}

import { describe, expect, it } from "vitest";
import { addFile, makeProject, type RunJson, sluice } from "../support/cli.js";
import { connectField, decimalBase64, envelopeSchema, flatSchema, wrapped } from "../support/debezium.js";

const f = connectField;
const fields = [
  f.int32("id"),
  f.decimal("amount", 2, 30),
  f.logical("day", "int32", "io.debezium.time.Date"),
  f.logical("seen", "int64", "io.debezium.time.MicroTimestamp"),
  f.logical("doc", "string", "io.debezium.data.Json"),
];

describe("change events in Kafka Connect's envelope, into a lake's event log", () => {
  it("carry decoded values: Debezium images as JSON of values, flat events as typed columns", async () => {
    const dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
lake: lake
pipelines:
  dbz:
    source: { path: "in/dbz/*.jsonl" }
    target: { table: accounts, mode: cdc, keys: [id], lake: { table: account_events } }
  flat:
    source: { path: "in/flat/*.jsonl" }
    target: { mode: cdc, keys: [id], cdc: { format: flat, op_column: __op }, lake: { table: flat_events } }
`);
    const image = (id: number, amount: string) => ({
      id,
      amount: decimalBase64(amount, 2),
      day: 19701,
      seen: 1700000000123456,
      doc: '{"a": [1, 2]}',
    });
    const event = (op: string, lsn: number, before: object | null, after: object | null) =>
      wrapped(envelopeSchema(fields), { op, before, after, source: { lsn }, ts_ms: lsn });
    // The column became NUMERIC(34,4) before the last event.
    const widened = envelopeSchema([fields[0]!, f.decimal("amount", 4, 34), ...fields.slice(2)]);
    const later = wrapped(widened, {
      op: "c",
      before: null,
      after: { ...image(2, "0"), amount: decimalBase64("1.2345", 4) },
      source: { lsn: 4 },
      ts_ms: 4,
    });
    addFile(
      dir,
      "landing/in/dbz/1.jsonl",
      [
        event("c", 1, null, image(1, "30.50")),
        event("u", 2, image(1, "30.50"), image(1, "-12345678901234567890.12")),
        event("d", 3, image(1, "-12345678901234567890.12"), null),
        later,
      ].join("\n"),
    );
    addFile(
      dir,
      "landing/in/flat/1.jsonl",
      [
        wrapped(flatSchema(fields), { ...image(1, "-0.01"), __op: "c" }),
        wrapped(flatSchema(fields), { ...image(2, "0"), __op: "c" }),
      ].join("\n"),
    );
    const run = await sluice(["run", "--json"], dir);
    expect(run.json<RunJson>().runs.map((r) => [r.pipeline, r.status])).toEqual([
      ["dbz", "succeeded"],
      ["flat", "succeeded"],
    ]);
    const query = async (sql: string) =>
      (await sluice(["query", sql, "--json"], dir)).json<Record<string, unknown>[]>();

    const events = await query("select op, before, after from lake.account_events order by ts_ms");
    expect(events.map((e) => e.op)).toEqual(["c", "u", "d", "c"]);
    const decoded = (amount: string, id = 1) =>
      `{"id":${id},"amount":${amount},"day":"2023-12-10","seen":"2023-11-14 22:13:20.123456","doc":{"a":[1,2]}}`;
    // The JSON text keeps every digit of the decimals (at the scale holding every event's).
    expect(events.map((e) => [e.before, e.after])).toEqual([
      [null, decoded("30.5000")],
      [decoded("30.5000"), decoded("-12345678901234567890.1200")],
      [decoded("-12345678901234567890.1200"), null],
      [null, decoded("1.2345", 2)],
    ]);
    expect(await query("select id, cast(amount as varchar) as amount from accounts")).toEqual([
      { id: 2, amount: "1.2345" },
    ]);
    const columns = await query("select column_name, column_type from (describe lake.account_events)");
    expect(columns.map((c) => c.column_name)).not.toContain("schema");
    expect(columns.map((c) => c.column_name)).not.toContain("payload");

    const flat = await query(
      "select cast(id as integer) as id, cast(amount as varchar) as amount, cast(day as varchar) as day, epoch_us(seen) as seen, cast(doc as varchar) as doc, __op from lake.flat_events order by id",
    );
    expect(flat).toEqual([
      {
        id: 1,
        amount: "-0.01",
        day: "2023-12-10",
        seen: 1700000000123456,
        doc: '{"a":[1,2]}',
        __op: "c",
      },
      {
        id: 2,
        amount: "0.00",
        day: "2023-12-10",
        seen: 1700000000123456,
        doc: '{"a":[1,2]}',
        __op: "c",
      },
    ]);
  });
});

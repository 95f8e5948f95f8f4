import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ColumnDecoder,
  decodePlan,
  decodeSql,
  variableScaleSql,
} from "../../src/plan/connect-schema.js";
import { quoteLiteral } from "../../src/plan/sql-text.js";
import {
  decimalBase64,
  envelopeSchema,
  connectField as f,
  flatSchema,
  twosComplementBase64,
} from "../support/debezium.js";

describe("decodePlan", () => {
  it("reads the logical types of the row images, leaving plain and as-sent types alone", () => {
    const plan = decodePlan(
      [
        envelopeSchema([
          f.int32("id"),
          f.decimal("amount", 2, 10),
          f.logical("day", "int32", "io.debezium.time.Date"),
          f.logical("kind", "string", "io.debezium.data.Enum"),
          f.bytes("raw"),
          { type: "array", items: { type: "string" }, field: "tags" },
        ]),
      ],
      "debezium",
      false,
    );
    expect(plan.problems).toEqual([]);
    expect(plan.byVariant).toBe(false);
    expect(plan.decoders.map((d) => [d.column, d.logicalType, d.decimal?.type])).toEqual([
      ["amount", "org.apache.kafka.connect.data.Decimal", { precision: 10, scale: 2 }],
      ["day", "io.debezium.time.Date", undefined],
      ["raw", "bytes", undefined],
    ]);
  });

  it("names every type it does not decode, nested ones too", () => {
    const plan = decodePlan(
      [
        flatSchema([
          f.logical("bits", "bytes", "io.debezium.data.Bits"),
          f.logical("span", "string", "io.debezium.time.Interval"),
          { type: "struct", name: "io.debezium.data.geometry.Point", fields: [], field: "geom" },
          { type: "array", items: f.logical("", "int32", "io.debezium.time.Date"), field: "days" },
          { type: "map", keys: { type: "string" }, values: f.bytes(""), field: "blobs" },
          { ...f.decimal("odd", -3), field: "odd" },
        ]),
      ],
      "flat",
      false,
    );
    expect(plan.problems).toEqual([
      `column "bits" is io.debezium.data.Bits in the events' schema, a type Sluice does not decode`,
      `column "span" is io.debezium.time.Interval in the events' schema, a type Sluice does not decode`,
      `column "geom" is io.debezium.data.geometry.Point in the events' schema, a type Sluice does not decode`,
      `column "days" is array holding io.debezium.time.Date in the events' schema, a type Sluice does not decode`,
      `column "blobs" is map holding bytes in the events' schema, a type Sluice does not decode`,
      `column "odd" is org.apache.kafka.connect.data.Decimal with scale -3 in the events' schema, a type Sluice does not decode`,
    ]);
  });

  it("decodes a Decimal whose scale changed between schemas per event, into one type holding both", () => {
    const plan = decodePlan(
      [flatSchema([f.decimal("amount", 2, 10)]), flatSchema([f.decimal("amount", 4, 8)])],
      "flat",
      false,
    );
    expect(plan.problems).toEqual([]);
    expect(plan.byVariant).toBe(true);
    expect(plan.decoders[0]!.decimal?.type).toEqual({ precision: 12, scale: 4 });
  });

  it("refuses a column typed differently by two schemas, or events without a schema beside typed ones", () => {
    const changed = decodePlan(
      [flatSchema([f.int32("amount")]), flatSchema([f.decimal("amount", 2)])],
      "flat",
      false,
    );
    expect(changed.problems).toEqual([
      `column "amount" has different types in the events' schemas (int32, org.apache.kafka.connect.data.Decimal); load the events before and after the change in separate runs`,
    ]);
    const schemaless = decodePlan([flatSchema([f.decimal("amount", 2)])], "flat", true);
    expect(schemaless.problems[0]).toContain("(org.apache.kafka.connect.data.Decimal, no schema)");
    // Events without a schema are fine where no column needs decoding.
    expect(decodePlan([flatSchema([f.int32("id")])], "flat", true).problems).toEqual([]);
  });
});

describe("decodeSql in DuckDB", () => {
  let instance: DuckDBInstance;
  const value = async (sql: string): Promise<unknown> => {
    const con = await instance.connect();
    try {
      return (await con.runAndReadAll(`SELECT CAST(${sql} AS VARCHAR) AS v`)).getRowObjectsJson()[0]!.v;
    } finally {
      con.closeSync();
    }
  };
  const decimal = (scale: number, precision = 38): ColumnDecoder => ({
    column: "x",
    logicalType: "org.apache.kafka.connect.data.Decimal",
    decimal: { byVariant: new Map([[1, { precision, scale }]]), type: { precision, scale } },
  });
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:");
  });
  afterAll(() => instance.closeSync());

  it("decodes two's-complement decimals exactly: negative, zero, beyond 64 bits, up to DECIMAL(38)", async () => {
    const max = "9".repeat(36);
    for (const text of [
      "30.50",
      "0.00",
      "-0.01",
      "0.01",
      "-1.28",
      "1.27",
      "1.28",
      "-12345678901234567890.12",
      "92233720368547758.07",
      "92233720368547758.08",
      "-92233720368547758.09",
      `${max}.99`,
      `-${max}.99`,
    ]) {
      expect(await value(decodeSql(decimal(2), quoteLiteral(decimalBase64(text, 2))))).toBe(text);
    }
    expect(await value(decodeSql(decimal(0), quoteLiteral(twosComplementBase64(-(2n ** 100n)))))).toBe(
      (-(2n ** 100n)).toString(),
    );
  });

  it("yields NULL (a value lost, which the load refuses) where a value does not decode", async () => {
    // 10^38 needs 39 digits; 17 bytes exceed 128 bits; NUMERIC(4,2) holds at most 99.99; not base64.
    const lost = [
      [decimal(0), twosComplementBase64(10n ** 38n)],
      [decimal(0), Buffer.alloc(17, 1).toString("base64")],
      [decimal(2, 4), decimalBase64("123.45", 2)],
      [decimal(2), "!!"],
    ] as const;
    for (const [decoder, raw] of lost) expect(await value(decodeSql(decoder, quoteLiteral(raw)))).toBeNull();
    const day: ColumnDecoder = { column: "d", logicalType: "io.debezium.time.Date" };
    expect(await value(decodeSql(day, "'soon'"))).toBeNull();
    const time: ColumnDecoder = { column: "t", logicalType: "io.debezium.time.MicroTime" };
    expect(await value(decodeSql(time, "'86400000001'"))).toBeNull();
    expect(await value(decodeSql(time, "'86400000000'"))).toBe("24:00:00");
  });

  it("measures and decodes VariableScaleDecimal values of mixed scales exactly", async () => {
    const decoder: ColumnDecoder = { column: "v", logicalType: "io.debezium.data.VariableScaleDecimal" };
    const raws = [
      ["-12345678901234567890.12", 2],
      ["0.000000001", 9],
      ["7", 0],
    ] as const;
    const rows = raws
      .map(
        ([text, scale]) => `(${quoteLiteral(JSON.stringify({ scale, value: decimalBase64(text, scale) }))})`,
      )
      .join(", ");
    const m = variableScaleSql("r");
    const con = await instance.connect();
    const measured = (
      await con.runAndReadAll(`SELECT ${m.scale} AS s, ${m.digits} AS d FROM (VALUES ${rows}) t(r)`)
    ).getRowObjectsJson()[0]!;
    expect([Number(measured.s), Number(measured.d)]).toEqual([9, 20]);
    const shape = { precision: 29, scale: 9 };
    const decoded = (
      await con.runAndReadAll(
        `SELECT CAST(${decodeSql(decoder, "r", shape)} AS VARCHAR) AS v FROM (VALUES ${rows}) t(r)`,
      )
    ).getRowObjectsJson();
    con.closeSync();
    expect(decoded.map((r) => r.v)).toEqual([
      "-12345678901234567890.120000000",
      "0.000000001",
      "7.000000000",
    ]);
  });

  it("decodes times and timestamps at their precision", async () => {
    const at = (logicalType: string, raw: string) =>
      value(decodeSql({ column: "x", logicalType }, quoteLiteral(raw)));
    expect(await at("io.debezium.time.NanoTimestamp", "1700000000123456789")).toBe(
      "2023-11-14 22:13:20.123456789",
    );
    expect(await at("io.debezium.time.MicroTimestamp", "-1")).toBe("1969-12-31 23:59:59.999999");
    expect(await at("io.debezium.time.Timestamp", "1700000000123")).toBe("2023-11-14 22:13:20.123");
    expect(await at("io.debezium.time.NanoTime", "45296789012345")).toBe("12:34:56.789012");
    expect(await at("io.debezium.time.ZonedTime", "10:15:30.5Z")).toBe("10:15:30.5+00");
    expect(await at("io.debezium.time.MicroDuration", "90061000000")).toBe("25:01:01");
  });
});

import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import avro from "avsc";
import { describe, expect, it } from "vitest";
import { addFile, makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";
import { runLogMessages } from "../support/run-log.js";

/** An Avro container file of `records`, written by avsc itself. */
async function avroFile(
  schema: object,
  records: readonly object[],
  options: { codec?: string; blockSize?: number } = {},
): Promise<Buffer> {
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false, logicalTypes });
  const encoder = new avro.streams.BlockEncoder(type, {
    codec: options.codec ?? "null",
    blockSize: options.blockSize ?? 65536,
  });
  const chunks: Buffer[] = [];
  encoder.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => encoder.on("end", resolve));
  for (const r of records) encoder.write(r);
  encoder.end();
  await done;
  return Buffer.concat(chunks);
}

/** Values pass through as their underlying type; the written schema keeps the logical type and its attributes. */
class Logical extends avro.types.LogicalType {
  private readonly attributes: Record<string, unknown>;
  constructor(schema: avro.Schema, opts?: avro.ForSchemaOptions) {
    super(schema, opts);
    this.attributes = schema as unknown as Record<string, unknown>;
  }
  override _fromValue(v: unknown): unknown {
    return v;
  }
  override _toValue(v: unknown): unknown {
    return v;
  }
  override _export(schema: avro.Schema): void {
    const attrs = schema as unknown as Record<string, unknown>;
    for (const k of ["precision", "scale"])
      if (this.attributes[k] !== undefined) attrs[k] = this.attributes[k];
  }
}
const logicalTypes = Object.fromEntries(
  ["decimal", "date", "timestamp-millis", "timestamp-micros", "uuid"].map((n) => [n, Logical]),
) as unknown as avro.ForSchemaOptions["logicalTypes"];

/** Two's-complement big-endian bytes of an unscaled decimal. */
function decimalBytes(unscaled: bigint): Buffer {
  const bytes: number[] = [];
  let n = unscaled;
  do {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (!((n === 0n && (bytes[0]! & 0x80) === 0) || (n === -1n && (bytes[0]! & 0x80) !== 0)));
  return Buffer.from(bytes);
}

const everyType = {
  type: "record",
  name: "Payment",
  namespace: "shop",
  fields: [
    { name: "id", type: "long" },
    { name: "small", type: "int" },
    { name: "note", type: ["null", "string"] },
    { name: "price", type: { type: "bytes", logicalType: "decimal", precision: 10, scale: 2 } },
    { name: "day", type: { type: "int", logicalType: "date" } },
    { name: "paidAt", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "seenAt", type: ["null", { type: "long", logicalType: "timestamp-micros" }] },
    { name: "ref", type: { type: "string", logicalType: "uuid" } },
    { name: "status", type: { type: "enum", name: "Status", symbols: ["NEW", "PAID"] } },
    { name: "blob", type: "bytes" },
    { name: "ratio", type: "double" },
    { name: "ok", type: "boolean" },
    {
      name: "address",
      type: { type: "record", name: "Address", fields: [{ name: "city", type: "string" }] },
    },
    { name: "tags", type: { type: "array", items: "string" } },
  ],
};

const rows = [
  {
    id: 4_503_599_627_370_495,
    small: -5,
    note: "first",
    price: decimalBytes(12345n),
    day: 19_723, // 2024-01-01
    paidAt: Date.UTC(2024, 0, 1, 12, 30, 0, 123),
    seenAt: Date.UTC(2024, 0, 1, 12, 30, 0) * 1000 + 123_456,
    ref: "7f1c7a2e-3c1b-4e5a-9a55-0d4c1f2b9e10",
    status: "PAID",
    blob: Buffer.from([0, 1, 2, 255]),
    ratio: 0.25,
    ok: true,
    address: { city: "Oslo" },
    tags: ["a", "b"],
  },
  {
    id: -1,
    small: 0,
    note: null,
    price: decimalBytes(-50n),
    day: -1, // 1969-12-31
    paidAt: 0,
    seenAt: null,
    ref: "00000000-0000-0000-0000-000000000000",
    status: "NEW",
    blob: Buffer.alloc(0),
    ratio: -1.5,
    ok: false,
    address: { city: "Bergen" },
    tags: [],
  },
];

const pipeline = (nested = "", path = "in/*.avro") => `payments:
  source: { path: "${path}" }
${nested ? `  nested: ${nested}\n` : ""}  target: { table: payments }`;

async function query(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const r = await sluice(["query", sql, "--json"], dir);
  expect(r.code, r.stderr).toBe(0);
  return r.json<Record<string, unknown>[]>();
}

async function run(dir: string): Promise<{ code: number; run: RunJson["runs"][number] }> {
  const r = await sluice(["run", "--json"], dir);
  return { code: r.code ?? -1, run: r.json<RunJson>().runs[0]! };
}

describe("Avro container files (format: avro)", () => {
  it("maps every type and logical type faithfully; nulls stay null; records count as rows", async () => {
    for (const codec of ["null", "deflate"]) {
      const dir = makeProject(pipelineYaml(pipeline()), {
        "landing/in/a.avro": await avroFile(everyType, rows, { codec }),
      });
      const { code, run: result } = await run(dir);
      expect(code, JSON.stringify(result)).toBe(0);
      expect(result.rows).toMatchObject({ read: 2, loaded: 2, malformed: 0 });
      const types = await query(
        dir,
        "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = 'payments' AND column_name NOT LIKE '\\_sluice%' ESCAPE '\\' ORDER BY ordinal_position",
      );
      expect(Object.fromEntries(types.map((r) => [r.c, r.t]))).toEqual({
        id: "BIGINT",
        small: "INTEGER",
        note: "VARCHAR",
        price: "DECIMAL(10,2)",
        day: "DATE",
        paid_at: "TIMESTAMP WITH TIME ZONE",
        seen_at: "TIMESTAMP WITH TIME ZONE",
        ref: "UUID",
        status: "VARCHAR",
        blob: "VARCHAR",
        ratio: "DOUBLE",
        ok: "BOOLEAN",
        address: "JSON",
        tags: "JSON",
      });
      const values = await query(
        dir,
        `SELECT id::VARCHAR AS id, small, note, price::VARCHAR AS price, day::VARCHAR AS day,
           strftime(paid_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%g') AS paid,
           strftime(seen_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f') AS seen, ref::VARCHAR AS ref,
           status, blob, ratio, ok, address->>'$.city' AS city, json_array_length(tags) AS n
         FROM payments ORDER BY id DESC`,
      );
      expect(values).toEqual([
        {
          id: "4503599627370495",
          small: -5,
          note: "first",
          price: "123.45",
          day: "2024-01-01",
          paid: "2024-01-01 12:30:00.123",
          seen: "2024-01-01 12:30:00.123456",
          ref: "7f1c7a2e-3c1b-4e5a-9a55-0d4c1f2b9e10",
          status: "PAID",
          blob: Buffer.from([0, 1, 2, 255]).toString("base64"),
          ratio: 0.25,
          ok: true,
          city: "Oslo",
          n: 2,
        },
        {
          id: "-1",
          small: 0,
          note: null,
          price: "-0.50",
          day: "1969-12-31",
          paid: "1970-01-01 00:00:00.000",
          seen: null,
          ref: "00000000-0000-0000-0000-000000000000",
          status: "NEW",
          blob: "",
          ratio: -1.5,
          ok: false,
          city: "Bergen",
          n: 0,
        },
      ]);
    }
  });

  it("reads many blocks and counts every record", async () => {
    const schema = { type: "record", name: "R", fields: [{ name: "n", type: "long" }] };
    const many = Array.from({ length: 5000 }, (_, n) => ({ n }));
    const dir = makeProject(pipelineYaml(pipeline()), {
      "landing/in/a.avro": await avroFile(schema, many, { blockSize: 1024, codec: "deflate" }),
    });
    const { code, run: result } = await run(dir);
    expect(code).toBe(0);
    expect(result.rows).toMatchObject({ read: 5000, loaded: 5000 });
    expect(await query(dir, "SELECT count(DISTINCT n)::INT AS d, sum(n)::BIGINT AS s FROM payments")).toEqual(
      [{ d: 5000, s: (4999 * 5000) / 2 }],
    );
  });

  it("a plain load reads its records in place: several 16 MiB chunks and an empty file load every record once", async () => {
    const schema = {
      type: "record",
      name: "R",
      fields: [
        { name: "n", type: "long" },
        { name: "text", type: "string" },
      ],
    };
    // 24 records of 1 MB: two chunks of decoded CSV, read through one view.
    const wide = Array.from({ length: 24 }, (_, n) => ({ n, text: String(n % 10).repeat(1_000_000) }));
    const dir = makeProject(pipelineYaml(pipeline()), {
      "landing/in/a.avro": await avroFile(schema, wide, { codec: "deflate" }),
      "landing/in/b.avro": await avroFile(schema, []),
    });
    const { code, run: result } = await run(dir);
    expect(code).toBe(0);
    expect(result.rows).toMatchObject({ read: 24, loaded: 24 });
    expect(
      await query(
        dir,
        "SELECT count(*)::INT AS rows, count(DISTINCT n)::INT AS d, sum(n)::BIGINT AS s, min(length(text))::INT AS shortest, max(length(text))::INT AS longest, count(*) FILTER (WHERE text <> repeat((n % 10)::VARCHAR, 1000000))::INT AS wrong FROM payments",
      ),
    ).toEqual([{ rows: 24, d: 24, s: (23 * 24) / 2, shortest: 1_000_000, longest: 1_000_000, wrong: 0 }]);
    // The chunks are read by the publish; the profile reads the rows in the target afterwards.
    const messages = runLogMessages(dir, result.run_id);
    expect(messages.indexOf("published"), messages.join(", ")).toBeGreaterThan(-1);
    expect(messages.indexOf("profiled")).toBeGreaterThan(messages.indexOf("published"));
  });

  it("files written with an older and a newer schema land in one table; a declared type wins over the schema's", async () => {
    const v1 = {
      type: "record",
      name: "Customer",
      fields: [
        { name: "id", type: "int" },
        { name: "name", type: "string" },
      ],
    };
    const v2 = {
      ...v1,
      fields: [...v1.fields, { name: "email", type: ["null", "string"], default: null }],
    };
    const yaml = `payments:
  source: { path: "in/*.avro" }
  columns:
    name: { type: VARCHAR }
    id: { type: BIGINT }
  target: { table: payments }`;
    const dir = makeProject(pipelineYaml(yaml), {
      "landing/in/a.avro": await avroFile(v1, [{ id: 1, name: 'Ann "A", Oslo' }]),
    });
    expect((await run(dir)).code).toBe(0);
    addFile(dir, "landing/in/b.avro", await avroFile(v2, [{ id: 2, name: "", email: "bo@example.com" }]));
    const second = await run(dir);
    expect(second.code, JSON.stringify(second.run)).toBe(0);
    expect(await query(dir, "SELECT id, typeof(id) AS t, name, email FROM payments ORDER BY id")).toEqual([
      { id: 1, t: "BIGINT", name: 'Ann "A", Oslo', email: null },
      { id: 2, t: "BIGINT", name: "", email: "bo@example.com" },
    ]);
  });

  it("nested: tables turns arrays of records into child tables", async () => {
    const schema = {
      type: "record",
      name: "Order",
      fields: [
        { name: "id", type: "int" },
        {
          name: "customer",
          type: { type: "record", name: "Customer", fields: [{ name: "city", type: "string" }] },
        },
        {
          name: "items",
          type: {
            type: "array",
            items: {
              type: "record",
              name: "Item",
              fields: [
                { name: "sku", type: "string" },
                { name: "qty", type: ["null", "int"] },
              ],
            },
          },
        },
      ],
    };
    const orders = [
      {
        id: 1,
        customer: { city: "Oslo" },
        items: [
          { sku: "A-1", qty: 2 },
          { sku: "B-2", qty: null },
        ],
      },
      { id: 2, customer: { city: "Bergen" }, items: [{ sku: "C-3", qty: 5 }] },
    ];
    const dir = makeProject(pipelineYaml(pipeline("{ mode: tables }")), {
      "landing/in/a.avro": await avroFile(schema, orders),
    });
    const { code, run: result } = await run(dir);
    expect(code, JSON.stringify(result)).toBe(0);
    expect(result.rows).toMatchObject({ read: 2, loaded: 2 });
    expect(await query(dir, "SELECT id, customer__city AS city FROM payments ORDER BY id")).toEqual([
      { id: 1, city: "Oslo" },
      { id: 2, city: "Bergen" },
    ]);
    expect(
      await query(
        dir,
        `SELECT p.id, i.sku, i.qty, i._sluice_list_idx::INT AS idx FROM payments__items i
           JOIN payments p ON p._sluice_id = i._sluice_parent_id ORDER BY p.id, idx`,
      ),
    ).toEqual([
      { id: 1, sku: "A-1", qty: 2, idx: 0 },
      { id: 1, sku: "B-2", qty: null, idx: 1 },
      { id: 2, sku: "C-3", qty: 5, idx: 0 },
    ]);
  });

  it("a truncated file, a wrong sync marker or a file that is not Avro fails, named; nothing loads", async () => {
    const good = await avroFile(everyType, rows);
    const badSync = Buffer.from(good);
    badSync[badSync.length - 1] = badSync[badSync.length - 1]! ^ 0xff;
    const cases: [string, Buffer, RegExp][] = [
      ["cut.avro", good.subarray(0, good.length - 20), /in\/cut\.avro: not a readable Avro file: cut short/],
      [
        "sync.avro",
        badSync,
        /in\/sync\.avro: not a readable Avro file: block 1 ends with a wrong sync marker/,
      ],
      [
        "text.avro",
        Buffer.from("id,name\n1,a\n"),
        /in\/text\.avro: not a readable Avro file: no Avro header/,
      ],
      [
        "schemaless.avro",
        Buffer.concat([
          Buffer.from("Obj\x01", "latin1"),
          avro.Type.forSchema({ type: "map", values: "bytes" }).toBuffer({
            "avro.codec": Buffer.from("null"),
          }),
          Buffer.alloc(16),
        ]),
        /in\/schemaless\.avro: not a readable Avro file: its header holds no schema/,
      ],
    ];
    for (const [name, content, message] of cases) {
      const dir = makeProject(pipelineYaml(pipeline()), { [`landing/in/${name}`]: content });
      const { code, run: result } = await run(dir);
      expect(code).not.toBe(0);
      expect(result.files[0]?.status).toBe("failed");
      expect(result.files[0]?.error).toMatch(message);
      expect(result.rows.loaded).toBe(0);
    }
  });

  describe("a reader schema (source.avro_schema)", () => {
    const reader = {
      type: "record",
      name: "Payment",
      namespace: "shop",
      fields: [
        { name: "id", type: "long" },
        { name: "amount", type: "double" },
        { name: "customer", type: "string", aliases: ["client"] },
        { name: "currency", type: "string", default: "EUR" },
        {
          name: "status",
          type: { type: "enum", name: "Status", symbols: ["NEW", "PAID", "OTHER"], default: "OTHER" },
        },
      ],
    };
    // Older: an int id and amount (promoted), the customer as `client` (alias), no currency (default),
    // a field the reader dropped, a status the reader does not know (enum default).
    const older = {
      type: "record",
      name: "Payment",
      namespace: "shop",
      fields: [
        { name: "id", type: "int" },
        { name: "amount", type: "int" },
        { name: "client", type: "string" },
        { name: "legacy", type: "string" },
        { name: "status", type: { type: "enum", name: "Status", symbols: ["NEW", "PAID", "REFUNDED"] } },
      ],
    };
    // Newer: a float amount (promoted), a currency, and a field the reader does not have yet.
    const newer = {
      type: "record",
      name: "Payment",
      namespace: "shop",
      fields: [
        { name: "id", type: "long" },
        { name: "amount", type: "float" },
        { name: "customer", type: "string" },
        { name: "currency", type: "string" },
        { name: "channel", type: "string" },
        { name: "status", type: { type: "enum", name: "Status", symbols: ["NEW", "PAID"] } },
      ],
    };
    const yaml = (nested = "", schema = "schemas/payment.avsc") => `payments:
  source: { path: "in/*.avro", avro_schema: "${schema}" }
${nested ? `  nested: ${nested}\n` : ""}  target: { table: payments }`;

    it.each([
      ["json", ""],
      ["flatten", "{ mode: flatten }"],
    ])(
      "files of older and newer writer schemas land with the reader's columns and defaults (nested: %s)",
      async (_mode, nested) => {
        const dir = makeProject(pipelineYaml(yaml(nested)), {
          "schemas/payment.avsc": JSON.stringify(reader),
          "landing/in/a.avro": await avroFile(older, [
            { id: 1, amount: 7, client: "Ann", legacy: "x", status: "REFUNDED" },
            { id: 2, amount: -3, client: "Bo", legacy: "y", status: "PAID" },
          ]),
          "landing/in/b.avro": await avroFile(newer, [
            {
              id: 4_503_599_627_370_495,
              amount: 2.5,
              customer: "Cy",
              currency: "NOK",
              channel: "web",
              status: "NEW",
            },
          ]),
        });
        const { code, run: result } = await run(dir);
        expect(code, JSON.stringify(result)).toBe(0);
        expect(result.rows.loaded).toBe(3);
        const columns = await query(
          dir,
          "SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = 'payments' AND column_name NOT LIKE '\\_sluice%' ESCAPE '\\' ORDER BY ordinal_position",
        );
        expect(columns).toEqual([
          { name: "id", type: "BIGINT" },
          { name: "amount", type: "DOUBLE" },
          { name: "customer", type: "VARCHAR" },
          { name: "currency", type: "VARCHAR" },
          { name: "status", type: "VARCHAR" },
        ]);
        expect(
          await query(
            dir,
            "SELECT id::VARCHAR AS id, amount, customer, currency, status FROM payments ORDER BY id",
          ),
        ).toEqual([
          { id: "1", amount: 7, customer: "Ann", currency: "EUR", status: "OTHER" },
          { id: "2", amount: -3, customer: "Bo", currency: "EUR", status: "PAID" },
          { id: "4503599627370495", amount: 2.5, customer: "Cy", currency: "NOK", status: "NEW" },
        ]);
      },
    );

    it("a file whose schema does not resolve fails alone, named with avsc's reason; its neighbour publishes", async () => {
      const noCustomer = { ...newer, fields: newer.fields.filter((f) => f.name !== "customer") };
      const dir = makeProject(pipelineYaml(yaml()), {
        "schemas/payment.avsc": JSON.stringify(reader),
        "landing/in/a.avro": await avroFile(older, [
          { id: 1, amount: 7, client: "Ann", legacy: "x", status: "NEW" },
        ]),
        "landing/in/b.avro": await avroFile(noCustomer, [
          { id: 2, amount: 1, currency: "NOK", channel: "web", status: "NEW" },
        ]),
      });
      const { code, run: result } = await run(dir);
      expect(code).not.toBe(0);
      const byPath = Object.fromEntries(result.files.map((f) => [f.path, f]));
      expect(byPath["in/a.avro"]?.status).toBe("loaded");
      expect(byPath["in/b.avro"]?.status).toBe("failed");
      expect(byPath["in/b.avro"]?.error).toMatch(
        /^in\/b\.avro: its schema does not resolve to schemas\/payment\.avsc: .*customer/,
      );
      expect(byPath["in/b.avro"]?.archived_to).toMatch(/^unprocessed\//);
      expect(await query(dir, "SELECT id::VARCHAR AS id, customer FROM payments")).toEqual([
        { id: "1", customer: "Ann" },
      ]);
    });

    it("validate refuses a reader schema outside the project and names a schema that is not valid", async () => {
      // A schema in the project's parent folder: outside it, named directly or through a link.
      const parent = mkdtempSync(join(tmpdir(), "sluice-test-"));
      const schemaFile = addFile(parent, "payment.avsc", JSON.stringify(reader));
      addFile(parent, "project/sluice.yaml", pipelineYaml(yaml("", "../payment.avsc")));
      const refused = await sluice(["validate"], join(parent, "project"));
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        /pipelines\.payments\.source\.avro_schema: \.\.\/payment\.avsc: outside the project/,
      );
      addFile(parent, "linked/sluice.yaml", pipelineYaml(yaml("", "schemas/link.avsc")));
      mkdirSync(join(parent, "linked/schemas"));
      symlinkSync(schemaFile, join(parent, "linked/schemas/link.avsc"));
      const viaLink = await sluice(["validate"], join(parent, "linked"));
      expect(viaLink.code).toBe(2);
      expect(viaLink.stderr).toMatch(/schemas\/link\.avsc: outside the project/);
      const absolute = await sluice(["validate"], makeProject(pipelineYaml(yaml("", "/etc/passwd"))));
      expect(absolute.code).toBe(2);
      expect(absolute.stderr).toMatch(/\/etc\/passwd: outside the project/);
      const noDefault = {
        ...reader,
        fields: [...reader.fields, { name: "bad", type: "int", default: "x" }],
      };
      const invalid = makeProject(pipelineYaml(yaml()), {
        "schemas/payment.avsc": JSON.stringify(noDefault),
      });
      const named = await sluice(["validate"], invalid);
      expect(named.code).toBe(2);
      expect(named.stderr).toMatch(/schemas\/payment\.avsc: not a valid Avro reader schema: .*default/);
    });

    it("a glob that may match other files than .avro needs format: avro; with it every file is read through the schema", async () => {
      const files = {
        "schemas/payment.avsc": JSON.stringify(reader),
        "landing/in/a.dat": await avroFile(older, [
          { id: 1, amount: 7, client: "Ann", legacy: "x", status: "REFUNDED" },
        ]),
      };
      const loose = `payments:
  source: { path: "in/*", avro_schema: "schemas/payment.avsc" }
  target: { table: payments }`;
      const refused = makeProject(pipelineYaml(loose), files);
      for (const command of [["validate"], ["run", "--json"]]) {
        const result = await sluice(command, refused);
        expect(result.code, result.stdout).toBe(2);
        expect(result.stderr).toMatch(
          /pipelines\.payments\.source\.avro_schema: a reader schema applies to Avro files, and "in\/\*" does not name only \.avro files: set format: avro/,
        );
      }
      const dir = makeProject(
        pipelineYaml(loose.replace('path: "in/*"', 'path: "in/*", format: avro')),
        files,
      );
      const { code, run: result } = await run(dir);
      expect(code, JSON.stringify(result)).toBe(0);
      expect(await query(dir, "SELECT id::VARCHAR AS id, customer, currency, status FROM payments")).toEqual([
        { id: "1", customer: "Ann", currency: "EUR", status: "OTHER" },
      ]);
    });
  });
});

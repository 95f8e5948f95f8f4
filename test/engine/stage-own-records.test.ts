import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ColumnConfig } from "../../src/config/schema.js";
import { type StagedFile, stageFile } from "../../src/engine/stage-file.js";
import { batchChunk } from "../../src/streams/batch-chunk.js";
import type { StreamMessage } from "../../src/streams/stream-source.js";

// A stream batch's chunk read in one pass (stageOwnRecords) must stage exactly what the file way stages
// (columns, types, values, line numbers, malformed rows), and fall back to the file way wherever it
// cannot: each case below stages the same chunk both ways and compares everything.

let instance: DuckDBInstance;
let con: Awaited<ReturnType<DuckDBInstance["connect"]>>;
let dir: string;
let n = 0;

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:", { threads: "1" });
  con = await instance.connect();
  dir = mkdtempSync(join(tmpdir(), "sluice-own-records-"));
});
afterAll(() => {
  con.closeSync();
  instance.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

const message = (position: number, data: string | Uint8Array): StreamMessage => ({
  position: String(position),
  id: `m${position}`,
  subject: "events.a",
  data: typeof data === "string" ? Buffer.from(data) : data,
  timestamp: new Date(0),
  redelivered: false,
});

interface Staging {
  readonly staged: StagedFile;
  readonly rows: unknown[];
  readonly malformed: unknown[];
  readonly types: unknown[];
}

/** Stages the payloads' chunk one way; what the stage and malformed tables hold. */
async function stage(
  payloads: readonly (string | Uint8Array)[],
  onePass: boolean,
  columns: Record<string, ColumnConfig> = {},
): Promise<Staging> {
  const chunk = batchChunk(payloads.map((p, i) => message(i + 1, p)));
  const id = n++;
  const localPath = join(dir, `chunk-${id}.jsonl`);
  writeFileSync(localPath, chunk.text);
  let path = localPath;
  if (chunk.records.goodText !== undefined) {
    path = join(dir, `chunk-${id}.records.jsonl`);
    writeFileSync(path, chunk.records.goodText);
  }
  const prefix = `t${id}`;
  const staged = await stageFile(con, {
    localPath,
    displayPath: "stream:events/1",
    format: "jsonl",
    source: {
      path: "stream:events/1",
      format: "jsonl",
      on_malformed: "quarantine",
      options: { max_line_size: Math.max(2_000_000, chunk.longestLine + 1) },
    },
    columns,
    naming: "snake_case",
    tablePrefix: prefix,
    ownChunk: true,
    ...(onePass ? { ownRecords: { ...chunk.records, path, longestLine: chunk.longestLine } } : {}),
  });
  const read = async (sql: string) => (await con.runAndReadAll(sql)).getRowObjectsJson();
  return {
    staged,
    rows: await read(`SELECT * FROM "${staged.table}" ORDER BY _sluice_line`),
    malformed: await read(`SELECT * FROM "${staged.malformedTable}" ORDER BY line, error_type`),
    types: await read(
      `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = '${staged.table}' ORDER BY column_index`,
    ),
  };
}

/** Stages the payloads both ways; expects the same outcome, and says whether the one-pass read took it. */
async function sameBothWays(
  payloads: readonly (string | Uint8Array)[],
  columns: Record<string, ColumnConfig> = {},
): Promise<{ onePass: boolean; staging: Staging }> {
  const careful = await stage(payloads, false, columns);
  const fast = await stage(payloads, true, columns);
  expect(careful.staged.readAsRecords).toBeUndefined();
  expect(fast.types).toEqual(careful.types);
  expect(fast.rows).toEqual(careful.rows);
  expect(fast.malformed).toEqual(careful.malformed);
  const { readAsRecords: _, prefix: _p, table: _t, malformedTable: _m, ...fastRest } = fast.staged;
  const { prefix: _p2, table: _t2, malformedTable: _m2, ...carefulRest } = careful.staged;
  expect(fastRest).toEqual(carefulRest);
  return { onePass: fast.staged.readAsRecords === true, staging: fast };
}

const bench = (id: number) =>
  JSON.stringify({
    id,
    customer: `customer-${id % 5000}`,
    amount: (id % 997) * 1.25,
    status: "NEW",
    note: "x".repeat(10),
  });

describe("a stream chunk read in one pass", () => {
  it("stages flat records as the file way does: types, values, lines", async () => {
    const payloads = Array.from({ length: 50 }, (_, i) => bench(i + 1));
    const { onePass, staging } = await sameBothWays(payloads);
    expect(onePass).toBe(true);
    expect(staging.types.map((t) => (t as { data_type: string }).data_type)).toEqual([
      "BIGINT",
      "VARCHAR",
      "DOUBLE",
      "VARCHAR",
      "VARCHAR",
      "BIGINT",
    ]);
  });

  it("keys missing, null or all null; booleans; escapes; keys in first-seen order and named as the file way names them", async () => {
    const { onePass } = await sameBothWays([
      '{"b":1,"customerName":"x","flag":true,"none":null}',
      '{"c":"é\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\n","b":2,"flag":false}',
      '{ "b" : null , "d":"only here"}',
      "{}",
      '[{"b":3},{"c":"in an array"}]',
    ]);
    expect(onePass).toBe(true);
  });

  it("numbers typed as DuckDB types them: 1.0 and 1e2 are doubles, mixed signs are text", async () => {
    const { onePass, staging } = await sameBothWays([
      '{"i":1,"d":1.0,"e":5,"neg":-1,"mixed":-3,"big":9007199254740993}',
      '{"i":2,"d":2,"e":1e2,"neg":-2,"mixed":4,"big":1}',
    ]);
    expect(onePass).toBe(true);
    expect(staging.types.map((t) => (t as { data_type: string }).data_type)).toEqual([
      "BIGINT",
      "DOUBLE",
      "DOUBLE",
      "BIGINT",
      "VARCHAR",
      "BIGINT",
      "BIGINT",
    ]);
  });

  it("puts poison lines in the malformed rows at their lines, and numbers the good ones around them", async () => {
    const { onePass, staging } = await sameBothWays([
      "not json",
      bench(1),
      "42",
      '[{"id":2},{"id":3}]',
      new Uint8Array([0xff, 0xfe]),
      bench(4),
      '[{"id":5}, 6]',
    ]);
    expect(onePass).toBe(true);
    expect((staging.rows as { _sluice_line: string }[]).map((r) => Number(r._sluice_line))).toEqual([
      2, 4, 5, 7,
    ]);
    expect(staging.malformed).toHaveLength(4);
  });

  it("takes keys named like its own work columns", async () => {
    const { onePass } = await sameBothWays(['{"o":1,"c1":"a","line":"l","ordinality":true,"r":2}']);
    expect(onePass).toBe(true);
  });

  it("declared types: cast as the file way casts; a value that does not fit goes the file way", async () => {
    const columns = { amount: { type: "DECIMAL(10,2)" }, id: { type: "VARCHAR" } } as Record<
      string,
      ColumnConfig
    >;
    expect((await sameBothWays([bench(1), bench(2)], columns)).onePass).toBe(true);
    const misfit = await sameBothWays([bench(1), '{"id":2,"amount":"lots"}'], {
      amount: { type: "DOUBLE" },
    } as Record<string, ColumnConfig>);
    expect(misfit.onePass).toBe(false);
    expect(misfit.staging.malformed).toHaveLength(1);
    // An integer past BIGINT, typed BIGINT by its structure: quarantined with its record, the file way.
    const huge = await sameBothWays(['{"id":18446744073709551615}', '{"id":1}']);
    expect(huge.onePass).toBe(false);
    expect((huge.staging.malformed[0] as { raw: string }).raw).toContain("18446744073709551615");
  });

  it("falls back to the file way where DuckDB reads a record otherwise than JavaScript", async () => {
    // JSON.parse takes a lone surrogate escape; DuckDB refuses the line (the file way quarantines it).
    const surrogate = await sameBothWays([bench(1), '{"id":2,"note":"\\ud800"}', bench(3)]);
    expect(surrogate.onePass).toBe(false);
    expect(surrogate.staging.rows).toHaveLength(2);
    expect(surrogate.staging.malformed).toMatchObject([{ line: "2", error_type: "INVALID JSON" }]);
    // A duplicate key: JavaScript keeps the last value, DuckDB's reader refuses the record.
    expect((await sameBothWays(['{"id":1,"id":"one"}', bench(2)])).onePass).toBe(false);
    // Keys differing only in case are one column to the reader.
    expect((await sameBothWays(['{"a":1,"A":2}'])).onePass).toBe(false);
  });

  it("leaves nested values, two kinds in one key, and array-index keys to the file way", async () => {
    expect((await sameBothWays(['{"id":1,"address":{"city":"x"}}'])).onePass).toBe(false);
    expect((await sameBothWays(['{"id":1,"tags":["a"]}'])).onePass).toBe(false);
    expect((await sameBothWays(['{"id":1}', '{"id":"one"}'])).onePass).toBe(false);
    expect((await sameBothWays(['{"b":1,"10":2}'])).onePass).toBe(false);
    // Poison only: no record to read.
    expect((await sameBothWays(["nope"])).onePass).toBe(false);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FileSourceConfig, pipelineSchema } from "../../src/config/schema.js";
import { sampleColumns } from "../../src/engine/sample-columns.js";
import { stageFile } from "../../src/engine/stage-file.js";

// `sluice validate` lists a sample file's columns; for a messy CSV they must be the ones a run loads
// (the same layout detection and header repair), not what DuckDB's sniffer alone reads.

let dir: string;
let instance: DuckDBInstance;
let con: DuckDBConnection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sluice-sample-columns-"));
  instance = await DuckDBInstance.create(":memory:");
  con = await instance.connect();
});

afterAll(() => {
  con?.closeSync();
  instance?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

const rows = Array.from(
  { length: 30 },
  (_, i) => `${i + 1},name ${i},${i * 1.5},2025-01-${String((i % 28) + 1).padStart(2, "0")}`,
);

describe("sampleColumns of a messy CSV", () => {
  it.each([
    [
      "preamble",
      `Export of orders\nGenerated 2025-06-01 by ERP\n\nOrder Id,Name,Amount,Day\n${rows.join("\n")}\n`,
    ],
    ["other-delimiter", `Order Id;Name;Amount;Day\n${rows.join("\n")}\n`],
    ["footer", `Order Id,Name,Amount,Day\n${rows.join("\n")}\nTotal,,999,\n`],
  ])("%s: the columns a run stages", async (name, text) => {
    const path = join(dir, `${name}.csv`);
    writeFileSync(path, text);
    const pipeline = pipelineSchema.parse({ source: { path: "in/*.csv" }, target: { table: "t" } });
    const sampled = await sampleColumns(con, path, pipeline);
    const staged = await stageFile(con, {
      localPath: path,
      displayPath: `in/${name}.csv`,
      format: "csv",
      source: pipeline.source as FileSourceConfig,
      columns: {},
      naming: pipeline.naming,
      tablePrefix: `s_${name.replaceAll("-", "_")}`,
      workDir: join(dir, "work"),
    });
    expect(sampled?.map((c) => c.name)).toEqual(["order_id", "name", "amount", "day"]);
    expect(sampled?.map((c) => c.name)).toEqual(staged.columns.map((c) => c.name));
    expect(sampled?.map((c) => c.sourceName)).toEqual(["Order Id", "Name", "Amount", "Day"]);
  });
});

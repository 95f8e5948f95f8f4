import { describe, expect, it } from "vitest";
import type { PipelineConfig } from "../../src/config/schema.js";
import {
  declaredColumnProblems,
  keyColumnProblems,
  unmaskableColumnError,
} from "../../src/plan/column-references.js";

const pipeline = (
  columns: PipelineConfig["columns"],
  extra: Partial<PipelineConfig> = {},
): Pick<PipelineConfig, "source" | "naming" | "columns" | "derive"> => ({
  source: { path: "in/*.csv", on_malformed: "quarantine" },
  naming: "snake_case",
  columns,
  derive: {},
  ...extra,
});
const header = (...names: [string, string][]) => names.map(([name, sourceName]) => ({ name, sourceName }));

describe("declared columns against the data's columns", () => {
  const data = header(["id", "id"], ["e_mail", "E-Mail"], ["ssn", "SSN"]);

  it("a key by the source's name or the normalized name finds its column", () => {
    for (const columns of [
      { "E-Mail": { mask: "email" as const }, SSN: { mask: "redact" as const } } as PipelineConfig["columns"],
      { e_mail: { mask: "email" as const }, ssn: { mask: "redact" as const } },
    ]) {
      expect(declaredColumnProblems(pipeline(columns), data, "in/a.csv")).toEqual([]);
    }
  });

  it("a mask on a column the data lacks cannot be applied: a mask problem, with the nearest column", () => {
    const problems = declaredColumnProblems(pipeline({ email: { mask: "email" } }), data, "in/a.csv");
    expect(problems).toEqual([
      {
        path: "columns.email.mask",
        message:
          "mask email cannot be applied: no column email in in/a.csv (its columns: id, e_mail, ssn); did you mean `e_mail`?",
        mask: true,
      },
    ]);
  });

  it("naming: keep matches exactly: ssn against a header SSN is a mask that cannot be applied", () => {
    const keep = { ...pipeline({ ssn: { mask: "redact" } }), naming: "keep" as const };
    const problems = declaredColumnProblems(keep, header(["id", "id"], ["SSN", "SSN"]), "in/a.csv");
    expect(problems).toMatchObject([{ path: "columns.ssn.mask", mask: true }]);
    expect(problems[0]!.message).toContain("did you mean `SSN`?");
  });

  it("a type on a missing column is a problem, not a mask problem", () => {
    expect(declaredColumnProblems(pipeline({ amount: { type: "int" } }), data, "in/a.csv")).toMatchObject([
      { path: "columns.amount", mask: false },
    ]);
  });

  it("a masked key several columns could mean (a repeated header name) is refused", () => {
    const repeated = header(["amount", "Amount"], ["amount_2", "amount"]);
    expect(declaredColumnProblems(pipeline({ amount: { mask: "null" } }), repeated, "in/a.csv")).toEqual([
      {
        path: "columns.amount.mask",
        message:
          'in/a.csv has several columns this key could mean (amount from "Amount", amount_2 from "amount"); declare the one meant by its name in the rows (amount or amount_2)',
        mask: true,
      },
    ]);
    expect(declaredColumnProblems(pipeline({ amount_2: { mask: "null" } }), repeated, "in/a.csv")).toEqual(
      [],
    );
  });

  it("a mask on a derived column cannot be applied, with or without data", () => {
    const derived = pipeline({ year: { mask: "hash" } }, { derive: { year: "1" } });
    for (const columns of [undefined, [...data, { name: "year", derived: true }]]) {
      expect(declaredColumnProblems(derived, columns, "in/a.csv")).toMatchObject([
        { path: "columns.year.mask", mask: true },
      ]);
    }
    expect(declaredColumnProblems(pipeline({ email: { mask: "email" } }), undefined, "")).toEqual([]);
  });

  it("a file that cannot take a mask gets one error naming the file, the key and what it has", () => {
    const error = unmaskableColumnError(
      pipeline({ "E-Mail": { mask: "email" } }),
      header(["id", "id"], ["email", "email"]),
      "in/old.csv",
    );
    expect(error?.message).toBe(
      "in/old.csv: columns.E-Mail.mask: mask email cannot be applied: no column e_mail in in/old.csv (its columns: id, email); did you mean `email`? The file stays in the landing zone",
    );
    // A missing column without a mask does not fail the file.
    expect(unmaskableColumnError(pipeline({ amount: { type: "int" } }), data, "in/a.csv")).toBeUndefined();
  });
});

describe("target keys, partitions and the cursor against the data's columns", () => {
  const data = [{ name: "id" }, { name: "updated_at" }, { name: "year", derived: true }];
  const target = (t: Partial<PipelineConfig["target"]>) => ({ table: "t", mode: "merge" as const, ...t });

  it("names each unknown column by its key path, with the nearest column", () => {
    const problems = keyColumnProblems(
      {
        target: target({
          keys: ["idd"],
          partition_by: ["year"],
          lake: {
            table: "t",
            format: "delta",
            partition_by: ["yr"],
            compression: "zstd",
            target_file_size: "128MB",
            row_group_size: 1,
          },
        }),
        incremental: { cursor: "updated" },
      },
      data,
    );
    expect(problems.map((p) => p.path)).toEqual([
      "target.keys[0]",
      "target.lake.partition_by[0]",
      "incremental.cursor",
    ]);
    expect(problems[0]!.message).toBe(
      'unknown column "idd" (columns: id, updated_at, year); did you mean `id`?',
    );
  });

  it("the cursor must be a source column; Debezium change events' keys are not top-level columns", () => {
    expect(keyColumnProblems({ target: target({}), incremental: { cursor: "year" } }, data)).toMatchObject([
      { path: "incremental.cursor" },
    ]);
    expect(
      keyColumnProblems(
        { target: target({ mode: "cdc", keys: ["order_id"] }), incremental: undefined },
        data,
      ),
    ).toEqual([]);
  });

  it("flat change events in Kafka Connect's envelope carry their fields inside payload: not checked", () => {
    const flat = target({
      mode: "cdc",
      keys: ["id"],
      cdc: { format: "flat", op_column: "__op", soft_delete: false },
    });
    const enveloped = [{ name: "schema" }, { name: "payload" }];
    expect(keyColumnProblems({ target: flat, incremental: undefined }, enveloped)).toEqual([]);
    expect(keyColumnProblems({ target: flat, incremental: undefined }, [{ name: "op" }])).toMatchObject([
      { path: "target.keys[0]" },
    ]);
  });
});

import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { compileDedupe } from "../../src/plan/dedupe.js";
import { compileMaskedSelect, maskExpression } from "../../src/plan/masking.js";
import {
  type DistinctMethod,
  distinctMethod,
  PROFILE_VALUE_CHARS,
  profileSql,
  readProfile,
  statsDistinctGuess,
  thinDistinctSamples,
} from "../../src/plan/profile.js";
import { quoteLiteral } from "../../src/plan/sql-text.js";
import { openStageDb, type StageDb } from "./stage-db.js";

let db: StageDb;

beforeAll(async () => {
  db = await openStageDb();
});

afterAll(() => db.close());

const rows = (sql: string) => db.rows(sql);
const describeTable = (table: string) => db.describeTable(table);
const stage = (columns: string, values: readonly string[]) => db.stage(columns, values);

describe("dedupe on DuckDB", () => {
  async function dedupe(keep: "first" | "last" | "none", orderBy?: string): Promise<unknown[]> {
    const t = await stage("id, v, ts", [
      "CAST(1 AS INTEGER), CAST('a' AS VARCHAR), CAST(3 AS INTEGER)",
      "1, 'b', 1",
      "1, 'c', 3",
      "2, 'd', NULL",
      "2, 'e', 1",
      "3, 'f', 1",
      "NULL, 'g', 1",
      "NULL, 'h', 2",
    ]);
    const plan = compileDedupe({ keys: ["id"], keep, ...(orderBy ? { order_by: orderBy } : {}) }, t, {
      outTable: `${t}_d`,
    });
    for (const sql of plan.statements) await db.run(sql);
    const kept = (await rows(`SELECT v FROM "${t}_d" ORDER BY _sluice_row`)).map((r) => r.v);
    const counts = (await rows(plan.countSql))[0]!;
    expect(Number(counts.kept) + Number(counts.duplicates)).toBe(8);
    expect(Number(counts.kept)).toBe(kept.length);
    return kept;
  }

  test("keep last by order_by; NULL order values lose; ties go to the later row", async () => {
    expect(await dedupe("last", "ts")).toEqual(["c", "e", "f", "h"]);
  });

  test("keep first by order_by; ties go to the earlier row", async () => {
    expect(await dedupe("first", "ts")).toEqual(["b", "e", "f", "g"]);
  });

  test("keep first/last default to batch order", async () => {
    expect(await dedupe("first")).toEqual(["a", "d", "f", "g"]);
    expect(await dedupe("last")).toEqual(["c", "e", "f", "h"]);
  });

  test("keep none drops every row of a duplicated key", async () => {
    expect(await dedupe("none")).toEqual(["f"]);
  });

  test("where restricts the input (e.g. rows that passed the checks)", async () => {
    const t = await stage("id, ok", ["CAST(1 AS INTEGER), TRUE", "1, FALSE", "2, TRUE"]);
    const plan = compileDedupe({ keys: ["id"], keep: "none" }, t, {
      outTable: `${t}_d`,
      where: "ok",
      exclude: ["ok"],
    });
    for (const sql of plan.statements) await db.run(sql);
    expect(await rows(`SELECT id, _sluice_row FROM "${t}_d" ORDER BY id`)).toEqual([
      { id: 1, _sluice_row: "1" },
      { id: 2, _sluice_row: "3" },
    ]);
    expect((await describeTable(`${t}_d`)).map((c) => c.name)).not.toContain("ok");
    expect(await rows(plan.countSql)).toEqual([{ kept: "2", duplicates: "0" }]);
  });

  test("without duplicates the kept view skips the anti-join and holds the same rows", async () => {
    const t = await stage("id, ok", ["CAST(1 AS INTEGER), TRUE", "2, FALSE", "3, TRUE", "NULL, TRUE"]);
    const plan = compileDedupe({ keys: ["id"], keep: "last" }, t, {
      outTable: `${t}_d`,
      where: "ok",
      exclude: ["ok"],
    });
    await db.run(plan.statements[0]!);
    expect(await rows(plan.countSql)).toEqual([{ kept: "3", duplicates: "0" }]);
    const read = () => rows(`SELECT id, _sluice_row FROM "${t}_d" ORDER BY _sluice_row`);
    await db.run(plan.statements[1]!);
    const general = await read();
    await db.run(plan.keptWithoutDropsSql);
    expect(await read()).toEqual(general);
    expect(general.map((r) => r.id)).toEqual([1, 3, null]);
    expect(plan.keptWithoutDropsSql).not.toContain("_dropped");
    expect(plan.keptWithoutDropsSql).toContain("WHERE (ok)");
  });
});

describe("masks on DuckDB", () => {
  test("each mask's output", async () => {
    const t = await stage("v", [
      "CAST('john.doe@example.com' AS VARCHAR)",
      "'not an email'",
      "'123-45-6789'",
      "'4111 1111 1111 1234'",
      "'1234'",
      "'ab'",
      "NULL",
      "'ö@dömain.de'",
    ]);
    const salt = quoteLiteral("pepper");
    const sql = ["hash", "redact", "email", "last4", "null"]
      .map((m) => `${maskExpression(m as "hash", '"v"', salt)} AS "${m}"`)
      .join(", ");
    const out = await rows(`SELECT v, ${sql} FROM ${t} ORDER BY _sluice_row`);
    const sha = (s: string) => createHash("sha256").update(`pepper${s}`).digest("hex");
    expect(out.map((r) => r.hash)).toEqual(out.map((r) => (r.v === null ? null : sha(String(r.v)))));
    expect(out.map((r) => r.redact)).toEqual([...Array(6).fill("[REDACTED]"), null, "[REDACTED]"]);
    expect(out.map((r) => r.email)).toEqual([
      "j***@example.com",
      "[REDACTED]",
      "[REDACTED]",
      "[REDACTED]",
      "[REDACTED]",
      "[REDACTED]",
      null,
      "ö***@dömain.de",
    ]);
    expect(out.map((r) => r.last4)).toEqual([
      "XXXXXXXXXXXXXXXX.com",
      "XXX XX Xmail",
      "XXX-XX-6789",
      "XXXX XXXX XXXX 1234",
      "XXXX",
      "XX",
      null,
      "XXXXXXXn.de",
    ]);
    expect(out.map((r) => r.null)).toEqual(Array(8).fill(null));
  });

  test("compileMaskedSelect masks, nulls and drops columns; hash works on numbers and joins stay possible", async () => {
    const t = await stage("id, email, ssn, note", [
      "CAST(7 AS BIGINT), CAST('ann@x.io' AS VARCHAR), CAST('111-22-3333' AS VARCHAR), CAST('hi' AS VARCHAR)",
    ]);
    const columns = await describeTable(t);
    const list = compileMaskedSelect(
      columns,
      { id: { mask: "hash" }, email: { mask: "email" }, ssn: { mask: "last4" }, note: { mask: "drop" } },
      quoteLiteral("s"),
    );
    await db.run(`CREATE TABLE ${t}_m AS SELECT ${list} FROM ${t}`);
    const out = await rows(`SELECT * FROM ${t}_m`);
    expect(out).toEqual([
      {
        id: createHash("sha256").update("s7").digest("hex"),
        email: "a***@x.io",
        ssn: "XXX-XX-3333",
        _sluice_row: "1",
        _sluice_line: "2",
        _sluice_file: "in/batch.csv",
      },
    ]);
    const types = await describeTable(`${t}_m`);
    expect(types.find((c) => c.name === "id")?.type).toBe("VARCHAR");
  });

  test("the salt can come from a DuckDB variable", async () => {
    await db.run(`SET VARIABLE sluice_mask_salt = 'pepper'`);
    const out = await rows(`SELECT ${maskExpression("hash", "'x'", "getvariable('sluice_mask_salt')")} AS h`);
    expect(out).toEqual([{ h: createHash("sha256").update("pepperx").digest("hex") }]);
  });

  test("null mask keeps the column type", async () => {
    const t = await stage("amount", ["CAST(1.5 AS DECIMAL(12,2))"]);
    const list = compileMaskedSelect(await describeTable(t), { amount: { mask: "null" } }, "''");
    await db.run(`CREATE TABLE ${t}_m AS SELECT ${list} FROM ${t}`);
    expect((await describeTable(`${t}_m`))[0]).toEqual({ name: "amount", type: "DECIMAL(12,2)" });
  });
});

describe("profile on DuckDB", () => {
  test("profileSql keeps a prefix of a long min/max, not the whole value", async () => {
    const t = await stage("blob", ["repeat('z', 100000)", "repeat('a', 5000)"]);
    const columns = await describeTable(t);
    const profile = readProfile(columns, (await rows(profileSql(t, columns)))[0]!);
    expect(profile.columns.blob).toMatchObject({
      min: "a".repeat(PROFILE_VALUE_CHARS),
      max: "z".repeat(PROFILE_VALUE_CHARS),
      min_length: 5000,
      max_length: 100000,
    });
  });

  test("profileSql computes the per-column profile in one query", async () => {
    const t = await stage("amount, name, day", [
      "CAST(1 AS INTEGER), CAST('ab' AS VARCHAR), DATE '2024-01-02'",
      "3, 'abcd', DATE '2024-01-01'",
      "NULL, 'ab', NULL",
      "5, NULL, DATE '2024-01-03'",
    ]);
    const columns = await describeTable(t);
    const profile = readProfile(columns, (await rows(profileSql(t, columns)))[0]!);
    const masked = readProfile(
      columns,
      (
        await rows(
          profileSql(t, columns, { maskedColumns: ["name"], distinct: [{ kind: "sample", bits: 1 }] }),
        )
      )[0]!,
    );
    expect(masked.columns.name).toMatchObject({
      nulls: 1,
      min: null,
      max: null,
      min_length: 2,
      max_length: 4,
    });
    expect(profile).toEqual({
      rows: 4,
      columns: {
        amount: {
          nulls: 1,
          distinct: 3,
          min: "1",
          max: "5",
          mean: 3,
          stddev: 2,
          min_length: null,
          max_length: null,
        },
        name: {
          nulls: 1,
          distinct: 2,
          min: "ab",
          max: "abcd",
          mean: null,
          stddev: null,
          min_length: 2,
          max_length: 4,
        },
        day: {
          nulls: 1,
          distinct: 3,
          min: "2024-01-01",
          max: "2024-01-03",
          mean: null,
          stddev: null,
          min_length: null,
          max_length: null,
        },
      },
    });
  });

  test("distinct counts: exact for few values, a hash sample within a few percent for many", async () => {
    // 200,000 rows: a unique id, 50,000 customers, 7 statuses, a column half NULL with 30,000 values.
    const t = "profile_many";
    await db.run(
      `CREATE TABLE ${t} AS SELECT i AS id, 'cust_' || (i * 7919 % 50000) AS customer, ['A','B','C','D','E','F','G'][i % 7 + 1] AS status, CASE WHEN i % 2 = 0 THEN i % 60000 END AS half FROM range(200000) r(i)`,
    );
    const columns = await describeTable(t);
    const stats = (
      await rows(
        `SELECT ${columns.map((c) => `stats("${c.name}") AS "${c.name}"`).join(", ")} FROM ${t} LIMIT 1`,
      )
    )[0]!;
    const distinct: DistinctMethod[] = columns.map((c) => distinctMethod(statsDistinctGuess(stats[c.name])));
    // DuckDB's storage statistics give the guesses that choose the method.
    expect(distinct.map((m) => m.kind)).toEqual(["sample", "sample", "exact", "sample"]);
    const row = (await rows(profileSql(t, columns, { distinct })))[0]!;
    expect(thinDistinctSamples(columns, row, distinct)).toEqual([]);
    const profile = readProfile(columns, row, distinct);
    const within = (estimate: number | undefined, exact: number) =>
      expect(Math.abs(estimate! - exact) / exact).toBeLessThan(0.05);
    within(profile.columns.id?.distinct, 200000);
    within(profile.columns.customer?.distinct, 50000);
    within(profile.columns.half?.distinct, 30000);
    expect(profile.columns.status?.distinct).toBe(7);
    expect(profile.columns.half?.nulls).toBe(100000);

    // A guess far too high leaves a thin sample: flagged for an exact recount.
    const tooHigh: DistinctMethod[] = columns.map(() => ({ kind: "sample", bits: 12 }));
    const thin = (await rows(profileSql(t, columns, { distinct: tooHigh })))[0]!;
    expect(thinDistinctSamples(columns, thin, tooHigh)).toEqual(["id", "customer", "status", "half"]);
  });
});

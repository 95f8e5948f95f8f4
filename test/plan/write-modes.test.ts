import { describe, expect, it } from "vitest";
import { cdcFlattenSql, payloadStructure } from "../../src/plan/cdc-sql.js";
import { duckdbDialect } from "../../src/plan/duckdb-dialect.js";
import { incrementalFilter } from "../../src/plan/incremental-sql.js";
import { postgresDialect } from "../../src/plan/postgres-dialect.js";
import { planSchema } from "../../src/plan/schema-plan.js";
import { typeChange } from "../../src/plan/type-evolution.js";
import {
  foldCounts,
  postgresMergeBeside,
  stepsBeforeCopy,
  undoSteps,
  type WriteRequest,
  writeSteps,
} from "../../src/plan/write-modes.js";
import { parsePostgresUrl, scrub } from "../../src/warehouse/postgres-url.js";

const base: WriteRequest = {
  dialect: postgresDialect,
  mode: "merge",
  target: '"public"."orders"',
  stage: "sluice_stage",
  undo: '"sluice"."undo__public__orders"',
  runId: "r2",
  loadedAt: "2026-01-01T00:00:00.000Z",
  columns: ["id", "name", "_sluice_run_id"],
  targetColumns: ["id", "name", "_sluice_run_id", "old"],
  keys: ["id"],
  partitionBy: [],
};

describe("write-mode SQL", () => {
  it("merge with a unique index on the keys is one statement: before-images, ON CONFLICT, counts and sums", () => {
    const steps = writeSteps({ ...base, uniqueKeys: true, sumColumns: ["name", "missing"] });
    expect(steps).toHaveLength(1);
    const [upsert] = steps;
    expect(upsert!.returns).toEqual({ counts: ["updated", "upserted"], reconciles: true });
    expect(upsert!.sql).toMatch(
      /^WITH old AS \(SELECT t\."id", t\."name", t\."_sluice_run_id", t\."old", \(t\."name" IS DISTINCT FROM s\."name"\) AS _sluice_changed FROM "public"\."orders" AS t JOIN sluice_stage AS s ON t\."id" = s\."id"\)/,
    );
    expect(upsert!.sql).toContain(
      `saved AS (INSERT INTO "sluice"."undo__public__orders" (_sluice_undo_run, "id", "name", "_sluice_run_id", "old") SELECT 'r2', "id", "name", "_sluice_run_id", "old" FROM old WHERE _sluice_changed RETURNING 1)`,
    );
    expect(upsert!.sql).toContain(
      `ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "_sluice_run_id" = EXCLUDED."_sluice_run_id" WHERE (t."name" IS DISTINCT FROM EXCLUDED."name") RETURNING "name")`,
    );
    // Target side: rows written plus matched rows left alone; a sum column the batch lacks is not summed.
    expect(upsert!.sql).toContain("w.n + u.n AS target_rows");
    expect(upsert!.sql).toContain("CAST(coalesce(w.s0, 0) + coalesce(u.s0, 0) AS DOUBLE PRECISION) AS s0");
    expect(upsert!.sql).not.toContain("s1");
    expect(upsert!.sql).toContain(`FROM old WHERE NOT _sluice_changed) AS u`);
  });

  it("a copied append runs nothing before its copy; a copied replace saves and deletes every row first", () => {
    expect(stepsBeforeCopy({ ...base, mode: "append" })).toEqual([]);
    const replace = stepsBeforeCopy({ ...base, mode: "replace" });
    expect(replace.map((s) => s.counts)).toEqual(["saved", "deleted"]);
    expect(replace[0]!.sql).toMatch(/^INSERT INTO "sluice"\."undo__public__orders" \(_sluice_undo_run, /);
    expect(replace[1]!.sql).toBe('DELETE FROM "public"."orders"');
    expect(replace.some((s) => s.sql.includes("sluice_stage"))).toBe(false);
    expect(() => stepsBeforeCopy(base)).toThrow(/merge/);
  });

  it("merge beside a second connection: the upsert alone, the before-images alone, numbers folded", () => {
    const split = postgresMergeBeside({ ...base, uniqueKeys: true, sumColumns: ["name"] });
    expect(split.write).toMatch(/^WITH written AS \(INSERT INTO "public"\."orders" AS t /);
    expect(split.write).toContain(`WHERE (t."name" IS DISTINCT FROM EXCLUDED."name") RETURNING "name")`);
    expect(split.write).not.toContain("undo");
    expect(split.beforeImages).toMatch(
      /^WITH old AS \(SELECT t\."id", t\."name", t\."_sluice_run_id", t\."old", /,
    );
    expect(split.beforeImages).toContain(`saved AS (INSERT INTO "sluice"."undo__public__orders"`);
    expect(split.beforeImages).not.toContain("ON CONFLICT");
    expect(split.beforeImages).toContain("u.n AS unchanged");
    // The capture's own transaction probes the target's unique index instead of hashing the target.
    expect(split.captureSettings).toBe(
      "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
    );
    // Written rows plus matched rows left alone make the target side, as in the one-statement form.
    expect(split.combine({ upserted: "10", s0: 5.5 }, { updated: 3, unchanged: "4", s0: 2 })).toEqual({
      updated: 3,
      upserted: 10,
      target_rows: 14,
      s0: 7.5,
    });
    expect(split.combine({ upserted: 2 }, { updated: 0, unchanged: 0, s0: null })).toMatchObject({ s0: 0 });
  });

  it("merge saves changed rows, then one MERGE updating only NULL-safe changes", () => {
    const [save, merge] = writeSteps(base);
    expect(save!.sql).toContain(
      `INSERT INTO "sluice"."undo__public__orders" (_sluice_undo_run, "id", "name", "_sluice_run_id", "old")`,
    );
    expect(save!.sql).toContain(`t."name" IS DISTINCT FROM s."name"`);
    expect(merge!.sql).toMatch(
      /^MERGE INTO "public"\."orders" AS t USING sluice_stage AS s ON \(t\."id" = s\."id"\) WHEN MATCHED AND/,
    );
    expect(merge!.sql).not.toContain(`"_sluice_run_id" IS DISTINCT`);
    expect(
      foldCounts("merge", [
        ["updated", 3],
        ["upserted", 10],
      ]),
    ).toEqual({ inserted: 7, updated: 3, deleted: 0, saved: 3 });
  });

  it("DuckDB merge classifies once with change flags, then updates only the columns flagged in changed rows", () => {
    const steps = writeSteps({
      ...base,
      dialect: duckdbDialect,
      target: '"orders"',
      columns: ["id", "name", "qty", "_sluice_run_id"],
    });
    const classify = steps.find((s) => s.sql.startsWith("CREATE TEMP TABLE"))!;
    expect(classify.sql).toContain(
      `CAST(CASE WHEN t."name" IS DISTINCT FROM s."name" THEN 1 ELSE 0 END + CASE WHEN t."qty" IS DISTINCT FROM s."qty" THEN 2 ELSE 0 END AS BIGINT) AS _sluice_changed_0`,
    );
    const flags = steps.find((s) => s.plansNext)!;
    expect(flags.sql).toContain("(bit_or(_sluice_changed_0) & 2) <> 0 AS c1");
    // New rows (no rowid) are neither saved nor counted as changed.
    expect(flags.sql).toContain("WHERE _sluice_rowid IS NOT NULL AND (_sluice_changed_0 <> 0)");
    const [update] = flags.plansNext!({ c0: false, c1: true });
    expect(update!.sql).toMatch(
      /^UPDATE "orders" AS t SET "qty" = s\."qty", "_sluice_run_id" = s\."_sluice_run_id" FROM /,
    );
    // No changed row (bit_or of nothing is NULL): no update.
    expect(flags.plansNext!({ c0: null, c1: null })).toEqual([]);
    expect(steps.map((s) => s.counts)).toEqual(["none", "none", "updated", "none", "upserted", "none"]);
  });

  it("delete_insert matches partitions NULL-safely; scd2 closes and opens versions; undo reverses a load", () => {
    const di = writeSteps({ ...base, mode: "delete_insert", partitionBy: ["day"] });
    expect(di.map((s) => s.counts)).toEqual(["saved", "deleted", "inserted"]);
    expect(di[1]!.sql).toContain(`p."day" IS NOT DISTINCT FROM t."day"`);
    const scd2 = writeSteps({ ...base, mode: "scd2", closeDeleted: true, track: ["name"] });
    expect(scd2.some((s) => s.sql.startsWith("UPDATE") && s.sql.includes("is_current = false"))).toBe(true);
    expect(scd2.some((s) => s.sql.includes("'deleted'"))).toBe(true);
    const undo = undoSteps('"t"', '"sluice"."u"', "r9", ["id"]);
    expect(undo.map((s) => s.sql)).toEqual([
      `DELETE FROM "t" WHERE _sluice_run_id = 'r9'`,
      `INSERT INTO "t" ("id") SELECT "id" FROM "sluice"."u" WHERE _sluice_undo_run = 'r9'`,
      `DELETE FROM "sluice"."u" WHERE _sluice_undo_run = 'r9'`,
    ]);
  });

  it("cdc keeps the latest event per key and skips stale ones", () => {
    const sql = cdcFlattenSql(
      "(x)",
      [
        { name: "op", type: "VARCHAR" },
        { name: "after", type: "JSON" },
      ],
      { keys: ["id"] },
      '{"id":"BIGINT"}',
    );
    expect(sql).toContain(`QUALIFY row_number() OVER (PARTITION BY "id" ORDER BY _sluice_cdc_position DESC`);
    const steps = writeSteps({ ...base, mode: "cdc", columns: ["id", "_sluice_op", "_sluice_cdc_position"] });
    expect(steps[1]!.sql).toContain("s._sluice_cdc_position > t._sluice_cdc_position");
  });
});

describe("payloadStructure", () => {
  it("keeps scalar fields' types and leaves objects, arrays and all-null fields as JSON", () => {
    const structure = payloadStructure(
      '{"op":"VARCHAR","before":"NULL","after":{"id":"UBIGINT"},"ts_ms":"UBIGINT","source":{"lsn":"UBIGINT"},"tags":["VARCHAR"]}',
    );
    expect(JSON.parse(structure!)).toEqual({
      op: "VARCHAR",
      before: "JSON",
      after: "JSON",
      ts_ms: "UBIGINT",
      source: "JSON",
      tags: "JSON",
    });
  });

  it("is undefined when the payloads are not objects", () => {
    expect(payloadStructure("null")).toBeUndefined();
    expect(payloadStructure('"VARCHAR"')).toBeUndefined();
    expect(payloadStructure("{}")).toBeUndefined();
  });
});

describe("schema evolution and types", () => {
  it("classifies widenings, fits and incompatible changes", () => {
    expect(typeChange("integer", "BIGINT")).toMatchObject({ kind: "widen" });
    expect(typeChange("INTEGER", "DOUBLE")).toMatchObject({ kind: "widen", to: { family: "float" } });
    expect(typeChange("character varying(10)", "VARCHAR")).toMatchObject({ kind: "widen" });
    expect(typeChange("date", "TIMESTAMP")).toMatchObject({ kind: "widen" });
    expect(typeChange("bigint", "INTEGER")).toEqual({ kind: "fits" });
    expect(typeChange("numeric(12,2)", "VARCHAR")).toEqual({ kind: "check" });
    expect(typeChange("text", "INTEGER")).toEqual({ kind: "incompatible" });
    expect(postgresDialect.ddlType("DOUBLE")).toBe("double precision");
    expect(postgresDialect.ddlType("STRUCT(a INTEGER)")).toBe("jsonb");
  });

  it("plans per policy", () => {
    const existing = [{ name: "id", type: "integer" }];
    const incoming = [
      { name: "id", type: "BIGINT" },
      { name: "x", type: "VARCHAR" },
    ];
    expect(planSchema("t", existing, incoming, "evolve", postgresDialect)).toMatchObject({
      add: [{ name: "x", type: "text" }],
      widen: [{ name: "id", type: "bigint" }],
    });
    expect(planSchema("t", existing, incoming, "freeze", postgresDialect).errors.join()).toMatch(
      /"x".*freeze/,
    );
    expect(planSchema("t", existing, incoming.slice(1), "discard_columns", postgresDialect).discard).toEqual([
      "x",
    ]);
  });

  it("incremental filters subtract the lag from time cursors only", () => {
    expect(incrementalFilter("ts", "TIMESTAMP", "2026-01-01 12:00:00", 3_600_000)).toBe(
      `"ts" > CAST('2026-01-01 12:00:00' AS TIMESTAMP) - INTERVAL (3600000) MILLISECOND`,
    );
    expect(incrementalFilter("n", "BIGINT", "5", 3_600_000)).toBe(`"n" > CAST('5' AS BIGINT)`);
    expect(incrementalFilter("n", "BIGINT", null, 0)).toBeUndefined();
  });
});

describe("postgres URLs", () => {
  it("parses encoded and unencoded special characters and never labels with the password", () => {
    const a = parsePostgresUrl(
      "postgres://us%40er:p%40ss%2Fw@db.example:5433/my%20db?sslmode=require&pool_max=8",
    );
    expect(a.config).toMatchObject({
      user: "us@er",
      password: "p@ss/w",
      host: "db.example",
      port: 5433,
      database: "my db",
      max: 8,
    });
    expect(a.config.ssl).toEqual({ rejectUnauthorized: false });
    expect(a.label).toBe("us@er@db.example:5433/my db");
    const b = parsePostgresUrl("postgresql://u:pa@ss:w/rd@[::1]/db");
    expect(b.config).toMatchObject({
      user: "u",
      password: "pa@ss:w/rd",
      host: "::1",
      port: 5432,
      database: "db",
    });
    expect(scrub("bad pa@ss:w/rd here", b.secret)).toBe("bad *** here");
  });
});
